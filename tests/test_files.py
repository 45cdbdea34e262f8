"""Atomic replacement: a reader, or another writer, never sees a half-written file."""

import pytest

from an_lightning.files import replace_atomically, temporary


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
