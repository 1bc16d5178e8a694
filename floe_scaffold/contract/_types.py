"""Named, constrained types the contract is built from.

Each regular expression here is written to mean the same in Python ``re`` and ECMA-262, because
it also ends up in the exported JSON Schema that other languages validate with.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, StrictBool, StrictInt, StrictStr

__all__ = [
    "SECRET_REF_PATTERN",
    "SUPPORTED_MAJOR",
    "SUPPORTED_VERSIONS",
    "ComputeTargetName",
    "RelativePath",
    "SecretRefName",
    "StrictBool",
    "StrictInt",
    "StrictStr",
    "UtcTimestamp",
    "UuidString",
    "VersionString",
]

#: The contract majors this floe-scaffold reads, and the versions it was written against.
SUPPORTED_MAJOR = 1
SUPPORTED_VERSIONS = ("1.0.0",)

#: End of input, meaning the same in Python ``re.search`` and ECMA-262 (``$`` in Python also
#: matches before a final newline, which JSON Schema validators in Python would then accept).
END = r"(?![\s\S])"

#: A Kubernetes Secret name: a lowercase RFC 1123 subdomain of at most 253 characters (the
#: origin's pattern also took uppercase and ``_``, which Kubernetes refuses and neither the chart's
#: schema nor the API's JSON Schema catches; the secret ref is deployed as a Secret's name).
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
SECRET_REF_PATTERN = rf"^(?=[\s\S]{{1,253}}{END}){_DNS_LABEL}(?:\.{_DNS_LABEL})*{END}"

ComputeTargetName = Literal[
    "duckdb", "snowflake", "bigquery", "redshift", "databricks", "postgres", "spark"
]

_ENV_PREFIX = re.compile(r"^(?:env|secret|vault)[:=]", re.IGNORECASE)


def _secret_name_like(value: str) -> str:
    """A valid Secret name close to ``value``: lowercase, other characters as ``-``."""
    words = re.sub(r"[^a-z0-9.]+", "-", value.lower()).strip("-.")
    spelled = re.sub(r"-*\.[-.]*", ".", words)[:253].strip("-.")
    return spelled or "my-secret"


def _check_secret_ref(value: str) -> str:
    # The origin's own quickstart wrote `env:SNOWFLAKE_PASSWORD`; say what to write instead.
    if _ENV_PREFIX.match(value):
        suggestion = _secret_name_like(value.split(":", 1)[-1].split("=", 1)[-1])
        raise ValueError(
            f"{value!r} is a reference to a value, but secret refs are Kubernetes Secret names "
            f"(lowercase letters, digits, '-' and '.'); write e.g. {suggestion!r} and export the "
            "credentials as environment variables named after it (see `floe profiles`)"
        )
    if not re.search(SECRET_REF_PATTERN, value):
        raise ValueError(
            f"{value!r} is not a Kubernetes Secret name, which Kubernetes (and the Dagster Helm "
            "chart's envSecrets) require: 1-253 characters, lowercase letters, digits, '-' and "
            "'.', starting and ending with a letter or digit; write e.g. "
            f"{_secret_name_like(value)!r}"
        )
    return value


SecretRefName = Annotated[
    StrictStr,
    AfterValidator(_check_secret_ref),
    Field(json_schema_extra={"pattern": SECRET_REF_PATTERN}),
]

_VERSION_PATTERN = rf"^{SUPPORTED_MAJOR}\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*){END}"


def _check_version(value: str) -> str:
    match = re.fullmatch(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)", value)
    if match is None:
        raise ValueError(f"{value!r} is not a semantic version like '1.0.0'")
    if int(match.group(1)) != SUPPORTED_MAJOR:
        raise ValueError(
            f"contract version {value} is not supported; this floe-scaffold reads "
            f"CompiledArtifacts {SUPPORTED_MAJOR}.x (written against "
            f"{', '.join(SUPPORTED_VERSIONS)}): recompile with a matching floe-core or install "
            "a floe-scaffold that supports it"
        )
    return value


VersionString = Annotated[
    StrictStr,
    AfterValidator(_check_version),
    Field(json_schema_extra={"pattern": _VERSION_PATTERN}),
]

_UUID_PATTERN = (
    rf"^[0-9a-fA-F]{{8}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{12}}{END}"
)


def _check_uuid(value: str) -> str:
    if not re.search(_UUID_PATTERN, value):
        raise ValueError(f"{value!r} is not a UUID like '12345678-1234-1234-1234-123456789abc'")
    return value


UuidString = Annotated[
    StrictStr,
    AfterValidator(_check_uuid),
    Field(json_schema_extra={"pattern": _UUID_PATTERN, "format": "uuid"}),
]

# A path inside the project: not absolute, no drive letter, no `..` segment, no control character.
_RELATIVE_PATH_PATTERN = (
    rf"^(?![/\\])(?![A-Za-z]:)(?!(?:[\s\S]*[/\\])?\.\.(?:[/\\]|{END}))[^\u0000-\u001f\u007f]+{END}"
)


def _check_relative_path(value: str) -> str:
    if not re.search(_RELATIVE_PATH_PATTERN, value):
        raise ValueError(
            f"{value!r} must be a relative path that stays inside the project "
            "(no leading '/', no drive letter, no '..' segment, no control character), "
            "e.g. '.floe/profiles'"
        )
    return value


RelativePath = Annotated[
    StrictStr,
    AfterValidator(_check_relative_path),
    Field(json_schema_extra={"pattern": _RELATIVE_PATH_PATTERN}),
]


def _require_rfc3339_text(value: object) -> object:
    # Pydantic's lax datetime also takes numbers and naive times; the contract says RFC 3339 UTC.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string such as '2024-01-15T10:30:00Z'")
    if not re.search(_TIMESTAMP_PATTERN, value):
        raise ValueError(
            f"{value!r} is not an RFC 3339 date-time with a time zone, "
            "such as '2024-01-15T10:30:00Z'"
        )
    return value


_TIMESTAMP_PATTERN = (
    rf"^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[Tt][0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}(\.[0-9]+)?"
    rf"([Zz]|[+-][0-9]{{2}}:[0-9]{{2}}){END}"
)

UtcTimestamp = Annotated[
    datetime,
    BeforeValidator(_require_rfc3339_text),
    Field(json_schema_extra={"pattern": _TIMESTAMP_PATTERN}),
]
