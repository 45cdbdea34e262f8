"""Callbacks that tests load into real training processes through YAML configs.

``KillAt`` SIGKILLs its own process: a preemption without any goodbye. ``NanAt``
makes the generator diverge on cue. ``RecordBatches`` logs what every rank trained on.

Used by tests/test_fit.py through ``trainer.callbacks`` in a YAML config (the
subprocess gets this folder on PYTHONPATH).
"""

import json
import os
import signal

import lightning as L
import torch
from data_fixtures import tensor_hashes


class KillAt(L.Callback):
    """Kill the process when the G counter reaches ``g_iter`` (its checkpoint already written)."""

    def __init__(self, g_iter: int) -> None:
        self.g_iter = g_iter

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if pl_module.g_iter >= self.g_iter:
            os.kill(os.getpid(), signal.SIGKILL)


class DumpRankWeights(L.Callback):
    """Save every rank's parameters and G counter at the end of fit (rank 0 alone checkpoints).

    Parameters only: BN running statistics follow each rank's own data between the
    buffer broadcasts of DDP (SyncBatchNorm, the GPU configs' choice, needs CUDA).
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def on_train_end(self, trainer, pl_module) -> None:
        state = {k: v.detach().cpu() for k, v in pl_module.named_parameters()}
        path = os.path.join(self.folder, f"rank{trainer.global_rank}.pt")
        torch.save({"state_dict": state, "g_iter": pl_module.g_iter}, path)


class NanAt(L.Callback):
    """Poison one generator weight with NaN once the G counter reaches ``g_iter``."""

    def __init__(self, g_iter: int) -> None:
        self.g_iter = g_iter

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.g_iter == self.g_iter:
            with torch.no_grad():
                next(pl_module.generator.parameters()).view(-1)[0] = float("nan")


class RecordBatches(L.Callback):
    """Append one JSON line per training batch to ``<folder>/batches-rank<r>.jsonl``.

    Each line holds the rank, Lightning's epoch and batch index, the G counter before the
    batch, its labels and the pixel hashes of its images (``data_fixtures.tensor_hashes``
    of the model batch, i.e. the uint8 images the loader delivered, flips included).
    Lines are written whole and unbuffered, so a SIGKILL leaves complete lines only; a
    resumed run appends, and its lines for the G counters it redoes come later.
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        images, labels = batch
        line = {
            "rank": trainer.global_rank,
            "epoch": trainer.current_epoch,
            "batch_idx": batch_idx,
            "g_iter": pl_module.g_iter,
            "labels": labels.tolist(),
            "images": tensor_hashes(images.detach().cpu()),
        }
        path = os.path.join(self.folder, f"batches-rank{trainer.global_rank}.jsonl")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(line) + "\n").encode())
        finally:
            os.close(fd)
