"""A SIGTERM stop inside a W&B sweep marks the run preempting, and nothing else does."""

import pytest
import wandb
from lightning.pytorch.utilities.exceptions import SIGTERMException

from an_lightning.cli.preemption import SweepPreemption


class Run:
    def __init__(self) -> None:
        self.marked = 0

    def mark_preempting(self) -> None:
        self.marked += 1


@pytest.fixture
def run(monkeypatch):
    current = Run()
    monkeypatch.setattr(wandb, "run", current)
    monkeypatch.setenv("WANDB_SWEEP_ID", "abc123")
    return current


def test_sigterm_in_a_sweep_marks_the_run(run):
    SweepPreemption().on_exception(None, None, SIGTERMException())
    assert run.marked == 1


def test_other_exceptions_do_not(run):
    SweepPreemption().on_exception(None, None, RuntimeError("crash"))
    SweepPreemption().on_exception(None, None, KeyboardInterrupt())
    assert run.marked == 0


def test_outside_a_sweep_nothing_is_marked(run, monkeypatch):
    monkeypatch.delenv("WANDB_SWEEP_ID")
    SweepPreemption().on_exception(None, None, SIGTERMException())
    assert run.marked == 0
    monkeypatch.setenv("WANDB_SWEEP_ID", "abc123")
    monkeypatch.setattr(wandb, "run", None)  # a sweep run that never started W&B
    SweepPreemption().on_exception(None, None, SIGTERMException())
