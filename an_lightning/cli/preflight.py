"""Argument checks the commands make before loading a model or writing anything.

A command that fails after minutes of sampling, or leaves a half-made output folder
behind, costs more than one that refuses at once: every entry point checks its counts,
output paths and device with these first. Each raises ``ValueError`` worded for the
command line (problem and fix), which ``errors.command_errors`` prints as one line.
Nothing here creates a file or folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .run_dir import RunError


def at_least(value: int | None, minimum: int, flag: str) -> None:
    """``ValueError`` unless ``value`` (when given) is ``minimum`` or more."""
    if value is not None and value < minimum:
        raise ValueError(f"{flag} must be {minimum} or more, got {value}")


def writable_location(path: Path, flag: str) -> None:
    """``ValueError`` unless ``path`` is a folder this process may write in, or could be
    created as one (its nearest existing ancestor is a writable folder)."""
    existing = Path(os.path.abspath(path))
    while not existing.exists() and existing != existing.parent:
        if existing.is_symlink():  # a dangling link: mkdir would fail on it
            raise ValueError(f"{flag} {path}: {existing} is a broken link; choose another path")
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(
            f"{flag} {path} cannot be created: {existing} is a file, not a folder; "
            "choose another path"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(
            f"{flag} {path} cannot be written: {existing} is not writable by you; choose a "
            "folder you can write to"
        )


def output_folder(path: Path, flag: str) -> Path:
    """``path``, checked as a folder to write pictures or files into (new or existing)."""
    if path.exists() and not path.is_dir():
        raise ValueError(
            f"{flag} {path} is a file, but names the folder to write into; pass a folder "
            "(new or existing)"
        )
    writable_location(path, flag)
    return path


def output_file(path: Path, flag: str) -> Path:
    """``path``, checked as a file to (over)write: not a folder, its folder writable."""
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a folder; pass the path of the file to write")
    writable_location(path.parent, flag)
    return path


def device(spec: str) -> str:
    """``spec`` if torch can place tensors there (``--device cuda`` on a machine without
    CUDA fails here, not after the model is loaded)."""
    import torch

    try:
        where = torch.device(spec)
    except (RuntimeError, ValueError):
        raise ValueError(
            f"--device {spec!r} is not a torch device; use cpu, cuda or cuda:N"
        ) from None
    if where.type == "meta":
        raise ValueError("--device meta holds no data; use cpu, cuda or cuda:N")
    try:
        torch.empty(0, device=where)
    except (RuntimeError, AssertionError, ValueError) as err:
        reason = " ".join(str(err).split())
        raise ValueError(
            f"--device {spec} is not usable here ({reason}); use --device cpu"
        ) from None
    return spec


def load_checkpoint(path: str | Path, kind: type, device: str = "cpu") -> tuple[Any, Path]:
    """``checkpoint.load_task``, with any failure to rebuild the model (a checkpoint of
    another version, a damaged file) as a ``RunError`` naming the file."""
    from .checkpoint import load_task  # imports Lightning: only for the model commands

    try:
        return load_task(path, kind, device=device)
    except (RunError, MemoryError):
        raise
    except Exception as err:
        if "out of memory" in str(err):  # the device's problem, not the file's
            raise
        reason = " ".join(str(err).split())[:300]
        raise RunError(
            f"cannot load the model from {path} ({type(err).__name__}: {reason}); pass a "
            "checkpoint written by this version's `python -m an_lightning.fit`"
        ) from None
