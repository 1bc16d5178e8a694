"""Leaving the process without tearing down every module one by one.

After ``floe run`` prints its summary, a normal interpreter exit spends seconds (on a loaded
machine) destroying the thousands of modules and objects Dagster and dbt loaded, which nothing
needs. :func:`exit_now` does what an exit must (waits for no thread, as no non-daemon thread is
left; runs the ``atexit`` handlers, which flush spans and logs; flushes the standard streams),
then ends the process at once. With a non-daemon thread still running, it exits normally.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn

__all__ = ["exit_now"]


def exit_now(code: int) -> NoReturn:
    """Exit with ``code`` after the ``atexit`` handlers, skipping the interpreter's teardown."""
    main = threading.main_thread()
    if any(thread is not main and not thread.daemon for thread in threading.enumerate()):
        sys.exit(code)  # a thread that must finish: the normal way waits for it
    atexit._run_exitfuncs()  # the handlers a normal exit runs, in its order
    with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can be said
        sys.stdout.flush()
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(code)
