"""Typed reading of ``compute.properties``, collecting every problem with its field path."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from floe_scaffold.errors import Issue
from floe_scaffold.profiles._naming import EnvVarNaming, env_var_reference

__all__ = ["EnvVar", "PropertyReader", "is_credential_key"]

_JINJA = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
# Keys whose value is a credential, decided by the key and never by the value.
_CREDENTIAL_KEY = re.compile(
    r"(^|_)(user|username|password|passphrase|passwd|secret|token|keyfile|private_key|"
    r"api_key|credentials?|client_secret|access_key)($|_)",
    re.IGNORECASE,
)
_PASSTHROUGH_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
#: How deep a property value may nest; dbt profiles never need more than a few levels.
MAX_DEPTH = 16

Json = str | int | float | bool | None | list["Json"] | dict[str, "Json"]


def is_credential_key(key: str) -> bool:
    """Whether a profile key holds a credential (and so may only come from the environment)."""
    return bool(_CREDENTIAL_KEY.search(key))


@dataclass(frozen=True)
class EnvVar:
    """An environment variable a generated profile reads."""

    name: str
    key: str
    secret: bool
    required: bool


class PropertyReader:
    """Reads one target's properties; each getter records problems instead of raising.

    Every key a getter reads is marked used; :meth:`passthrough` returns the rest, so a
    property the warehouse module does not know still reaches the profile (FR-004), after the
    same checks.
    """

    def __init__(
        self, properties: Mapping[str, object], naming: EnvVarNaming, *, path: str
    ) -> None:
        self._properties = dict(properties)
        self._naming = naming
        self._path = path
        self._used: set[str] = set()
        self.issues: list[Issue] = []
        self.env_vars: list[EnvVar] = []

    # -- credentials and required settings -------------------------------------------------

    def secret(self, key: str, *, required: bool = True) -> str:
        """A credential: always ``{{ env_var(...) }}``; a literal value in the contract is refused.

        ``required=False`` gives the variable an empty default, for credentials the adapter
        treats as optional (a key passphrase).
        """
        name = self._naming.name(key)
        if key in self._properties:
            self._used.add(key)
            self._issue(
                key,
                f"credentials never go in the contract; remove it and export {name} instead "
                "(the profile reads it from the environment)",
            )
        self.env_vars.append(EnvVar(name, key, secret=True, required=required))
        return env_var_reference(name, None if required else "")

    def required(self, key: str, *, aliases: Sequence[str] = ()) -> str:
        """A setting the adapter requires: the property if given, else an environment variable."""
        found = self._lookup(key, aliases)
        if found is None:
            name = self._naming.name(key)
            self.env_vars.append(EnvVar(name, key, secret=False, required=True))
            return env_var_reference(name)
        source, value = found
        text = self._string(source, value)
        return text if text is not None else ""

    # -- optional settings -----------------------------------------------------------------

    def optional(self, key: str, *, aliases: Sequence[str] = ()) -> str | None:
        """An optional string setting, ``None`` when absent."""
        found = self._lookup(key, aliases)
        return None if found is None else self._string(*found)

    def choice(self, key: str, choices: Collection[str], default: str) -> str:
        """One of ``choices``, ``default`` when absent."""
        value = self.optional(key)
        if value is None:
            return default
        if value not in choices:
            allowed = ", ".join(repr(choice) for choice in choices)
            self._issue(key, f"{value!r} is not supported; use one of {allowed}")
            return default
        return value

    def integer(self, key: str, *, default: int, minimum: int, maximum: int) -> int:
        """An integer in ``[minimum, maximum]``, ``default`` when absent."""
        value = self.optional_integer(key, minimum=minimum, maximum=maximum)
        return default if value is None else value

    def optional_integer(self, key: str, *, minimum: int, maximum: int) -> int | None:
        """An optional integer in ``[minimum, maximum]``."""
        found = self._lookup(key, ())
        if found is None:
            return None
        value = found[1]
        if isinstance(value, bool) or not isinstance(value, int):
            self._issue(key, f"must be a whole number from {minimum} to {maximum}, not {value!r}")
            return None
        if not minimum <= value <= maximum:
            self._issue(key, f"must be from {minimum} to {maximum}, not {value}")
            return None
        return value

    def optional_boolean(self, key: str) -> bool | None:
        """An optional true/false setting."""
        found = self._lookup(key, ())
        if found is None:
            return None
        if not isinstance(found[1], bool):
            self._issue(key, f"must be true or false, not {found[1]!r}")
            return None
        return found[1]

    def optional_strings(self, key: str) -> list[str] | None:
        """An optional list of strings (e.g. DuckDB extensions)."""
        found = self._lookup(key, ())
        if found is None:
            return None
        value = found[1]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self._issue(key, "must be a list of strings")
            return None
        for index, item in enumerate(value):
            self._refuse_jinja(f"{key}[{index}]", item)
        return list(value)

    def threads(self) -> int:
        """Dbt's ``threads``: 1-64, default 4."""
        return self.integer("threads", default=4, minimum=1, maximum=64)

    def passthrough(self, generated: Collection[str]) -> dict[str, Json]:
        """Every property no getter read, checked, in the contract's order.

        ``generated`` are the keys the warehouse module already wrote; giving one of them as a
        property (``type``, say) would be ambiguous, so it is refused.
        """
        rest: dict[str, Json] = {}
        for key, value in self._properties.items():
            if key in self._used:
                continue
            if key in generated:
                self._issue(key, "floe-scaffold sets this profile key itself; remove the property")
            elif not _PASSTHROUGH_KEY.fullmatch(key):
                self._issue(key, "property names are letters, digits and '_' (a dbt profile key)")
            elif is_credential_key(key):
                self._issue(
                    key,
                    "credentials never go in the contract; remove it and export "
                    f"{self._naming.name(key)} instead",
                )
            elif self._checked_json(key, value):
                rest[key] = value  # type: ignore[assignment]  # checked just above
        return rest

    # -- internals -------------------------------------------------------------------------

    def _lookup(self, key: str, aliases: Sequence[str]) -> tuple[str, object] | None:
        present = [name for name in (key, *aliases) if name in self._properties]
        self._used.update(present)
        if len(present) > 1:
            self._issue(present[1], f"give either {present[0]!r} or {present[1]!r}, not both")
        if not present:
            return None
        return present[0], self._properties[present[0]]

    def _string(self, key: str, value: object) -> str | None:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self._issue(key, f"must be a string, not {type(value).__name__}")
            return None
        text = str(value)
        if not text.strip():
            self._issue(key, "must not be empty; remove it to read it from the environment")
            return None
        self._refuse_jinja(key, text)
        return text

    def _checked_json(self, key: str, value: object, depth: int = 0) -> bool:
        if depth > MAX_DEPTH:
            self._issue(key, f"nested more than {MAX_DEPTH} levels deep; flatten the value")
            return False
        if isinstance(value, str):
            return self._refuse_jinja(key, value)
        if value is None or isinstance(value, bool | int | float):
            return True
        if isinstance(value, list):
            return all(
                self._checked_json(f"{key}[{i}]", item, depth + 1) for i, item in enumerate(value)
            )
        if isinstance(value, dict):
            ok = True
            for name, item in value.items():
                if is_credential_key(str(name)):
                    self._issue(f"{key}.{name}", "credentials never go in the contract")
                    ok = False
                ok = self._checked_json(f"{key}.{name}", item, depth + 1) and ok
            return ok
        self._issue(key, f"unsupported value of type {type(value).__name__}")  # pragma: no cover
        return False  # pragma: no cover - JSON has no other types

    def _refuse_jinja(self, key: str, text: str) -> bool:
        if _JINJA.search(text):
            self._issue(
                key,
                "contains a Jinja delimiter ({{ }}, {% %} or {# #}), which dbt would evaluate; "
                "give the plain value (secrets come from environment variables by themselves)",
            )
            return False
        return True

    def _issue(self, key: str, message: str) -> None:
        self.issues.append(Issue(f"{self._path}.{key}", message))
