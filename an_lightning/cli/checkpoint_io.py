"""The Lightning ``CheckpointIO`` every ``fit`` run writes through.

Lightning hands every save to the trainer's ``CheckpointIO`` (periodic and last
checkpoints, the final one, SLURM preemption ones), so this is the one place that
guarantees what a checkpoint file is: finite, written atomically inside the run
directory with its checksum (``verified.write_verified``), and, once it is on disk,
the only place that removes the states it supersedes (``run_dir.prune``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.plugins.io import TorchCheckpointIO

from ..tasks.finite import NonFiniteError, nonfinite_state
from .run_dir import prune
from .verified import sidecar, write_verified


class VerifiedCheckpointIO(TorchCheckpointIO):
    """Atomic, checksummed, finite-only checkpoint files; rotation after a good save.

    Args:
        keep: periodic checkpoints kept besides ``last.ckpt`` (the newest ``keep``).
    """

    def __init__(self, keep: int = 1) -> None:
        super().__init__()
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.keep = keep

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        for key in ("state_dict", "optimizer_states"):
            if bad := nonfinite_state(checkpoint.get(key), key):
                raise NonFiniteError(f"refusing to write {path}: {bad} is NaN or infinite")
        write_verified(checkpoint, Path(path))
        prune(Path(path), self.keep)

    def remove_checkpoint(self, path: Any) -> None:
        Path(path).unlink(missing_ok=True)
        sidecar(Path(path)).unlink(missing_ok=True)
