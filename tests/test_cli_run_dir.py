"""Run directories: the one rule that picks a checkpoint, damage set aside, rotation."""

import os

import torch
from test_cli_verified import damage

from an_lightning.cli.run_dir import (
    config_filename,
    prune,
    remove_temporaries,
    select_checkpoint,
)
from an_lightning.cli.verified import sidecar, write_verified


def save(path, g_iter: int, mtime: int | None = None):
    write_verified({"g_iter": g_iter, "state_dict": {"w": torch.zeros(10_000)}}, path)
    if mtime is not None:
        os.utime(path, ns=(mtime, mtime))
    return path


def test_the_highest_iteration_wins_whatever_the_file_times(tmp_path):
    ckpts = tmp_path / "checkpoints"
    save(ckpts / "g_iter=0000020.ckpt", 20, mtime=10**18)
    save(ckpts / "last.ckpt", 30, mtime=5 * 10**17)  # older file, newer state
    save(tmp_path / "hpc_ckpt_1.ckpt", 19, mtime=2 * 10**18)
    assert select_checkpoint(tmp_path) == ckpts / "last.ckpt"
    assert select_checkpoint(tmp_path / "nothing") is None


def test_a_damaged_newest_is_set_aside_and_the_next_one_used(tmp_path, capsys):
    ckpts = tmp_path / "checkpoints"
    save(ckpts / "g_iter=0000020.ckpt", 20)
    last = save(ckpts / "last.ckpt", 30)
    damage(last)
    assert select_checkpoint(tmp_path) == ckpts / "g_iter=0000020.ckpt"  # by default: skipped
    assert last.exists() and "skipping damaged checkpoint" in capsys.readouterr().err
    skipped = []
    assert select_checkpoint(tmp_path, skipped=skipped) == ckpts / "g_iter=0000020.ckpt"
    assert len(skipped) == 1 and skipped[0].startswith(f"{last} (")
    assert not capsys.readouterr().err  # reported by the caller instead
    assert select_checkpoint(tmp_path, move_damaged=True) == ckpts / "g_iter=0000020.ckpt"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: checkpoint") and "moved to" in err[0]
    (moved,) = [p for p in (tmp_path / "damaged").iterdir() if p.suffix != ".sha256"]
    assert not last.exists() and sidecar(moved).exists()  # set aside, never deleted
    assert select_checkpoint(tmp_path) == ckpts / "g_iter=0000020.ckpt"  # same answer again


def test_an_unreadable_file_is_set_aside_too(tmp_path, capsys):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"\0" * 100)
    assert select_checkpoint(tmp_path, move_damaged=True) is None
    assert [p.name[:10] for p in (tmp_path / "damaged").iterdir()] == ["last.ckpt."]


def test_rotation_keeps_the_newest_periodic_and_last(tmp_path):
    ckpts = tmp_path / "checkpoints"
    for g in (10, 20, 30):  # 10 and 20: orphans of crashed segments
        save(ckpts / f"g_iter={g:07d}.ckpt", g)
    save(ckpts / "last.ckpt", 30)
    save(tmp_path / "hpc_ckpt_1.ckpt", 25)
    save(tmp_path / "hpc_ckpt_2.ckpt", 45)  # newer than the save: kept
    newest = save(ckpts / "g_iter=0000040.ckpt", 40)
    removed = prune(newest)
    left = sorted(p.name for p in tmp_path.rglob("*.ckpt"))
    assert left == ["g_iter=0000040.ckpt", "hpc_ckpt_2.ckpt", "last.ckpt"], left
    assert len(removed) == 4 and not any(sidecar(p).exists() for p in removed)
    assert prune(ckpts / "last.ckpt") == []  # only a periodic save rotates
    removed = prune(save(ckpts / "g_iter=0000050.ckpt", 50), keep=2)
    assert [p.name for p in removed] == ["hpc_ckpt_2.ckpt"]  # 45 < 50; periodic 40 kept
    assert (ckpts / "g_iter=0000040.ckpt").exists()


def test_partial_files_of_a_killed_writer_are_removed(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    partial = tmp_path / "checkpoints" / ".last.ckpt.123.tmp"
    partial.write_bytes(b"x")
    keep = save(tmp_path / "checkpoints" / "last.ckpt", 1)
    assert remove_temporaries(tmp_path) == [partial]
    assert keep.exists() and not partial.exists()


def test_config_yaml_belongs_to_the_first_segment_that_saved(tmp_path):
    assert config_filename(tmp_path) == "config.yaml"
    (tmp_path / "config.yaml").write_text("a start that failed before any checkpoint")
    assert config_filename(tmp_path) == "config.yaml"  # replaced: it configured nothing
    save(tmp_path / "checkpoints" / "last.ckpt", 2)
    assert config_filename(tmp_path) == "config.resume-1.yaml"
