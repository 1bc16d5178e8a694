"""OpenLineage test infrastructure: an event validator, a Marquez-like receiver, broken endpoints.

* :class:`OpenLineageValidator` checks a RunEvent against the official JSON Schemas (core + every
  facet file), plus any custom facet schema files passed in.
* :class:`LineageReceiver` is a threaded HTTP server on 127.0.0.1 that answers
  ``POST /api/v1/lineage`` the way Marquez does (201 when valid, 400 + errors when not) and keeps
  what it received.
* :func:`refused_endpoint`, :func:`hanging_endpoint`, :func:`unresolvable_endpoint`,
  :func:`garbage_endpoint` and :func:`slow_drip_endpoint` yield URLs that fail in one specific way.
* The receiver's ``mode`` can also be ``"garbage"``, ``"slow_drip"`` or ``"close"``: the same
  failures as those endpoints (plus a reset before the body is read), with every attempt recorded
  in :attr:`LineageReceiver.hits`.

Everything listens on 127.0.0.1 only, every loop is bounded in count and time, and every thread is a
daemon thread, so a stuck test never keeps the interpreter alive.
"""

from __future__ import annotations

import functools
import gzip
import json
import random
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import TCPServer
from types import TracebackType
from typing import Any, Literal, NamedTuple

from jsonschema import Draft202012Validator, ValidationError
from openlineage.client.transport.http import HttpConfig, HttpTransport
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from tests.helpers import OPENLINEAGE_SPEC_DIR, ROOT

__all__ = [
    "GARBAGE_RESPONSE",
    "LINEAGE_PATH",
    "SLOW_DRIP_RESPONSE",
    "UNRESOLVABLE_URL",
    "EndpointUrl",
    "Hit",
    "LineageReceiver",
    "OpenLineageValidator",
    "ReceiverMode",
    "RejectedEvent",
    "garbage_endpoint",
    "hanging_endpoint",
    "refused_endpoint",
    "slow_drip_endpoint",
    "tuned_http_transport",
    "unresolvable_endpoint",
]

#: Where Marquez (and the openlineage-python ``http`` transport, by default) posts events.
LINEAGE_PATH = "/api/v1/lineage"
LOCALHOST = "127.0.0.1"
_MAX_MESSAGE = 300
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# --------------------------------------------------------------------------------------------------
# Validator
# --------------------------------------------------------------------------------------------------


