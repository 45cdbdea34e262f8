"""``last.ckpt`` holds the state training ended in, written once, only when it is stale."""

from pathlib import Path
from types import SimpleNamespace

from an_lightning.cli.final_checkpoint import FinalCheckpoint


class Trainer:
    """Records the checkpoints the callback asks for."""

    def __init__(self) -> None:
        self.saved: list[Path] = []

    def save_checkpoint(self, path: Path) -> None:
        self.saved.append(path)


def run(callback: FinalCheckpoint, start: int, saves: list[int], end: int) -> list[Path]:
    """A run that starts at g_iter ``start``, checkpoints at ``saves`` and ends at ``end``."""
    trainer, task = Trainer(), SimpleNamespace(g_iter=start)
    callback.on_train_start(trainer, task)
    for g_iter in saves:
        task.g_iter = g_iter
        callback.on_save_checkpoint(trainer, task, {})
    task.g_iter = end
    callback.on_train_end(trainer, task)
    return trainer.saved


def test_a_run_ending_between_periodic_checkpoints_saves_last(tmp_path):
    assert run(FinalCheckpoint(tmp_path), 0, [10, 20], 25) == [tmp_path / "last.ckpt"]
    assert run(FinalCheckpoint(str(tmp_path)), 0, [], 3) == [tmp_path / "last.ckpt"]


def test_an_up_to_date_checkpoint_is_not_written_again(tmp_path):
    assert run(FinalCheckpoint(tmp_path), 0, [10, 20], 20) == []
    assert run(FinalCheckpoint(tmp_path), 20, [], 20) == []  # resumed a finished run
