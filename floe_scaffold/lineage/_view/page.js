"use strict";
// floe lineage page: draws the graph from the inline JSON (positions computed by igraph when the
// page was written), then search, zoom/pan, the run picker and the details panel. Nothing is
// fetched: the page works from a file, offline.
(function () {
  const started = performance.now();
  const SVG = "http://www.w3.org/2000/svg";
  const data = JSON.parse(document.getElementById("floe-data").textContent);
  const svg = document.getElementById("graph");
  const viewport = document.getElementById("viewport");
  const nodeLayer = document.getElementById("nodes");
  const edgeLayer = document.getElementById("edges");
  const details = document.getElementById("details");
  const W = 190, H = 30;
  const nodes = data.nodes;
  const elements = new Array(nodes.length);
  const edgeElements = [];
  const incident = nodes.map(() => []);
  let selected = -1;
  let current = null; // the picked run, or null for the latest state of every job
  let column = null; // the selected column: { node, name }, or null

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const key in attrs) node.setAttribute(key, attrs[key]);
    if (parent) parent.appendChild(node);
    return node;
  }
  function html(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function label(node) {
    if (node.k === "dataset") return node.n.split(".").pop();
    // dbt-ol job names: <database>.<schema>.<project>.<node>[.build].<run|test|seed|snapshot>
    const suffix = /\.(build\.)?(run|test|seed|snapshot)$/.exec(node.n);
    const base = suffix ? node.n.slice(0, suffix.index) : node.n;
    let name = base.split(".").pop() || node.n;
    if (node.t === "TEST") name += suffix && suffix[2] === "test" ? " \u00b7 tests" : " \u00b7 test";
    return name;
  }
  function fit(text, width) {
    const max = Math.floor(width / 7);
    return text.length > max ? text.slice(0, max - 1) + "\u2026" : text;
  }
  function seconds(value) {
    if (value === null || value === undefined) return "";
    return value < 60 ? value.toFixed(2) + " s" : (value / 60).toFixed(1) + " min";
  }

  // -- drawing ---------------------------------------------------------------------------------
  const edgeFragment = document.createDocumentFragment();
  data.edges.forEach(function (edge, position) {
    const a = nodes[edge[0]], b = nodes[edge[1]];
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
    const bend = Math.max(40, (x2 - x1) / 2);
    const path = el("path", {
      class: "edge",
      d: "M" + x1 + "," + y1 + " C" + (x1 + bend) + "," + y1 + " " + (x2 - bend) + "," + y2 + " " + x2 + "," + y2,
      "data-from": a.ns + "/" + a.n,
      "data-to": b.ns + "/" + b.n,
      "data-from-kind": a.k,
      "data-to-kind": b.k,
    }, edgeFragment);
    edgeElements.push(path);
    incident[edge[0]].push(position);
    incident[edge[1]].push(position);
  });
  edgeLayer.appendChild(edgeFragment);

  const nodeFragment = document.createDocumentFragment();
  nodes.forEach(function (node, index) {
    const pii = node.k === "dataset" && node.c.some(function (c) { return c[5]; });
    const classified = node.k === "dataset" && node.c.some(function (c) { return c[2]; });
    const g = el("g", {
      class: "node " + node.k + (pii ? " pii" : "") + (classified ? " classified" : ""),
      transform: "translate(" + node.x + "," + node.y + ")",
      "data-index": index,
      "data-kind": node.k,
      "data-key": node.ns + "/" + node.n,
    }, nodeFragment);
    el("rect", { width: W, height: H }, g);
    const text = el("text", { x: 8, y: 19 }, g);
    text.textContent = fit(label(node), pii || classified ? W - 44 : W - 12);
    if (classified) {
      el("rect", { class: "badge-bg", x: W - 34, y: 7, width: 28, height: 16, rx: 3 }, g);
      el("text", { class: "badge", x: W - 31, y: 19 }, g).textContent = pii ? "PII" : "CLS";
    }
    el("title", {}, g);
    elements[index] = g;
  });
  nodeLayer.appendChild(nodeFragment);

  // -- states: the latest of every job, or one run's ------------------------------------------
  function runOf(index) {
    const node = nodes[index];
    if (node.k !== "job") return null;
    if (current === null) return node.r ? { state: node.r[0], sec: node.r[1], err: node.r[2], id: node.r[3], started: node.r[4], parent: node.r[5], root: node.r[6] } : null;
    const row = current.byNode[index];
    if (!row) return null;
    return { state: row[1], sec: row[2], err: row[3], id: row[4], started: row[5], parent: [current.id, current.job[0], current.job[1]], root: current.parent };
  }
  function paint() {
    nodes.forEach(function (node, index) {
      const g = elements[index];
      const run = runOf(index);
      const lines = [node.ns + "/" + node.n];
      if (node.k === "job") {
        const state = run ? run.state : "none";
        g.setAttribute("data-state", state);
        lines.push(run ? state + (run.sec !== null ? " in " + seconds(run.sec) : "") : "not in this run");
        if (run && run.err >= 0) {
          g.setAttribute("data-error", data.errors[run.err]);
          lines.push(data.errors[run.err]);
        } else {
          g.removeAttribute("data-error");
        }
      } else if (node.c.length) {
        const marked = node.c.filter(function (c) { return c[2]; }).map(function (c) { return c[0] + " (" + c[2] + ")"; });
        if (marked.length) lines.push("classified: " + marked.join(", "));
      }
      g.lastChild.textContent = lines.join("\n");
    });
    if (selected >= 0) show(selected);
  }

  // -- run picker ------------------------------------------------------------------------------
  const picker = document.getElementById("runs");
  data.runs.forEach(function (run, position) {
    const option = html("option", (run.started || "?").replace("T", " ").slice(0, 19) + "  " + run.job[1] + "  " + run.state + (run.seconds !== null ? " (" + seconds(run.seconds) + ")" : "") + "  " + run.nodes.length + " nodes");
    option.value = String(position);
    picker.appendChild(option);
  });
  picker.addEventListener("change", function () {
    if (picker.value === "") {
      current = null;
    } else {
      const run = data.runs[Number(picker.value)];
      run.byNode = run.byNode || run.nodes.reduce(function (map, row) { map[row[0]] = row; return map; }, {});
      current = run;
    }
    paint();
  });

  // -- details ---------------------------------------------------------------------------------
  function row(table, name, value) {
    const tr = html("tr");
    tr.appendChild(html("th", name));
    const td = html("td");
    if (value instanceof Node) td.appendChild(value); else td.textContent = value === null || value === undefined ? "" : String(value);
    tr.appendChild(td);
    table.appendChild(tr);
  }
  function neighbours(index, side) {
    const found = [];
    incident[index].forEach(function (position) {
      const edge = data.edges[position];
      if (side === "in" && edge[1] === index) found.push(edge[0]);
      if (side === "out" && edge[0] === index) found.push(edge[1]);
    });
    return found;
  }
  function nodeList(indexes) {
    const list = html("ul");
    indexes.forEach(function (other) {
      const item = html("li");
      const link = html("a", nodes[other].n);
      link.href = "#";
      link.addEventListener("click", function (event) { event.preventDefault(); select(other, true); });
      item.appendChild(link);
      list.appendChild(item);
    });
    return list;
  }
  function show(index) {
    const node = nodes[index];
    details.replaceChildren();
    details.setAttribute("data-key", node.ns + "/" + node.n);
    details.appendChild(html("h2", node.n));
    const table = html("table");
    row(table, "kind", node.k === "job" ? "job" + (node.t ? " (" + node.t.toLowerCase() + ")" : "") : "dataset");
    row(table, "namespace", node.ns);
    details.appendChild(table);
    if (node.k === "job") {
      const run = runOf(index);
      const state = html("span", run ? run.state : "not in this run", "state " + (run ? run.state : ""));
      row(table, "state", state);
      if (run) {
        row(table, "duration", seconds(run.sec));
        if (run.started) row(table, "started", run.started);
        row(table, "run", run.id);
        if (current === null && node.h > 1) row(table, "runs in the log", node.h);
        if (run.err >= 0) {
          details.appendChild(html("h3", "error"));
          const pre = html("pre", data.errors[run.err], "error-message");
          details.appendChild(pre);
        }
        details.appendChild(html("h3", "parent chain"));
        const chain = html("ol", null, "chain");
        [run.root, run.parent].forEach(function (ref) {
          if (ref) chain.appendChild(html("li", ref[1] + "/" + ref[2] + "  run " + ref[0]));
        });
        chain.appendChild(html("li", node.n + "  run " + run.id));
        details.appendChild(chain);
      }
    } else {
      details.appendChild(html("h3", "columns"));
      if (!node.c.length) details.appendChild(html("p", "no schema in the events", "hint"));
      else {
        const columns = html("table", null, "columns");
        const head = html("tr");
        ["column", "type", "classification"].forEach(function (name) { head.appendChild(html("th", name)); });
        columns.appendChild(head);
        node.c.forEach(function (c) {
          const tr = html("tr");
          tr.setAttribute("data-column", c[0]);
          const name = html("td");
          if (c[6] || readersOf(index, c[0]).length) {
            const link = html("a", c[0], "col");
            link.href = "#";
            link.title = "trace this column upstream and downstream";
            link.addEventListener("click", function (event) { event.preventDefault(); selectColumn(index, c[0], false); });
            name.appendChild(link);
          } else {
            name.textContent = c[0];
          }
          if (column && column.node === index && column.name === c[0]) tr.className = "col-selected";
          tr.appendChild(name);
          tr.appendChild(html("td", c[1] || ""));
          const cell = html("td");
          if (c[2]) {
            tr.setAttribute("data-classification", c[2]);
            if (c[5]) tr.setAttribute("data-pii", "true");
            const badge = html("span", c[5] ? "PII" + (c[4] ? ": " + c[4] : "") : c[2], "cls" + (c[5] ? " pii" : ""));
            cell.appendChild(badge);
            if (c[5] && c[2].toLowerCase() !== "pii") cell.appendChild(document.createTextNode(" " + c[2]));
            if (c[3]) cell.appendChild(document.createTextNode(" (" + c[3] + ")"));
          }
          tr.appendChild(cell);
          columns.appendChild(tr);
        });
        details.appendChild(columns);
      }
      if (column && column.node === index) showColumn(column);
    }
    details.appendChild(html("h3", node.k === "job" ? "inputs" : "produced by"));
    details.appendChild(nodeList(neighbours(index, "in")));
    details.appendChild(html("h3", node.k === "job" ? "outputs" : "read by"));
    details.appendChild(nodeList(neighbours(index, "out")));
  }
  // -- column lineage -------------------------------------------------------------------------
  function columnRow(index, name) {
    const node = nodes[index];
    if (node.k !== "dataset") return null;
    node.byColumn = node.byColumn || node.c.reduce(function (map, c) { map[c[0]] = c; return map; }, {});
    return node.byColumn[name] || null;
  }
  let readers = null; // "node\u0000column" -> [[node, column, subtype]]: who reads each column
  function readersOf(index, name) {
    if (readers === null) {
      readers = new Map();
      nodes.forEach(function (node, at) {
        if (node.k !== "dataset") return;
        node.c.forEach(function (c) {
          (c[6] || []).forEach(function (input) {
            if (input[0] < 0) return;
            const key = input[0] + "\u0000" + input[1];
            if (!readers.has(key)) readers.set(key, []);
            readers.get(key).push([at, c[0], input[2]]);
          });
        });
      });
    }
    return readers.get(index + "\u0000" + name) || [];
  }
  // Every column upstream (inputs, then theirs...) or downstream of one, nearest first.
  function columnClosure(index, name, upstream) {
    const found = [], seen = new Set([index + "\u0000" + name]);
    const queue = [[index, name]];
    while (queue.length) {
      const at = queue.shift();
      const next = upstream ? ((columnRow(at[0], at[1]) || [])[6] || []) : readersOf(at[0], at[1]);
      next.forEach(function (item) {
        const key = item[0] < 0 ? item[3] + "\u0000" + item[1] : item[0] + "\u0000" + item[1];
        if (seen.has(key)) return;
        seen.add(key);
        found.push(item);
        if (item[0] >= 0) queue.push([item[0], item[1]]);
      });
    }
    return found;
  }
  function columnList(items, cls) {
    const list = html("ul", null, cls);
    if (!items.length) list.appendChild(html("li", "none", "hint"));
    items.forEach(function (item) {
      const li = html("li");
      const where = item[0] < 0 ? item[3] : nodes[item[0]].ns + "/" + nodes[item[0]].n;
      li.setAttribute("data-ref", where + "#" + item[1]);
      const text = (item[0] < 0 ? item[3].split("/").pop() : nodes[item[0]].n) + "." + item[1];
      if (item[0] >= 0 && columnRow(item[0], item[1])) {
        const link = html("a", text);
        link.href = "#";
        link.addEventListener("click", function (event) { event.preventDefault(); selectColumn(item[0], item[1], true); });
        li.appendChild(link);
      } else {
        li.appendChild(document.createTextNode(text));
      }
      li.appendChild(html("span", " " + data.subtypes[item[2]], "subtype"));
      list.appendChild(li);
    });
    return list;
  }
  function showColumn(chosen) {
    details.setAttribute("data-column", chosen.name);
    details.appendChild(html("h3", "column " + chosen.name + ": upstream"));
    const direct = (columnRow(chosen.node, chosen.name) || [])[6];
    if (direct && !direct.length) details.appendChild(html("p", "made from no column (a literal, count(*), ...)", "hint"));
    details.appendChild(columnList(columnClosure(chosen.node, chosen.name, true), "col-up"));
    details.appendChild(html("h3", "column " + chosen.name + ": downstream"));
    details.appendChild(columnList(columnClosure(chosen.node, chosen.name, false), "col-down"));
  }
  function selectColumn(index, name, center) {
    column = { node: index, name: name };
    select(index, center, true);
  }
  function columnLineageNodes() {
    const keep = new Set([column.node]);
    columnClosure(column.node, column.name, true).concat(columnClosure(column.node, column.name, false))
      .forEach(function (item) { if (item[0] >= 0) keep.add(item[0]); });
    // The jobs between two kept datasets, and the edges between kept nodes.
    const jobs = new Set();
    keep.forEach(function (at) {
      neighbours(at, "out").forEach(function (job) {
        if (neighbours(job, "out").some(function (out) { return keep.has(out); })) jobs.add(job);
      });
    });
    jobs.forEach(function (job) { keep.add(job); });
    const edges = new Set();
    data.edges.forEach(function (edge, position) { if (keep.has(edge[0]) && keep.has(edge[1])) edges.add(position); });
    return { nodes: keep, edges: edges };
  }

  // Everything upstream and downstream of a node (its lineage), as node and edge positions.
  function lineageOf(index) {
    const seenNodes = new Set([index]), seenEdges = new Set();
    [0, 1].forEach(function (side) { // 0: walk upstream, 1: downstream
      const queue = [index];
      const seen = new Set([index]);
      while (queue.length) {
        const at = queue.pop();
        incident[at].forEach(function (position) {
          const edge = data.edges[position];
          if (edge[side === 0 ? 1 : 0] !== at) return;
          const next = edge[side === 0 ? 0 : 1];
          seenEdges.add(position);
          if (!seen.has(next)) { seen.add(next); seenNodes.add(next); queue.push(next); }
        });
      }
    });
    return { nodes: seenNodes, edges: seenEdges };
  }
  const trace = document.getElementById("trace");
  function fade() {
    const on = trace.checked && selected >= 0;
    const keep = on ? (column ? columnLineageNodes() : lineageOf(selected)) : null;
    elements.forEach(function (g, index) { g.classList.toggle("faded", on && !keep.nodes.has(index)); });
    edgeElements.forEach(function (e, position) { e.classList.toggle("faded", on && !keep.edges.has(position)); });
  }
  trace.addEventListener("change", fade);
  function select(index, center, keepColumn) {
    if (!keepColumn) column = null;
    details.removeAttribute("data-column");
    if (selected >= 0) {
      elements[selected].classList.remove("selected");
      incident[selected].forEach(function (position) { edgeElements[position].classList.remove("hl"); });
    }
    selected = index;
    elements[index].classList.add("selected");
    incident[index].forEach(function (position) { edgeElements[position].classList.add("hl"); });
    show(index);
    fade();
    if (center) centerOn(index);
  }

  // -- zoom and pan ----------------------------------------------------------------------------
  let view = { x: 0, y: 0, k: 1 };
  function apply() {
    viewport.setAttribute("transform", "translate(" + view.x + "," + view.y + ") scale(" + view.k + ")");
    svg.classList.toggle("far", view.k < 0.45);
  }
  function bounds() {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    nodes.forEach(function (n) { x0 = Math.min(x0, n.x); y0 = Math.min(y0, n.y); x1 = Math.max(x1, n.x + W); y1 = Math.max(y1, n.y + H); });
    return nodes.length ? { x0: x0, y0: y0, x1: x1, y1: y1 } : { x0: 0, y0: 0, x1: W, y1: H };
  }
  function fitAll() {
    const box = bounds(), rect = svg.getBoundingClientRect();
    const k = Math.min(1.2, Math.max(0.02, Math.min((rect.width - 40) / (box.x1 - box.x0), (rect.height - 40) / (box.y1 - box.y0))));
    view = { k: k, x: 20 - box.x0 * k + Math.max(0, (rect.width - 40 - (box.x1 - box.x0) * k) / 2), y: 20 - box.y0 * k };
    apply();
  }
  function centerOn(index) {
    const rect = svg.getBoundingClientRect(), node = nodes[index];
    view.k = Math.max(view.k, 0.8);
    view.x = rect.width / 2 - (node.x + W / 2) * view.k;
    view.y = rect.height / 2 - (node.y + H / 2) * view.k;
    apply();
  }
  function zoom(factor, cx, cy) {
    const k = Math.min(4, Math.max(0.02, view.k * factor));
    view.x = cx - (cx - view.x) * (k / view.k);
    view.y = cy - (cy - view.y) * (k / view.k);
    view.k = k;
    apply();
  }
  svg.addEventListener("wheel", function (event) {
    event.preventDefault();
    const rect = svg.getBoundingClientRect();
    zoom(Math.exp(-event.deltaY * 0.0015), event.clientX - rect.left, event.clientY - rect.top);
  }, { passive: false });
  let drag = null;
  svg.addEventListener("mousedown", function (event) {
    drag = { x: event.clientX, y: event.clientY, vx: view.x, vy: view.y, moved: false };
    svg.classList.add("panning");
  });
  window.addEventListener("mousemove", function (event) {
    if (!drag) return;
    const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    view.x = drag.vx + dx;
    view.y = drag.vy + dy;
    apply();
  });
  window.addEventListener("mouseup", function (event) {
    svg.classList.remove("panning");
    const moved = drag && drag.moved;
    drag = null;
    if (moved) return;
    const target = event.target.closest && event.target.closest(".node");
    if (target) select(Number(target.getAttribute("data-index")), false);
  });
  document.getElementById("fit").addEventListener("click", fitAll);
  document.getElementById("zoom-in").addEventListener("click", function () { const r = svg.getBoundingClientRect(); zoom(1.4, r.width / 2, r.height / 2); });
  document.getElementById("zoom-out").addEventListener("click", function () { const r = svg.getBoundingClientRect(); zoom(1 / 1.4, r.width / 2, r.height / 2); });

  // -- search ----------------------------------------------------------------------------------
  const search = document.getElementById("search");
  const counter = document.getElementById("matches");
  let matches = [], cursor = -1;
  search.addEventListener("input", function () {
    const query = search.value.trim().toLowerCase();
    matches = [];
    cursor = -1;
    nodes.forEach(function (node, index) {
      const hit = query !== "" && (node.ns + "/" + node.n).toLowerCase().indexOf(query) >= 0;
      if (hit) matches.push(index);
      elements[index].classList.toggle("match", hit);
      elements[index].classList.toggle("dim", query !== "" && !hit);
    });
    edgeElements.forEach(function (edge) { edge.classList.toggle("dim", query !== ""); });
    counter.textContent = query ? matches.length + " found" : "";
  });
  search.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || !matches.length) return;
    cursor = (cursor + 1) % matches.length;
    select(matches[cursor], true);
  });

  function initialView() {
    // The whole graph when its labels stay readable; else readable size at its first layers.
    fitAll();
    if (view.k >= 0.45 || !nodes.length) return;
    const box = bounds();
    view = { k: 0.75, x: 20 - box.x0 * 0.75, y: 20 - box.y0 * 0.75 };
    apply();
  }

  paint();
  initialView();
  const failed = nodes.filter(function (n) { return n.r && n.r[0] === "failed"; }).length;
  document.getElementById("status").textContent =
    nodes.length + " nodes, " + data.edges.length + " edges, " + data.events + " events" +
    (data.skipped ? ", " + data.skipped + " unreadable line(s) skipped" : "") +
    (failed ? ", " + failed + " failed job(s)" : "") + " \u2014 from " + data.source + ", written " + data.generated;
  document.documentElement.setAttribute("data-render-ms", String(Math.round(performance.now() - started)));
  document.documentElement.setAttribute("data-ready", "true");
})();
