"""Atomic replacement: a reader, or another writer, never sees a half-written file."""

import os
import socket

import pytest

from an_lightning.files import Busy, exclusive, replace_atomically, temporary


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "records.json"
    replace_atomically(path, lambda f: f.write(b"old"))

    def broken(file):
        file.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_atomically(path, broken)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["records.json"]


def test_writers_get_their_own_hidden_temporary_names(tmp_path):
    path = tmp_path / "sub" / "x.pt"
    names = {temporary(path) for _ in range(50)}
    assert len(names) == 50
    assert all(p.parent == path.parent and p.name.startswith(".x.pt.") for p in names)
    replace_atomically(path, lambda f: f.write(b"new"))  # creates the folder
    assert path.read_bytes() == b"new"


def test_a_held_lock_is_busy_to_a_second_taker_and_names_its_holder(tmp_path):
    lock = tmp_path / "out" / ".lock"
    holder = f"{socket.gethostname()} pid {os.getpid()}"
    with exclusive(lock), pytest.raises(Busy, match=holder), exclusive(lock, wait=False):
        pytest.fail("entered a lock that is held")
    with exclusive(lock, wait=False):  # released: free again
        pass
    assert lock.exists()  # never deleted
