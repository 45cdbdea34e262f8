"""Checkpoint files that are written atomically and verified before anything trusts them.

A kill at any moment must leave the old file or the new one, never a torn one, and a
file damaged later (a disk, a copy, an operator) must be noticed before a run resumes
from it: ``torch.load`` reads a file with random bytes in its tensors without a word.

Every ``X.ckpt`` has a ``X.ckpt.sha256`` beside it, in ``sha256sum``'s format, newest
digest first. A write goes: state to a temporary file in the same directory, flushed
and fsynced, hashed; the sidecar (new digest first, then the earlier ones) replaced
atomically; the temporary file renamed onto ``X.ckpt``; the directory fsynced. A kill
between the two renames leaves the old ``X.ckpt``, whose digest the sidecar still lists,
so each complete file verifies at every moment, and a reader that hashes the file
before it reads the sidecar never rejects a good file that was replaced meanwhile.
Files without a sidecar (written by other tools) are checked by the CRC-32 of every
member of their zip archive, which ``torch.save`` records.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..files import temporary

SUFFIX = ".sha256"
HISTORY = 4  # digests kept per name: a file still verifies after 3 interrupted rewrites
CHUNK = 1 << 22


class DamagedCheckpoint(ValueError):
    """A checkpoint file whose bytes are not the ones that were written."""


def sidecar(path: Path) -> Path:
    """``X.ckpt.sha256`` for ``X.ckpt``."""
    return path.with_name(path.name + SUFFIX)


def is_temporary(path: Path) -> bool:
    """True for a name ``files.temporary`` makes (left behind only by a killed writer)."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _digests(path: Path) -> list[str]:
    try:
        lines = sidecar(path).read_text().splitlines()
    except FileNotFoundError:
        return []
    return [line.split()[0] for line in lines if line.strip()]


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_verified(checkpoint: dict[str, Any], path: Path) -> str:
    """Save ``checkpoint`` at ``path`` atomically with its checksum; returns the digest."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, tmp_sidecar = temporary(path), temporary(sidecar(path))
    try:
        with open(tmp, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        digest = sha256_of(tmp)
        kept = [d for d in _digests(path) if d != digest][: HISTORY - 1]
        lines = "".join(f"{d}  {path.name}\n" for d in [digest, *kept])
        _write_synced(tmp_sidecar, lines.encode())
        os.replace(tmp_sidecar, sidecar(path))
        os.replace(tmp, path)
        _sync_dir(path.parent)
    finally:
        for leftover in (tmp, tmp_sidecar):
            leftover.unlink(missing_ok=True)
    return digest


def verify(path: Path) -> bool:
    """True if ``path`` matches its checksum, False if it has none but its zip CRCs hold.

    Raises ``DamagedCheckpoint`` naming what is wrong otherwise.
    """
    path = Path(path)
    actual = sha256_of(path)  # before the sidecar: see the module docstring
    listed = _digests(path)
    if listed:
        if actual not in listed:
            raise DamagedCheckpoint(f"its SHA-256 does not match {sidecar(path).name}")
        return True
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError) as err:
        raise DamagedCheckpoint(f"it is not a readable checkpoint archive ({err})") from None
    if bad is not None:
        raise DamagedCheckpoint(f"the CRC of its member {bad} does not match")
    return False


def read_header(path: Path) -> dict[str, Any]:
    """The checkpoint's dictionary with tensors memory-mapped (cheap: reads the pickle)."""
    try:
        header = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # any unreadable file: torch raises many kinds
        raise DamagedCheckpoint(f"it cannot be read ({' '.join(str(err).split())})") from None
    if not isinstance(header, dict):
        raise DamagedCheckpoint("it does not hold a checkpoint dictionary")
    return header