class OpenLineageValidator:
    """Validates RunEvents against the OpenLineage JSON Schemas, facet by facet.

    1. The event must match ``<core $id>#/$defs/RunEvent`` (Draft 2020-12, formats checked:
       ``date-time`` through rfc3339-validator, ``uuid`` natively; ``uri`` is *not* checked).
    2. Every facet (``run.facets``, ``job.facets``, each input/output ``facets``, ``inputFacets``,
       ``outputFacets``) must carry a ``_schemaURL`` whose document (fragment stripped) is
       registered, its key must be a property the document's root declares, and ``{key: facet}``
       must match that document.

    ``extra_schema_files`` registers more documents (custom facets), each under its own ``$id``.
    """

    def __init__(
        self,
        spec_dir: Path = OPENLINEAGE_SPEC_DIR,
        extra_schema_files: Sequence[Path] = (),
    ) -> None:
        if "date-time" not in Draft202012Validator.FORMAT_CHECKER.checkers:
            msg = "rfc3339-validator is missing: jsonschema would silently accept any date-time"
            raise RuntimeError(msg)
        core_file = spec_dir / "OpenLineage.json"
        files = [core_file, *sorted((spec_dir / "facets").glob("*.json")), *extra_schema_files]
        documents: dict[str, dict[str, Any]] = {}
        origins: dict[str, Path] = {}
        for path in files:
            document = json.loads(path.read_text(encoding="utf-8"))
            schema_id = document.get("$id") if isinstance(document, dict) else None
            if not isinstance(schema_id, str) or not schema_id or "#" in schema_id:
                msg = f"{path}: a schema file needs an absolute `$id` without fragment"
                raise ValueError(msg)
            if schema_id in documents:
                msg = f"{path}: `$id` {schema_id} is already registered by {origins[schema_id]}"
                raise ValueError(msg)
            Draft202012Validator.check_schema(document)
            documents[schema_id] = document
            origins[schema_id] = path
        self.core_id: str = next(iter(documents))  # the core file is loaded first
        self.schema_files: dict[str, Path] = origins
        self._documents = documents
        self.registry: Registry[Any] = Registry().with_resources(
            (schema_id, Resource.from_contents(document, default_specification=DRAFT202012))
            for schema_id, document in documents.items()
        )
        self._event_validator = self._validator({"$ref": f"{self.core_id}#/$defs/RunEvent"})
        self._facet_validators: dict[str, Draft202012Validator] = {}
        self._lock = threading.Lock()

    @property
    def schema_ids(self) -> frozenset[str]:
        """The ``$id`` of every registered document (core, official facets, extra files)."""
        return frozenset(self._documents)

    def facet_keys(self, schema_id: str) -> frozenset[str]:
        """The facet keys that document ``schema_id`` declares at its root (``errorMessage``)."""
        properties = self._documents[schema_id].get("properties")
        return frozenset(properties) if isinstance(properties, dict) else frozenset()

    def errors(self, event: object) -> list[str]:
        """Every problem with ``event`` as ``"<JSON path>: <message>"``; empty when it is valid."""
        if not isinstance(event, dict):
            return [f"$: an event must be a JSON object, not {type(event).__name__}"]
        found = [_describe(error) for error in _leaves(self._event_validator.iter_errors(event))]
        for container, facets in _facet_containers(event):
            for key, facet in facets.items():
                found.extend(self._facet_errors(container, str(key), facet))
        return list(dict.fromkeys(found))  # allOf reports the base facet's errors twice

    def is_valid(self, event: object) -> bool:
        """Whether :meth:`errors` finds nothing."""
        return not self.errors(event)

    def assert_valid(self, event: object) -> None:
        """Raise :class:`AssertionError` listing every error, if there is any."""
        problems = self.errors(event)
        if problems:
            raise AssertionError("invalid OpenLineage event:\n  " + "\n  ".join(problems))

    def _facet_errors(self, container: str, key: str, facet: object) -> list[str]:
        path = _child(container, key)
        if not isinstance(facet, dict) or not isinstance(facet.get("_schemaURL"), str):
            return []  # the core schema already reports a non-object facet or a missing _schemaURL
        url: str = facet["_schemaURL"]
        schema_id, _, fragment = url.partition("#")
        if schema_id not in self._documents:
            return [
                f"{path}: unknown _schemaURL {url!r}: no registered schema has $id {schema_id!r} "
                "(schema drift, or a custom facet whose schema file was not registered)"
            ]
        problems: list[str] = []
        if fragment:
            try:
                self.registry.resolver().lookup(url)
            except Unresolvable:
                problems.append(f"{path}: _schemaURL {url!r} points at nothing in {schema_id}")
        declared = self.facet_keys(schema_id)
        if key not in declared:
            problems.append(
                f"{path}: facet key {key!r} is not declared by {schema_id} "
                f"(it declares {sorted(declared) or 'no facet key'})"
            )
            return problems
        validator = self._facet_validator(schema_id)
        problems.extend(
            _describe(error, prefix=container)
            for error in _leaves(validator.iter_errors({key: facet}))
        )
        return problems

    def _facet_validator(self, schema_id: str) -> Draft202012Validator:
        with self._lock:
            if schema_id not in self._facet_validators:
                self._facet_validators[schema_id] = self._validator({"$ref": schema_id})
            return self._facet_validators[schema_id]

    def _validator(self, schema: Mapping[str, Any]) -> Draft202012Validator:
        return Draft202012Validator(
            schema, registry=self.registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )


