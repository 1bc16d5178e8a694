"""Copier's failures, worded as floe errors (no traceback reaches a user)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from floe_scaffold.errors import Issue, ProjectError, SystemFailureError, UpdateError

__all__ = ["copier_errors"]


@contextlib.contextmanager
def copier_errors(
    invalid: type[ProjectError | UpdateError] = ProjectError, *, downgrade_hint: str = ""
) -> Iterator[None]:
    """Turn copier's and git's exceptions raised in the block into :mod:`floe_scaffold.errors`.

    A copier "user message" (a precondition such as a refused downgrade) is invalid input,
    raised as ``invalid`` (exit 1); a failed git command is a system failure (exit 2),
    reported with git's own words.
    """
    from copier.errors import CopierError, UserMessageError
    from plumbum import ProcessExecutionError

    try:
        yield
    except UserMessageError as error:
        message = " ".join(str(error).split())
        if "downgrading" in message:  # copier's words for a template older than the project's
            message = message.rstrip(".") + downgrade_hint
        raise invalid([Issue("", message)]) from None
    except ProcessExecutionError as error:
        argv = " ".join(str(part) for part in error.argv[:3])
        said = str(error.stderr or error.stdout).strip().splitlines()
        raise SystemFailureError(
            f"`{argv} …` failed while rendering the template: {said[-1] if said else error}"
        ) from None
    except CopierError as error:
        raise SystemFailureError(f"copier failed: {error}") from None
    except OSError as error:  # the scratch directory or copier's git cache: disk full, permissions
        where = f" ({error.filename})" if error.filename else ""
        raise SystemFailureError(
            f"cannot render the template: {error.strerror or error}{where}"
        ) from None
