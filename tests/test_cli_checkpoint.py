"""Loading tasks from run directories and checkpoints, and the errors for bad paths."""

import shutil

import pytest
import torch

from an_lightning.cli.checkpoint import load_task, resolve_checkpoint, task_class
from an_lightning.cli.run_dir import RunError
from an_lightning.tasks import AdversarialTask, ClassConditionalGAN


class OtherTask(AdversarialTask):
    pass


def test_a_run_directory_resolves_to_its_last_checkpoint(tiny_run):
    assert resolve_checkpoint(tiny_run) == tiny_run / "checkpoints" / "last.ckpt"
    task, ckpt = load_task(tiny_run)
    assert isinstance(task, ClassConditionalGAN) and not task.training
    assert task.g_iter == 4 and ckpt.name == "last.ckpt"
    saved = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    assert torch.equal(
        task.state_dict()["generator.linear.weight"], saved["generator.linear.weight"]
    )


def test_a_checkpoint_file_is_taken_as_is(tiny_run):
    periodic = tiny_run / "checkpoints" / "g_iter=0000004.ckpt"
    assert resolve_checkpoint(periodic) == periodic
    assert task_class(periodic) is ClassConditionalGAN


def test_missing_and_empty_paths_say_what_to_pass(tmp_path):
    with pytest.raises(RunError, match="does not exist"):
        resolve_checkpoint(tmp_path / "nope.ckpt")
    with pytest.raises(RunError, match="holds no checkpoint"):
        resolve_checkpoint(tmp_path)


def test_a_run_directory_is_read_without_moving_its_damaged_checkpoints(tiny_run, tmp_path, capsys):
    """What sample, layouts, evaluate and inpaint see: damaged files are skipped with a
    warning, or named in the one error line when nothing intact is left; the run
    directory is never changed (only fit, which holds it, sets them aside)."""
    from test_cli_verified import damage

    run = tmp_path / "run"
    shutil.copytree(tiny_run / "checkpoints", run / "checkpoints")
    last, periodic = run / "checkpoints" / "last.ckpt", run / "checkpoints" / "g_iter=0000004.ckpt"
    damage(last)
    before = sorted(p.name for p in run.rglob("*"))
    assert resolve_checkpoint(run) == periodic
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"warning: skipping damaged checkpoint {last} (")
    damage(periodic)
    with pytest.raises(RunError, match="holds no intact checkpoint, only damaged ones") as got:
        resolve_checkpoint(run)
    assert str(last) in str(got.value) and str(periodic) in str(got.value)
    assert "\n" not in str(got.value) and not capsys.readouterr().err
    assert sorted(p.name for p in run.rglob("*")) == before


def test_files_that_are_not_training_checkpoints(tmp_path):
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint")
    with pytest.raises(RunError, match="cannot read"):
        task_class(text)
    bare = tmp_path / "weights.ckpt"
    torch.save({"state_dict": {}}, bare)
    with pytest.raises(RunError, match="not an an_lightning training checkpoint"):
        task_class(bare)


def test_the_wrong_kind_of_checkpoint_is_named(tiny_run):
    with pytest.raises(
        RunError, match="is a ClassConditionalGAN checkpoint; this command needs an OtherTask"
    ):
        load_task(tiny_run, OtherTask)


def test_a_diverged_generator_is_refused(tiny_run, tmp_path):
    from an_lightning.cli.verified import write_verified

    state = torch.load(tiny_run / "checkpoints" / "last.ckpt", weights_only=False)
    state["state_dict"]["g_ema.module.linear.weight"][0, 0] = float("nan")
    nan = tmp_path / "nan.ckpt"
    write_verified(state, nan)
    with pytest.raises(RunError, match=r"diverged generator \(g_ema.linear.weight is NaN"):
        load_task(nan)


def test_a_damaged_checkpoint_file_is_refused(tiny_run, tmp_path):
    from test_cli_verified import damage

    from an_lightning.cli.verified import write_verified

    copy = tmp_path / "copy.ckpt"
    write_verified(torch.load(tiny_run / "checkpoints" / "last.ckpt", weights_only=False), copy)
    damage(copy)
    with pytest.raises(RunError, match="is damaged: its SHA-256 does not match"):
        resolve_checkpoint(copy)
