"""Loading a trained task for the evaluation, sampling and layout commands.

They all take ``RUN_DIR_OR_CKPT``: a run directory (the checkpoint ``fit`` would resume
from: ``run_dir.select_checkpoint``) or a ``.ckpt`` file written by ``an_lightning.fit``.
Either is verified against its checksum first, and a generator with NaN or infinite
weights is refused. The model is rebuilt from the config saved inside the checkpoint,
so no YAML is needed.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TypeVar

import torch

from ..tasks import AdversarialTask
from ..tasks.finite import first_nonfinite
from .run_dir import RunError, select_checkpoint
from .verified import DamagedCheckpoint, verify

T = TypeVar("T", bound=AdversarialTask)


def resolve_checkpoint(path: str | Path) -> Path:
    """The checkpoint file ``path`` names (a run directory or a file)."""
    p = Path(path)
    if p.is_dir():
        # Read-only: damaged files are skipped, not moved (only fit, holding the run
        # directory's lock, sets them aside).
        skipped: list[str] = []
        found = select_checkpoint(p, skipped=skipped)
        if found is None and skipped:
            raise RunError(
                f"{p} holds no intact checkpoint, only damaged ones: {'; '.join(skipped)}; "
                "pass an intact .ckpt file, or re-run its training (fit sets damaged "
                "checkpoints aside and resumes from the newest intact one)"
            )
        if found is None:
            raise RunError(
                f"{p} holds no checkpoint (checkpoints/*.ckpt): train it first, or pass a "
                ".ckpt file"
            )
        for line in skipped:
            print(f"warning: skipping damaged checkpoint {line}", file=sys.stderr)
        return found
    if not p.is_file():
        raise RunError(f"{p} does not exist: pass a run directory or a .ckpt file")
    try:
        verify(p)
    except DamagedCheckpoint as err:
        raise RunError(
            f"checkpoint {p} is damaged: {err}; pass another checkpoint, or its run directory "
            "to use the newest intact one"
        ) from None
    return p


def task_class(ckpt: Path) -> type[AdversarialTask]:
    """The task class recorded in ``ckpt`` (read without loading the weights)."""
    try:
        header = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:
        reason = " ".join(str(err).split())
        raise RunError(f"cannot read {ckpt} as a checkpoint: {reason}") from None
    hparams = header.get("hyper_parameters") if isinstance(header, dict) else None
    class_path = hparams.get("_class_path") if isinstance(hparams, dict) else None
    if not isinstance(class_path, str):
        raise RunError(
            f"{ckpt} is not an an_lightning training checkpoint (it holds no model config): "
            "pass one written by `python -m an_lightning.fit`"
        )
    module, _, name = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise RunError(f"{ckpt} needs {class_path}, which this version does not have") from None
    if not (isinstance(cls, type) and issubclass(cls, AdversarialTask)):
        raise RunError(f"{ckpt} holds a {class_path}, not an an_lightning task")
    return cls


def load_task(
    path: str | Path, kind: type[T] = AdversarialTask, device: str | torch.device = "cpu"
) -> tuple[T, Path]:
    """(task in eval mode on ``device``, checkpoint path); ``RunError`` for the wrong kind."""
    ckpt = resolve_checkpoint(path)
    cls = task_class(ckpt)
    if not issubclass(cls, kind):
        raise RunError(
            f"{ckpt} is {_a(cls.__name__)} checkpoint; this command needs "
            f"{_a(kind.__name__)} checkpoint"
        )
    task = cls.load_from_checkpoint(ckpt, map_location=torch.device(device))
    nets = {"generator": task.generator, "g_ema": task.g_ema.module}
    named = [(f"{n}.{k}", v) for n, net in nets.items() for k, v in net.state_dict().items()]
    if bad := first_nonfinite(named):
        raise RunError(
            f"{ckpt} holds a diverged generator ({bad} is NaN or infinite): pass an earlier "
            "checkpoint of the run"
        )
    return task.eval(), ckpt


def _a(name: str) -> str:
    """``name`` with its indefinite article (an Inpainting, a ClassConditionalGAN)."""
    return f"{'an' if name[:1] in 'AEIOU' else 'a'} {name}"
