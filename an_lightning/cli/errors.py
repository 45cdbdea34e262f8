"""One-line errors for the command-line entry points (tracebacks only on request).

Every command (fit, evaluate, sample, layouts, inpaint, sweep, the shard and mask-set
writers) reports bad input the same way: one ``error: <problem and fix>`` line on
stderr and exit status 2; argparse's own errors too (``CommandParser``), which would
print the whole usage first. ``AN_LIGHTNING_DEBUG=1`` re-raises the original exception
with its traceback instead.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

# What bad input raises: a missing or wrong file, a bad option, a missing package.
USER_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, ModuleNotFoundError)
USAGE_ERROR = 2  # the exit status of every user error, as argparse uses
HINT = "(AN_LIGHTNING_DEBUG=1 shows the traceback)"


def debugging() -> bool:
    """True when ``AN_LIGHTNING_DEBUG`` asks for tracebacks instead of one-line errors."""
    return os.environ.get("AN_LIGHTNING_DEBUG", "") not in ("", "0")


def root_cause(err: BaseException) -> str:
    """The message of the innermost exception in ``err``'s chain, on one line."""
    while inner := err.__cause__ or (None if err.__suppress_context__ else err.__context__):
        err = inner
    return " ".join(str(err).split())


def fail(message: str, usage: str | None = None, status: int = USAGE_ERROR) -> NoReturn:
    """Print ``error: message`` (``usage``, when given, at its end) to stderr and exit."""
    line = " ".join(message.split()) + (f" ({' '.join(usage.split())})" if usage else "")
    print(f"error: {line}", file=sys.stderr, flush=True)
    raise SystemExit(status)


class CommandParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` for the commands: a usage error is one ``error:`` line
    (pointing at ``--help``), and options must be spelled out (argparse would take
    ``--per-clas`` for ``--per-class``)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        fail(f"{message}; {self.prog} --help lists the options")


@contextmanager
def command_errors(usage: str | None = None) -> Iterator[None]:
    """Turn bad-input exceptions into one ``error:`` line and exit status 2."""
    try:
        yield
    except USER_ERRORS as err:
        if debugging():
            raise
        fail(f"{root_cause(err)} {HINT}", usage)


@contextmanager
def held_output(
    loggers: tuple[str, ...] = ("lightning.pytorch", "lightning.fabric"),
) -> Iterator[None]:
    """Hold back library log lines and warnings until the block succeeds.

    Checking a config means building it, and Lightning announces devices, seeds and
    tips on the way; a config that then fails should print only its ``error:`` line.
    On success the held lines are printed as they would have been.
    """
    buffer = io.StringIO()
    handlers = {
        h
        for name in loggers
        for h in logging.getLogger(name).handlers
        if isinstance(h, logging.StreamHandler) and h.stream in (sys.stderr, sys.__stderr__)
    }
    streams = {h: h.stream for h in handlers}
    for h in handlers:
        h.setStream(buffer)
    with warnings.catch_warnings(record=True) as caught:
        try:
            yield
        finally:
            for handler, stream in streams.items():
                handler.setStream(stream)
    # Reached only when the block succeeded: a failure propagates past this point.
    sys.stderr.write(buffer.getvalue())
    for w in caught:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