def _leaves(errors: Iterable[ValidationError]) -> Iterator[ValidationError]:
    """The innermost errors: an ``anyOf``/``oneOf`` failure is replaced by what failed inside."""
    for error in errors:
        if error.context:
            yield from _leaves(error.context)
        else:
            yield error


def _describe(error: ValidationError, prefix: str = "$") -> str:
    path = prefix + str(error.json_path)[1:]
    message = str(error.message)
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return f"{path}: {message}"


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if _IDENTIFIER.match(key) else f"{path}[{key!r}]"


def _facet_containers(event: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Each facet mapping of a RunEvent, with its JSON path."""
    for section in ("run", "job"):
        part = event.get(section)
        if isinstance(part, dict) and isinstance(part.get("facets"), dict):
            yield f"$.{section}.facets", part["facets"]
    for section, own in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        datasets = event.get(section)
        if not isinstance(datasets, list):
            continue
        for index, dataset in enumerate(datasets):
            if not isinstance(dataset, dict):
                continue
            for name in ("facets", own):
                if isinstance(dataset.get(name), dict):
                    yield f"$.{section}[{index}].{name}", dataset[name]


# --------------------------------------------------------------------------------------------------
# Receiver
# --------------------------------------------------------------------------------------------------

ReceiverMode = Literal["ok", "error500", "garbage", "slow_drip", "close"]
_RECEIVER_MODES: tuple[ReceiverMode, ...] = ("ok", "error500", "garbage", "slow_drip", "close")
#: What ``mode="garbage"`` sends instead of an HTTP answer (never starts with ``HTTP/``).
GARBAGE_RESPONSE = b"\x00" + random.Random(0).randbytes(511)


class Hit(NamedTuple):
    """One HTTP request the receiver answered."""

    method: str
    path: str
    status: int
    at: float  # time.time()


@dataclass(frozen=True)
class RejectedEvent:
    """A ``POST /api/v1/lineage`` answered 400: the body (parsed JSON, or text) and why."""

    body: Any
    errors: tuple[str, ...]
    received_at: float  # time.time()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: LineageReceiver) -> None:
        self.receiver = receiver
        super().__init__((LOCALHOST, 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can hang offline.
        TCPServer.server_bind(self)
        self.server_name = LOCALHOST
        self.server_port = self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # seconds a client may take to send its request
    # HTTP/1.0: one request per connection, so no idle keep-alive thread outlives a test.
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self.server.receiver._dispatch(self)

    def do_POST(self) -> None:
        self.server.receiver._dispatch(self)

    def do_PUT(self) -> None:
        self.server.receiver._dispatch(self)

    def do_DELETE(self) -> None:
        self.server.receiver._dispatch(self)

    def do_PATCH(self) -> None:
        self.server.receiver._dispatch(self)

    def do_HEAD(self) -> None:
        self.server.receiver._dispatch(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: pytest shows stderr of failed tests, and access logs are noise there."""


@functools.cache
def floe_lineage_validator() -> OpenLineageValidator:
    """The official OpenLineage schemas and floe's own facet schemas, made once per process."""
    facets = sorted((ROOT / "floe_scaffold" / "lineage" / "schemas").glob("*.json"))
    return OpenLineageValidator(OPENLINEAGE_SPEC_DIR, extra_schema_files=facets)


class LineageReceiver:
    """A Marquez-compatible lineage endpoint on ``127.0.0.1`` (free port), for one test.

    ``POST /api/v1/lineage``: 201 and recorded in :attr:`events` if the validator accepts the body,
    otherwise 400 ``{"errors": [...]}`` and recorded in :attr:`invalid`. ``GET /events`` and
    ``GET /invalid`` return what was recorded as JSON. In ``mode="error500"`` every request gets a
    500. In ``mode="garbage"`` it reads the request and answers :data:`GARBAGE_RESPONSE`; in
    ``"slow_drip"`` it answers :data:`SLOW_DRIP_RESPONSE` one byte per :attr:`drip_interval`
    seconds; in ``"close"`` it resets the connection before reading the body (closing
    mid-request). Those three are recorded in :attr:`hits` with status 0 (no HTTP answer) or 201
    (the drip). Use it as a context manager, or call :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        validator: OpenLineageValidator | None = None,
        *,
        mode: ReceiverMode = "ok",
        max_body_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.validator = validator if validator is not None else OpenLineageValidator()
        self.max_body_bytes = max_body_bytes
        self._mode: ReceiverMode = mode
        self._changed = threading.Condition()
        self._events: list[dict[str, Any]] = []
        self._received_at: list[float] = []
        self._invalid: list[RejectedEvent] = []
        self._hits: list[Hit] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        #: Seconds between two bytes in ``mode="slow_drip"``.
        self.drip_interval = 1.0
        self._stopping = threading.Event()

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> LineageReceiver:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("the receiver is already running")
        self._stopping.clear()
        server = _Server(self)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"lineage-receiver-{server.server_port}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (idempotent; bounded to about 2 s)."""
        self._stopping.set()  # ends a slow drip in progress
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=2.0)

    def __enter__(self) -> LineageReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses --------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the receiver is not running")
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: what ``OPENLINEAGE_URL`` / ``HttpConfig(url=...)`` take."""
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def lineage_url(self) -> str:
        """The full ``POST`` address: :attr:`url` + ``/api/v1/lineage``."""
        return self.url + LINEAGE_PATH

    # -- state (thread-safe copies) ---------------------------------------------------------------

    @property
    def mode(self) -> ReceiverMode:
        with self._changed:
            return self._mode

    @mode.setter
    def mode(self, value: ReceiverMode) -> None:
        if value not in _RECEIVER_MODES:
            raise ValueError(f"unknown receiver mode {value!r}")
        with self._changed:
            self._mode = value

    @property
    def events(self) -> list[dict[str, Any]]:
        """The valid events, in arrival order."""
        with self._changed:
            return list(self._events)

    @property
    def received_at(self) -> list[float]:
        """``time.time()`` at which each of :attr:`events` arrived."""
        with self._changed:
            return list(self._received_at)

    @property
    def invalid(self) -> list[RejectedEvent]:
        """The posts answered 400 (invalid events, non-JSON bodies)."""
        with self._changed:
            return list(self._invalid)

    @property
    def hits(self) -> list[Hit]:
        """Every request answered, whatever its path or outcome (counts retries, 500s)."""
        with self._changed:
            return list(self._hits)

    def clear(self) -> None:
        """Forget everything received so far."""
        with self._changed:
            self._events.clear()
            self._received_at.clear()
            self._invalid.clear()
            self._hits.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` valid events arrived and return them all.

        Raises :class:`TimeoutError` (with what did arrive) after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._events) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    rejected = [list(item.errors) for item in self._invalid]
                    msg = (
                        f"{len(self._events)} of {count} valid OpenLineage events arrived within "
                        f"{timeout} s; {len(self._invalid)} were rejected: {rejected}"
                    )
                    raise TimeoutError(msg)
                self._changed.wait(min(remaining, 0.1))
            return list(self._events)

    # -- request handling (server threads) --------------------------------------------------------

    def _dispatch(self, request: _Handler) -> None:
        path = request.path.split("?", 1)[0].rstrip("/") or "/"
        method = request.command
        if self.mode in ("garbage", "slow_drip", "close"):
            self._misbehave(request, method, path)
            return
        # Read the body whatever the answer: closing with unread input sends RST, which could
        # reach the client before our 4xx/500 and turn it into a connection error.
        raw, problem = self._read_body(request)
        payload: object
        if self.mode == "error500":
            status, payload = 500, {"error": "receiver is in error500 mode"}
        elif method == "POST" and path == LINEAGE_PATH:
            status, payload = problem if problem else self._receive(request, raw or b"")
        elif method in ("GET", "HEAD") and path == "/events":
            status, payload = 200, self.events
        elif method in ("GET", "HEAD") and path == "/invalid":
            status, payload = (
                200,
                [{"body": item.body, "errors": list(item.errors)} for item in self.invalid],
            )
        elif path in (LINEAGE_PATH, "/events", "/invalid"):
            status, payload = 405, {"error": f"{method} is not allowed on {path}"}
        else:
            status, payload = 404, {"error": f"no such path: {path}"}
        with self._changed:
            self._hits.append(Hit(method, path, status, time.time()))
            self._changed.notify_all()
        _respond(request, status, payload)

    def _misbehave(self, request: _Handler, method: str, path: str) -> None:
        """Answer below HTTP, per :attr:`mode` (see the class docstring)."""
        mode = self.mode
        request.close_connection = True
        if mode != "close":
            self._read_body(request)
        with self._changed:
            self._hits.append(Hit(method, path, 201 if mode == "slow_drip" else 0, time.time()))
            self._changed.notify_all()
        if mode == "close":
            # SO_LINGER 0: closing with unread input sends RST at once, as a crashed server would.
            request.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            return
        try:
            if mode == "garbage":
                request.wfile.write(GARBAGE_RESPONSE)
                return
            for index in range(len(SLOW_DRIP_RESPONSE)):
                if index and self._stopping.wait(self.drip_interval):
                    return
                request.wfile.write(SLOW_DRIP_RESPONSE[index : index + 1])
        except OSError:
            pass  # the client gave up: what a misbehaving endpoint is for

    def _read_body(self, request: _Handler) -> tuple[bytes | None, tuple[int, object] | None]:
        """The request body (None if there is none), or the error status to answer instead."""
        length_header = request.headers.get("Content-Length")
        if length_header is None:
            return None, (411, {"errors": ["a Content-Length header is required"]})
        if not length_header.strip().isdigit():
            return None, (400, {"errors": [f"bad Content-Length: {length_header!r}"]})
        length = int(length_header)
        if length > self.max_body_bytes:
            request.close_connection = True
            return None, (413, {"errors": [f"body of {length} bytes > {self.max_body_bytes}"]})
        try:
            return request.rfile.read(length), None
        except OSError as error:
            return None, (400, {"errors": [f"could not read the body: {error}"]})

    def _receive(self, request: _Handler, raw: bytes) -> tuple[int, object]:
        received_at = time.time()
        try:
            if request.headers.get("Content-Encoding", "").strip().lower() == "gzip":
                raw = gzip.decompress(raw)
            body: Any = json.loads(raw.decode("utf-8"))
        except (OSError, EOFError, UnicodeDecodeError, ValueError) as error:
            text = raw.decode("utf-8", errors="replace")
            return 400, self._reject(text, [f"$: body is not JSON: {error}"], received_at)
        problems = self.validator.errors(body)
        if problems:
            return 400, self._reject(body, problems, received_at)
        with self._changed:
            self._events.append(body)
            self._received_at.append(received_at)
        return 201, None

    def _reject(self, body: Any, problems: list[str], received_at: float) -> dict[str, list[str]]:
        with self._changed:
            self._invalid.append(RejectedEvent(body, tuple(problems), received_at))
        return {"errors": problems}


def _respond(request: _Handler, status: int, payload: object) -> None:
    data = b"" if payload is None else json.dumps(payload).encode("utf-8")
    try:
        request.send_response(status)
        if data:
            request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        if data and request.command != "HEAD":
            request.wfile.write(data)
    except OSError:
        pass  # the client gave up (timed out) before the answer; nothing to tell it


# --------------------------------------------------------------------------------------------------
# Client helper
# --------------------------------------------------------------------------------------------------


def tuned_http_transport(url: str, *, timeout: float = 2.0) -> HttpTransport:
    """The openlineage-python ``http`` transport with ``timeout`` seconds and no retry at all.

    ``HttpConfig(retry=...)`` built directly *replaces* the default retry dict (only
    ``HttpConfig.from_dict`` merges it over the defaults), so 500s are not retried either.
    Close it (``transport.close()`` / ``client.close()``) to release its connection pool.
    """
    return HttpTransport(
        HttpConfig(url=url, timeout=timeout, retry={"total": 0, "connect": 0, "read": 0})
    )


# --------------------------------------------------------------------------------------------------
# Failure-mode endpoints
# --------------------------------------------------------------------------------------------------

_ConnectionScript = Callable[[socket.socket, threading.Event, float], None]
_POLL = 0.05


class EndpointUrl(str):
    """The URL of a scripted failure-mode endpoint: a plain ``str`` that also counts attempts.

    :attr:`accepted` holds ``time.time()`` of every connection the endpoint accepted, so a test
    can prove an endpoint was reached, and how often, without it ever answering.
    """

    accepted: list[float]

    @property
    def connections(self) -> int:
        """How many connections the endpoint accepted so far."""
        return len(self.accepted)


@contextmanager
def refused_endpoint() -> Iterator[str]:
    """A URL on 127.0.0.1 whose port refuses connections (RST at once).

    The port is bound but never listened on, and stays bound until exit, so no other process can
    take it meanwhile (a bound-then-closed port would be racy); the effect on a client is the same.
    """
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind((LOCALHOST, 0))
        yield f"http://{LOCALHOST}:{holder.getsockname()[1]}"
    finally:
        holder.close()


#: An IPv6 link-local address scoped to an interface that does not exist: ``getaddrinfo`` (and
#: gRPC's resolver) reject it locally, so it fails like an unknown host without asking the
#: system resolver (a ``*.invalid`` name would wait for DNS, however slow or absent it is).
UNRESOLVABLE_URL = "http://[fe80::1%25floe-no-such-if]:5000"


@contextmanager
def unresolvable_endpoint() -> Iterator[str]:
    """A URL whose host cannot resolve, decided locally: :data:`UNRESOLVABLE_URL`."""
    yield UNRESOLVABLE_URL


@contextmanager
def hanging_endpoint(
    *, max_seconds: float = 300.0, max_connections: int = 64
) -> Iterator[EndpointUrl]:
    """A URL on 127.0.0.1 that accepts TCP connections, reads everything, and never answers.

    Connections are held until exit (or ``max_seconds``), then closed; daemon threads only.
    """
    with _scripted_endpoint(
        _hold_silently, max_seconds=max_seconds, max_connections=max_connections
    ) as url:
        yield url


@contextmanager
def garbage_endpoint(
    *, size: int = 512, seed: int = 0, max_seconds: float = 120.0, max_connections: int = 64
) -> Iterator[EndpointUrl]:
    """A URL on 127.0.0.1 that reads the request, answers ``size`` random bytes, then closes."""
    payload = random.Random(seed).randbytes(size)
    if payload.startswith(b"HTTP/"):  # pragma: no cover - would be a valid status line by chance
        payload = b"\x00" + payload[1:]

    def answer_garbage(conn: socket.socket, stop: threading.Event, deadline: float) -> None:
        _read_request(conn, stop, deadline)
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)

    with _scripted_endpoint(
        answer_garbage, max_seconds=max_seconds, max_connections=max_connections
    ) as url:
        yield url


#: What :func:`slow_drip_endpoint` sends by default: a complete, valid Marquez answer (44 bytes).
SLOW_DRIP_RESPONSE = b"HTTP/1.0 201 Created\r\nContent-Length: 0\r\n\r\n"


@contextmanager
def slow_drip_endpoint(
    *,
    interval: float = 1.0,
    response: bytes = SLOW_DRIP_RESPONSE,
    max_seconds: float = 60.0,
    max_connections: int = 16,
) -> Iterator[EndpointUrl]:
    """A URL on 127.0.0.1 that reads the request, then sends ``response`` one byte per ``interval``.

    A client's per-read timeout never fires while bytes keep coming, so the total time is about
    ``len(response) * interval``. Each connection is cut (closed mid-response) at ``max_seconds``
    after the endpoint started.
    """

    def drip(conn: socket.socket, stop: threading.Event, deadline: float) -> None:
        _read_request(conn, stop, deadline)
        for index in range(len(response)):
            if stop.is_set() or time.monotonic() >= deadline:
                return
            conn.sendall(response[index : index + 1])
            if index + 1 < len(response):
                stop.wait(min(interval, max(0.0, deadline - time.monotonic())))
        conn.shutdown(socket.SHUT_WR)

    with _scripted_endpoint(drip, max_seconds=max_seconds, max_connections=max_connections) as url:
        yield url


@contextmanager
def _scripted_endpoint(
    script: _ConnectionScript, *, max_seconds: float, max_connections: int
) -> Iterator[EndpointUrl]:
    """Listen on 127.0.0.1; run ``script(conn, stop, deadline)`` per connection in a daemon thread.

    Bounded: at most ``max_connections`` connections, none after ``max_seconds``; on exit every
    thread is told to stop, joined for at most about 2 s in all, and every socket is closed.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stop = threading.Event()
    deadline = time.monotonic() + max_seconds
    connections: list[socket.socket] = []
    workers: list[threading.Thread] = []
    lock = threading.Lock()
    accepted: list[float] = []

    def run_script(conn: socket.socket) -> None:
        try:
            script(conn, stop, deadline)
        except OSError:
            pass  # the client went away, or exit closed the socket: both are expected here
        finally:
            conn.close()

    def accept_loop() -> None:
        while not stop.is_set() and time.monotonic() < deadline:
            with lock:
                if len(workers) >= max_connections:
                    return
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed
            conn.settimeout(_POLL)
            worker = threading.Thread(target=run_script, args=(conn,), daemon=True)
            with lock:
                accepted.append(time.time())
                connections.append(conn)
                workers.append(worker)
            worker.start()

    acceptor: threading.Thread | None = None
    try:
        listener.bind((LOCALHOST, 0))
        listener.listen(max_connections)
        listener.settimeout(_POLL)
        acceptor = threading.Thread(target=accept_loop, name="scripted-endpoint", daemon=True)
        acceptor.start()
        url = EndpointUrl(f"http://{LOCALHOST}:{listener.getsockname()[1]}")
        url.accepted = accepted
        yield url
    finally:
        stop.set()
        join_deadline = time.monotonic() + 2.0
        if acceptor is not None:
            acceptor.join(timeout=1.0)
        with lock:
            pending = list(workers)
        for worker in pending:
            worker.join(timeout=max(0.0, join_deadline - time.monotonic()))
        with lock:
            for conn in connections:
                conn.close()
        listener.close()


def _hold_silently(conn: socket.socket, stop: threading.Event, deadline: float) -> None:
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            if not conn.recv(65536):
                return  # the client closed its side
        except TimeoutError:  # noqa: PERF203 - polling, so that `stop` is seen
            continue


def _read_request(
    conn: socket.socket, stop: threading.Event, deadline: float, limit: int = 1024 * 1024
) -> bytes:
    """Read one HTTP request (head + ``Content-Length`` body), bounded by size, time and ``stop``.

    Reading it all matters: closing a socket with unread input sends RST instead of our answer.
    """
    data = b""
    expected: int | None = None
    while not stop.is_set() and time.monotonic() < deadline and len(data) < limit:
        if expected is None and b"\r\n\r\n" in data:
            head, _, _ = data.partition(b"\r\n\r\n")
            match = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
            expected = len(head) + 4 + (int(match.group(1)) if match else 0)
        if expected is not None and len(data) >= expected:
            break
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            break
        data += chunk
    return data
