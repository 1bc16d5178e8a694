"""The reference pages of the docs site, generated from the code so that they cannot drift.

A docs page holds a marker, ``<!-- floe-reference: NAME -->`` on a line of its own, and the docs
build (``docs/hooks.py``, a MkDocs hook) puts the generated Markdown in its place:

* ``cli``: every ``floe`` command with its usage, help text, arguments and options (flags,
  type, default, help), read from the click definitions that ``floe --help`` prints;
* ``defs-yaml``: every attribute of the ``FloeDbtProject`` component (``defs.yaml``'s
  ``attributes``), with its type, default and description, nested settings each in a table
  of their own, read from the component's pydantic model;
* ``contract``: every field of the CompiledArtifacts contract, by its dotted path, with type,
  whether it is required, and description, read from the JSON Schema ``floe schema`` prints;
* ``exit-codes``: the exit codes, as ``floe --help`` lists them.

Values are escaped for Markdown tables (a ``|`` in a help text cannot open a column).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, get_args, get_origin

import click
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

__all__ = ["MARKER", "REFERENCES", "expand"]

#: A generated section's place in a page: ``<!-- floe-reference: cli -->``.
MARKER = re.compile(r"^<!-- floe-reference: ([a-z-]+) -->$", re.MULTILINE)


def _cell(text: object) -> str:
    """``text`` for one Markdown table cell: one line, ``|`` escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _code(text: object) -> str:
    """``text`` as inline code in a table cell (a backtick inside gets a longer fence)."""
    value = " ".join(str(text).split()).replace("|", "\\|")
    fence = "``" if "`" in value else "`"
    return f"{fence}{value}{fence}" if value else ""


# -- the command line -----------------------------------------------------------------------------


def cli_reference() -> str:
    """Every ``floe`` command: usage, help, arguments and options."""
    from floe_scaffold._cli import cli as main

    lines: list[str] = []
    context = click.Context(main, info_name="floe")
    for name in sorted(main.list_commands(context)):
        command = main.get_command(context, name)
        if command is None or command.hidden:
            continue
        sub = click.Context(command, info_name=name, parent=context)
        lines += [f"### `floe {name}`", "", "```text", command.get_usage(sub), "```", ""]
        lines += [_help_text(command.help or ""), ""]
        rows = [_param_row(param, sub) for param in _params(command, sub)]
        lines += ["| argument or option | type | default | what it does |", "|---|---|---|---|"]
        lines += rows
        lines.append("")
    return "\n".join(lines)


def _help_text(text: str) -> str:
    """Click's help text as Markdown: its verbatim blocks (kept as written) become code blocks."""
    blocks = []
    for block in text.strip().split("\n\n"):
        if block.startswith("\b"):
            blocks.append("```text\n" + block.lstrip("\b\n") + "\n```")
        else:
            blocks.append(" ".join(block.split()))
    return "\n\n".join(blocks)


def _param_row(param: click.Parameter, context: click.Context) -> str:
    names = ", ".join(_code(opt) for opt in [*param.opts, *param.secondary_opts])
    if isinstance(param, click.Argument):
        names = _code(param.human_readable_name)
    kind = "flag" if getattr(param, "is_flag", False) else param.type.name.lower()
    default = param.get_default(context) if not getattr(param, "is_flag", False) else None
    help_text = getattr(param, "help", None) or ""
    if param.required:
        help_text = f"required. {help_text}".strip()
    unset = default is None or type(default).__name__ == "Sentinel" or callable(default)
    shown = "" if unset or default in ((), "") else _code(default)
    return f"| {names} | {_cell(kind)} | {shown} | {_cell(help_text)} |"


def _params(command: click.Command, context: click.Context) -> list[click.Parameter]:
    """A command's arguments and options, less hidden ones and ``--help`` (every command's)."""
    help_option = command.get_help_option(context)
    return [
        param
        for param in command.get_params(context)
        if param is not help_option and not (isinstance(param, click.Option) and param.hidden)
    ]


