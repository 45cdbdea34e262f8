"""Files that readers, and other jobs writing the same name, see whole or not at all.

A shared file (the reference cache in ``~/.cache``, a checkpoint's evaluation records)
may be written by several jobs at once: a sweep whose runs start together all compute
the same reference. Each writer fills its own temporary file in the target's folder
and renames it onto the target, so a reader finds one writer's complete bytes and the
last rename wins. A fixed temporary name would be shared by the writers: one's rename
moves a file another is still writing, and the next rename finds nothing. A file that
writers read, change and write back (a list of records) also needs them to take turns:
``exclusive``.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


# What flock raises on a filesystem without locks (Lustre without -o flock, some FUSE and
# NFS mounts without a lock manager).
NO_LOCKS = frozenset({errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK, errno.EINVAL})


class Busy(OSError):
    """Another process holds the lock that ``exclusive(..., wait=False)`` asked for."""


@contextmanager
def exclusive(lock: Path, *, wait: bool = True) -> Iterator[None]:
    """Run the block while holding ``flock`` on the file ``lock`` (created, and never
    deleted: a writer could otherwise lock a new file of that name while another holds
    the old one). ``wait``: wait for another holder; else raise ``Busy`` naming it (the
    holder writes its host and pid into the file). Where the filesystem has no locks the
    block runs unlocked, with a warning on stderr."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 256, 0).decode(errors="replace").strip()
            raise Busy(f"{lock} is held by {holder or 'another process'}") from None
        except OSError as err:
            if err.errno not in NO_LOCKS:
                raise
            print(
                f"warning: {lock.parent} has no file locks ({err.strerror}): a job writing "
                "there at the same time could spoil this write",
                file=sys.stderr,
                flush=True,
            )
        else:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{socket.gethostname()} pid {os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # drops the lock
