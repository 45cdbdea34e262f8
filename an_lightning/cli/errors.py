"""One-line errors for the command-line entry points (tracebacks only on request)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

# What bad input raises: a missing or wrong file, a bad option, a missing package.
USER_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, ModuleNotFoundError)


def root_cause(err: BaseException) -> str:
    """The message of the innermost exception in ``err``'s chain, on one line."""
    while inner := err.__cause__ or (None if err.__suppress_context__ else err.__context__):
        err = inner
    return " ".join(str(err).split())


@contextmanager
def command_errors() -> Iterator[None]:
    """Turn bad-input exceptions into ``error: <message>`` and exit status 1.

    ``AN_LIGHTNING_DEBUG=1`` re-raises them with the traceback.
    """
    try:
        yield
    except USER_ERRORS as err:
        if os.environ.get("AN_LIGHTNING_DEBUG"):
            raise
        hint = "(AN_LIGHTNING_DEBUG=1 shows the traceback)"
        raise SystemExit(f"error: {root_cause(err)} {hint}") from None
