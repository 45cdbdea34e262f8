"""Files that readers, and other jobs writing the same name, see whole or not at all.

A shared file (the reference cache in ``~/.cache``, a checkpoint's evaluation records)
may be written by several jobs at once: a sweep whose runs start together all compute
the same reference. Each writer fills its own temporary file in the target's folder
and renames it onto the target, so a reader finds one writer's complete bytes and the
last rename wins. A fixed temporary name would be shared by the writers: one's rename
moves a file another is still writing, and the next rename finds nothing.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def temporary(path: Path) -> Path:
    """A hidden name next to ``path``, unique to this writer (pid plus a random token:
    jobs on different nodes of a shared filesystem can have the same pid)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def replace_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """``write(file)`` into a ``temporary`` file, fsync it and rename it onto ``path``;
    the temporary file is removed if anything fails, and ``path`` is then unchanged."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary(path)
    try:
        with open(tmp, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
