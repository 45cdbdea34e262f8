import json

import pytest

from an_lightning.data.catalog import default_index, expand_shards, read_index, shard_counts


@pytest.fixture
def shard_dir(tmp_path):
    for i in range(3):
        (tmp_path / f"shard-{i:06d}.tar").write_bytes(b"")
    return tmp_path


def test_brace_and_glob_patterns(shard_dir):
    brace = expand_shards(str(shard_dir / "shard-{000000..000002}.tar"))
    assert [p.rsplit("/", 1)[1] for p in brace] == [f"shard-{i:06d}.tar" for i in range(3)]
    assert expand_shards(str(shard_dir / "shard-*.tar")) == brace
    assert default_index(brace) == shard_dir / "index.json"


def test_missing_and_empty_patterns_fail_early(shard_dir):
    with pytest.raises(FileNotFoundError, match=r"1 of 4 shards .*shard-000003.tar"):
        expand_shards(str(shard_dir / "shard-{000000..000003}.tar"))
    with pytest.raises(FileNotFoundError, match="matches no files"):
        expand_shards(str(shard_dir / "val-*.tar"))
    with pytest.raises(ValueError, match="pattern is empty"):
        expand_shards(" ")


def test_unreadable_or_foreign_index(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_index(tmp_path / "index.json")
    (tmp_path / "index.json").write_text('{"num_classes": 3, "shards": [')
    with pytest.raises(ValueError, match="unreadable"):
        read_index(tmp_path / "index.json")
    (tmp_path / "index.json").write_text('{"num_classes": 3}')
    with pytest.raises(ValueError, match="lacks"):
        read_index(tmp_path / "index.json")


def test_shard_counts_must_come_from_the_right_index(tmp_path):
    index = {"shards": [{"name": "shard-000000.tar", "num_samples": 5}]}
    assert shard_counts(index, [str(tmp_path / "shard-000000.tar")], "i.json") == [5]
    with pytest.raises(ValueError, match=r"not listed in i\.json"):
        shard_counts(index, [str(tmp_path / "other-000000.tar")], "i.json")
    json.dumps(index)  # the index is plain JSON