def cli_options() -> dict[str, set[str]]:
    """Every command's option spellings (``--select``, ``-s``…) and argument names."""
    from floe_scaffold._cli import cli as main

    found: dict[str, set[str]] = {}
    context = click.Context(main, info_name="floe")
    for name in main.list_commands(context):
        command = main.get_command(context, name)
        if command is None or command.hidden:
            continue
        sub = click.Context(command, info_name=name, parent=context)
        spellings: set[str] = set()
        for param in _params(command, sub):
            if isinstance(param, click.Argument):
                spellings.add(param.human_readable_name)
            else:
                spellings.update([*param.opts, *param.secondary_opts])
        found[name] = spellings
    return found


# -- defs.yaml ------------------------------------------------------------------------------------


def component_reference() -> str:
    """``FloeDbtProject``'s attributes, then each nested settings model's."""
    from floe_scaffold.components import FloeDbtProject

    lines = [
        "The attributes of `type: floe_scaffold.components.FloeDbtProject` in "
        "`src/<package>/defs/dbt_project/defs.yaml`; every one is optional.",
        "",
    ]
    lines += _model_table(FloeDbtProject)
    for path, model in _nested_models(FloeDbtProject, "attributes"):
        lines += [f"### `{path}`", "", _cell(model.__doc__ or ""), ""]
        lines += _model_table(model)
    return "\n".join(lines)


def component_attributes() -> dict[str, set[str]]:
    """Each documented model's field names, by its path (``attributes``, ``attributes.lineage``)."""
    from floe_scaffold.components import FloeDbtProject

    found = {"attributes": set(FloeDbtProject.model_fields)}
    for path, model in _nested_models(FloeDbtProject, "attributes"):
        found[path] = set(model.model_fields)
    return found


def _nested_models(model: type[BaseModel], path: str) -> Iterator[tuple[str, type[BaseModel]]]:
    seen: set[type[BaseModel]] = set()
    for name, field in model.model_fields.items():
        for inner in _models_in(field.annotation):
            if inner in seen:
                continue
            seen.add(inner)
            inner_path = f"{path}.{name}" + ("[]" if _is_list(field.annotation) else "")
            yield inner_path, inner
            yield from _nested_models(inner, inner_path)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [found for arg in get_args(annotation) for found in _models_in(arg)]


def _is_list(annotation: Any) -> bool:
    if get_origin(annotation) is list:
        return True
    return any(_is_list(arg) for arg in get_args(annotation))


