"""Reading a CompiledArtifacts file, with errors that say where and how to fix.

Every read is bounded: the file must be a regular file of at most
:data:`~floe_scaffold._bounded.MAX_CONTRACT_BYTES`, and its values stay within :data:`LIMITS`
(an integer of at most 18 digits, a finite number written in at most 40 characters, a string
of at most 65,536 characters, an array or object of at most 10,000 entries, nesting at most 64
deep); a value beyond them is refused with its field path before the contract is validated.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from floe_scaffold._bounded import MAX_CONTRACT_BYTES, NotARegularFileError, read_bounded
from floe_scaffold.contract._models import CompiledArtifacts
from floe_scaffold.contract._types import SUPPORTED_VERSIONS
from floe_scaffold.errors import ContractError, InputFileError, Issue

__all__ = ["LIMITS", "format_location", "load_artifacts", "parse_artifacts", "validation_issues"]

#: The bounds every contract value is held to (documented in SECURITY.md).
LIMITS = {
    "bytes": MAX_CONTRACT_BYTES,
    "integer_digits": 18,
    "number_characters": 40,
    "string_characters": 65_536,
    "entries": 10_000,
    "depth": 64,
}

_TARGETS = "duckdb, postgres, snowflake, bigquery, redshift, databricks, spark"


def load_artifacts(path: Path | str) -> CompiledArtifacts:
    """Read and validate a CompiledArtifacts JSON file.

    Raises:
        InputFileError: the file is missing, a directory, or unreadable (exit 2).
        ContractError: the file is not UTF-8 JSON, or it does not match the contract (exit 1).

    """
    file = Path(path)
    try:
        raw = read_bounded(file, MAX_CONTRACT_BYTES)
    except NotARegularFileError as error:
        raise InputFileError(
            f"{file}: {error.strerror}; pass a CompiledArtifacts JSON file", source=file
        ) from None
    except FileNotFoundError:
        raise InputFileError(
            f"{file}: no such file; pass the path of a CompiledArtifacts JSON file "
            "(floe's compiler writes .floe/compiled_artifacts.json)",
            source=file,
        ) from None
    except IsADirectoryError:
        raise InputFileError(
            f"{file}: is a directory; pass the CompiledArtifacts JSON file inside it",
            source=file,
        ) from None
    except OSError as error:
        raise InputFileError(
            f"{file}: cannot read it ({error.strerror or error})", source=file
        ) from None
    return parse_artifacts(raw, source=file)


def parse_artifacts(raw: bytes | str, *, source: Path | str = "<artifacts>") -> CompiledArtifacts:
    """Validate CompiledArtifacts from JSON text; see :func:`load_artifacts`."""
    if len(raw) > MAX_CONTRACT_BYTES:
        raise ContractError(
            [Issue("", f"larger than {MAX_CONTRACT_BYTES // 1024} KiB, the most floe reads")],
            source=source,
        )
    data = _decode_json(raw, source)
    beyond = _beyond_limits(data)
    if beyond:
        raise ContractError(beyond, source=source)
    if not isinstance(data, dict):
        raise ContractError(
            [Issue("", f"the top level must be a JSON object, not {_json_type(data)}")],
            source=source,
        )
    try:
        return CompiledArtifacts.model_validate(data)
    except ValidationError as error:
        raise ContractError(validation_issues(error.errors()), source=source) from None


def _decode_json(raw: bytes | str, source: Path | str) -> object:
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ContractError(
                [Issue("", f"not UTF-8 text (byte {error.start}); save the file as UTF-8 JSON")],
                source=source,
            ) from None
    else:
        text = raw
    if not text.strip():
        raise ContractError(
            [Issue("", "the file is empty; it should hold a CompiledArtifacts JSON object")],
            source=source,
        )
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicate_keys,
            parse_constant=_no_constant,
            parse_int=_bounded_int,
            parse_float=_bounded_float,
        )
    except (_DuplicateKeyError, _ConstantError) as error:
        raise ContractError([Issue("", str(error))], source=source) from None
    except json.JSONDecodeError as error:
        raise ContractError(
            [
                Issue(
                    "", f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
                )
            ],
            source=source,
        ) from None
    except RecursionError:
        raise ContractError(
            [Issue("", "not valid JSON: nested too deeply")], source=source
        ) from None


class _DuplicateKeyError(ValueError):
    pass


class _Oversized:
    """A number beyond :data:`LIMITS`, kept (unconverted) until its field path is known."""

    def __init__(self, what: str) -> None:
        self.what = what


def _bounded_int(text: str) -> int | _Oversized:
    digits = len(text.lstrip("-"))
    if digits > LIMITS["integer_digits"]:
        return _Oversized(
            f"an integer of {digits} digits; at most {LIMITS['integer_digits']} are allowed"
        )
    return int(text)


def _bounded_float(text: str) -> float | _Oversized:
    if len(text) > LIMITS["number_characters"]:
        return _Oversized(
            f"a number written in {len(text)} characters; at most "
            f"{LIMITS['number_characters']} are allowed"
        )
    value = float(text)
    if value in {float("inf"), float("-inf")}:
        return _Oversized(f"{text} is too large a number")
    return value


def _beyond_limits(data: object) -> list[Issue]:
    """Each value of ``data`` beyond :data:`LIMITS`, with its field path (at most 20 named)."""
    issues: list[Issue] = []
    stack: list[tuple[object, tuple[int | str, ...]]] = [(data, ())]
    while stack and len(issues) < 20:
        value, location = stack.pop()
        where = format_location(location)
        if len(location) > LIMITS["depth"]:
            issues.append(Issue(where, f"nested more than {LIMITS['depth']} levels deep"))
            continue
        if isinstance(value, _Oversized):
            issues.append(Issue(where, f"is {value.what}"))
        elif isinstance(value, str) and len(value) > LIMITS["string_characters"]:
            issues.append(
                Issue(
                    where,
                    f"is a string of {len(value)} characters; at most "
                    f"{LIMITS['string_characters']} are allowed",
                )
            )
        elif isinstance(value, dict | list):
            if len(value) > LIMITS["entries"]:
                issues.append(
                    Issue(
                        where,
                        f"has {len(value)} entries; at most {LIMITS['entries']} are allowed",
                    )
                )
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and len(key) > LIMITS["string_characters"]:
                    issues.append(Issue(where, "has a key longer than the string limit"))
                    continue
                stack.append((item, (*location, key)))
    return issues


class _ConstantError(ValueError):
    pass


def _no_constant(name: str) -> object:
    # Python's json reads NaN and Infinity, which are not JSON and no contract value can be.
    raise _ConstantError(f"{name} is not a JSON value; use a number or null")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys silently; a contract must not be ambiguous.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(f"the key {key!r} appears twice in one object; keep one")
        result[key] = value
    return result


def _json_type(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def format_location(location: Sequence[int | str]) -> str:
    """Turn a pydantic error location into a field path such as ``transforms[0].path``."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def validation_issues(errors: Iterable[ErrorDetails]) -> list[Issue]:
    """Flatten pydantic errors into ``field.path: message`` issues, worded for people."""
    issues: list[Issue] = []
    for error in errors:
        location = [part for part in error["loc"] if not _is_internal_tag(part)]
        issue = Issue(format_location(location), _message(error, location))
        if issue not in issues:
            issues.append(issue)
    return issues


def _is_internal_tag(part: int | str) -> bool:
    # Pydantic adds validator names such as 'function-after[...]' to some locations.
    return isinstance(part, str) and part.startswith("function-") and part.endswith("]")


def _message(error: ErrorDetails, location: list[int | str]) -> str:
    kind = error["type"]
    field = location[-1] if location else ""
    if kind == "extra_forbidden":
        return (
            "unknown field; CompiledArtifacts v1 has no such field "
            "(remove it, or check its spelling against `floe schema`)"
        )
    if kind == "missing":
        return "required field is missing"
    if location == ["compute", "target"]:
        return f"unsupported compute target {error.get('input')!r}; supported targets: {_TARGETS}"
    if field == "version" and kind in {"string_type"}:
        return f"must be a version string such as {SUPPORTED_VERSIONS[0]!r}"
    message = error["msg"]
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
    elif kind in {"model_type", "model_attributes_type", "dict_type"}:
        message = "must be a JSON object"
    return message[:1].lower() + message[1:]
