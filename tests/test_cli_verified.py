"""Atomic, checksummed checkpoint files: every complete file verifies, damage is named."""

import os
import random
import signal
import subprocess
import sys
import time
import zipfile

import pytest
import torch

from an_lightning.cli.verified import (
    DamagedCheckpoint,
    is_temporary,
    sidecar,
    verify,
    write_verified,
)


def damage(path, size=65536):
    """Overwrite ``size`` bytes in the middle of ``path`` with random bytes (same length)."""
    n = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(max(n // 2 - size // 2, 0))
        f.write(os.urandom(min(size, n)))


def state(value: float, n: int = 100_000) -> dict:
    return {"g_iter": int(value), "state_dict": {"w": torch.full((n,), value)}}


def test_a_written_file_verifies_and_its_sidecar_is_sha256sum_format(tmp_path):
    path = tmp_path / "last.ckpt"
    digest = write_verified(state(1), path)
    assert verify(path) is True
    assert sidecar(path).read_text() == f"{digest}  last.ckpt\n"
    assert torch.load(path, weights_only=True)["state_dict"]["w"][0] == 1
    assert not [p for p in tmp_path.iterdir() if is_temporary(p)]


def test_random_bytes_in_the_middle_are_detected(tmp_path):
    path = tmp_path / "last.ckpt"
    write_verified(state(1), path)
    damage(path)
    with pytest.raises(DamagedCheckpoint, match="SHA-256 does not match"):
        verify(path)


def test_an_earlier_version_still_verifies_after_a_rewrite(tmp_path):
    """A kill between the sidecar's and the file's rename leaves the old file: still good."""
    path = tmp_path / "last.ckpt"
    write_verified(state(1), path)
    old = path.read_bytes()
    write_verified(state(2), path)
    assert verify(path)
    path.write_bytes(old)  # what the kill between the two renames leaves
    assert verify(path) is True
    path.write_bytes(old[:-10])  # a torn file, which the renames never produce
    with pytest.raises(DamagedCheckpoint):
        verify(path)


def test_files_without_a_sidecar_are_checked_by_their_zip_crcs(tmp_path):
    path = tmp_path / "other.ckpt"
    torch.save(state(3), path)
    assert verify(path) is False
    damage(path, 4096)
    with pytest.raises(DamagedCheckpoint, match="CRC"):
        verify(path)
    (tmp_path / "text.ckpt").write_text("not an archive")
    with pytest.raises(DamagedCheckpoint, match="not a readable checkpoint"):
        verify(tmp_path / "text.ckpt")
    assert zipfile.is_zipfile(path)


WRITER = """
import pathlib, sys, torch
from an_lightning.cli.verified import write_verified
path, i = pathlib.Path(sys.argv[1]), 0
while True:
    i += 1
    write_verified({"i": i, "w": torch.full((2_000_000,), float(i))}, path)
    print(i, flush=True)
"""


@pytest.mark.slow
def test_kill_9_at_random_moments_always_leaves_a_verified_file(tmp_path):
    """SIGKILL a process that rewrites an 8 MB checkpoint in a loop, 12 times at random
    moments (most land mid-save): the file is always complete, verified and consistent."""
    path = tmp_path / "last.ckpt"
    rng, mid_save = random.Random(0), 0
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE)
        assert proc.stdout.readline()  # at least one save done
        time.sleep(rng.uniform(0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert verify(path) is True
        loaded = torch.load(path, weights_only=True)
        assert torch.equal(loaded["w"], torch.full((2_000_000,), float(loaded["i"])))
        partial = [p for p in tmp_path.iterdir() if is_temporary(p)]
        mid_save += bool(partial)  # the kill landed mid-save (fit removes these at start)
        for p in partial:
            p.unlink()
    assert mid_save >= 1  # the test did hit saves in progress


def test_a_failed_write_leaves_the_previous_file_and_no_partial_one(tmp_path, monkeypatch):
    """A full disk: the save fails, the old checkpoint still verifies, nothing is left."""
    import errno

    path = tmp_path / "last.ckpt"
    write_verified(state(1), path)
    before = path.read_bytes()

    def full_disk(obj, f):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_verified(state(2), path)
    assert path.read_bytes() == before and verify(path) is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt", "last.ckpt.sha256"]