def _model_table(model: type[BaseModel]) -> list[str]:
    rows = ["| attribute | type | default | what it does |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if field.default_factory is not None:
            factory: Callable[[], Any] = field.default_factory  # type: ignore[assignment]
            default = _default_text(factory())
        elif field.default is PydanticUndefined:
            default = "required"
        else:
            default = _default_text(field.default)
        rows.append(
            f"| {_code(name)} | {_code(_type_name(field.annotation))} | {default} "
            f"| {_cell(field.description or '')} |"
        )
    return [*rows, ""]


def _default_text(value: Any) -> str:
    if isinstance(value, BaseModel):
        return "see below" if type(value).model_fields else ""
    if value is None:
        return "`null`"
    return _code(json.dumps(value))


def _type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if isinstance(annotation, type) and origin is None:
        return annotation.__name__
    if origin is None:
        return str(annotation).replace("typing.", "")
    if str(origin) == "typing.Literal":
        return " or ".join(json.dumps(arg) for arg in args)
    if args and type(None) in args:
        inner = [arg for arg in args if arg is not type(None)]
        return " or ".join(_type_name(arg) for arg in inner) + " or null"
    name = getattr(origin, "__name__", str(origin))
    return f"{name}[{', '.join(_type_name(arg) for arg in args)}]"


# -- the contract ---------------------------------------------------------------------------------


def contract_reference() -> str:
    """Every field of the CompiledArtifacts contract by dotted path (``[]``: an array's items)."""
    from floe_scaffold.contract import contract_json_schema

    schema = contract_json_schema()
    rows = ["| field | type | required | what it is |", "|---|---|---|---|"]
    for path, node, required in _schema_fields(schema, schema, ""):
        rows.append(
            f"| {_code(path)} | {_cell(_schema_type(node, schema))} | "
            f"{'yes' if required else ''} | {_cell(node.get('description') or '')} |"
        )
    return "\n".join(
        [
            "Generated from the JSON Schema that `floe schema` prints (Draft 2020-12); "
            "a path ending in `[]` is an array's item, `{}` a map's value.",
            "",
            *rows,
            "",
        ]
    )


def contract_fields() -> set[str]:
    """The dotted path of every contract field the reference lists."""
    from floe_scaffold.contract import contract_json_schema

    schema = contract_json_schema()
    return {path for path, _, _ in _schema_fields(schema, schema, "")}


def _resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    seen = 0
    while "$ref" in node and seen < 20:
        target = str(node["$ref"]).removeprefix("#/$defs/")
        node = {**root["$defs"][target], **{k: v for k, v in node.items() if k != "$ref"}}
        seen += 1
    return node


def _schema_fields(
    node: Mapping[str, Any], root: Mapping[str, Any], prefix: str, depth: int = 0
) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    node = _resolve(node, root)
    if depth > 8:
        return
    required = set(node.get("required") or ())
    for name, child in (node.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else name
        resolved = _resolve(child, root)
        yield path, resolved, name in required
        yield from _children(resolved, root, path, depth + 1)


def _children(
    node: Mapping[str, Any], root: Mapping[str, Any], path: str, depth: int
) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    """The fields under ``node``: its own, an array's items' (``[]``), a map's values' (``{}``)."""
    if depth > 8:
        return
    for option in [node, *(_resolve(one, root) for one in node.get("anyOf") or ())]:
        if option.get("properties"):
            yield from _schema_fields(option, root, path, depth)
        items = option.get("items")
        if isinstance(items, Mapping):
            yield from _children(_resolve(items, root), root, f"{path}[]", depth + 1)
        values = option.get("additionalProperties")
        if isinstance(values, Mapping):
            yield from _children(_resolve(values, root), root, f"{path}{{}}", depth + 1)


def _schema_type(node: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return " or ".join(json.dumps(value) for value in node["enum"])
    options = node.get("anyOf") or node.get("oneOf")
    if options:
        return " or ".join(_schema_type(_resolve(one, root), root) for one in options)
    kind = node.get("type")
    if kind == "array":
        items = node.get("items")
        inner = _schema_type(_resolve(items, root), root) if isinstance(items, Mapping) else "any"
        return f"array of {inner}"
    if kind == "object" or node.get("properties"):
        values = node.get("additionalProperties")
        if isinstance(values, Mapping) and not node.get("properties"):
            return f"map of {_schema_type(_resolve(values, root), root)}"
        return str(node.get("title") or "object")
    if kind:
        detail = node.get("format")
        return f"{kind} ({detail})" if detail else str(kind)
    return "any"


# -- exit codes -----------------------------------------------------------------------------------


def exit_codes_reference() -> str:
    """The exit codes ``floe --help`` lists, as a table."""
    from floe_scaffold._cli import EXIT_CODES_HELP

    rows = ["| exit code | meaning |", "|---|---|"]
    code, meaning = "", list[str]()
    for line in EXIT_CODES_HELP.splitlines()[2:]:
        found = re.match(r"^  (\d+)  (.*)$", line)
        if found:
            if code:
                rows.append(f"| `{code}` | {_cell(' '.join(meaning))} |")
            code, meaning = found.group(1), [found.group(2)]
        else:
            meaning.append(line.strip())
    if code:
        rows.append(f"| `{code}` | {_cell(' '.join(meaning))} |")
    return "\n".join([*rows, ""])


#: The generated sections, by the name their marker gives.
REFERENCES: dict[str, Callable[[], str]] = {
    "cli": cli_reference,
    "defs-yaml": component_reference,
    "contract": contract_reference,
    "exit-codes": exit_codes_reference,
}


def expand(markdown: str) -> str:
    """``markdown`` with every reference marker replaced by its generated section.

    An unknown name raises ``KeyError`` naming it, so a typo fails the (strict) docs build.
    """

    def generated(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in REFERENCES:
            raise KeyError(f"unknown floe reference {name!r}; known: {', '.join(REFERENCES)}")
        return REFERENCES[name]()

    return MARKER.sub(generated, markdown)
