"""The CheckpointIO of fit runs: finite states only, verified files, rotation after saving."""

import pytest
import torch

from an_lightning.cli.checkpoint_io import VerifiedCheckpointIO
from an_lightning.cli.verified import sidecar, verify
from an_lightning.tasks.finite import NonFiniteError


def checkpoint(value: float, g_iter: int) -> dict:
    return {
        "g_iter": g_iter,
        "state_dict": {"generator.w": torch.full((4,), value)},
        "optimizer_states": [{"state": {0: {"exp_avg": torch.zeros(4)}}}],
    }


def test_saves_are_verified_and_rotate(tmp_path):
    io = VerifiedCheckpointIO()
    first = tmp_path / "checkpoints" / "g_iter=0000010.ckpt"
    io.save_checkpoint(checkpoint(1.0, 10), first)
    assert verify(first) is True
    second = tmp_path / "checkpoints" / "g_iter=0000020.ckpt"
    io.save_checkpoint(checkpoint(2.0, 20), second)
    assert not first.exists() and not sidecar(first).exists() and verify(second)
    io.remove_checkpoint(second)
    assert not second.exists() and not sidecar(second).exists()


@pytest.mark.parametrize("key", ["state_dict", "optimizer_states"])
def test_non_finite_state_is_never_written(tmp_path, key):
    io = VerifiedCheckpointIO()
    good = tmp_path / "checkpoints" / "g_iter=0000010.ckpt"
    io.save_checkpoint(checkpoint(1.0, 10), good)
    bad = checkpoint(1.0, 20)
    if key == "state_dict":
        bad["state_dict"]["generator.w"][2] = float("nan")
    else:
        bad["optimizer_states"][0]["state"][0]["exp_avg"][0] = float("inf")
    target = tmp_path / "checkpoints" / "g_iter=0000020.ckpt"
    with pytest.raises(NonFiniteError, match=key):
        io.save_checkpoint(bad, target)
    assert not target.exists() and verify(good) is True  # the good one stays
