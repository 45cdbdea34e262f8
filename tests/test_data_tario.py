import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from an_lightning.data.tario import TarFormatError, _byte_sum, tar_members, tar_samples

LONG = "deep/" * 30 + "000001.jpg"  # > 100 characters: needs GNU/PAX/ustar-prefix names


def _tar(path: Path, members: dict[str, bytes], fmt=tarfile.PAX_FORMAT) -> Path:
    with tarfile.open(path, "w", format=fmt) as tar:
        info = tarfile.TarInfo("folder")
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1.5  # a float mtime makes tarfile write PAX headers
            tar.addfile(info, io.BytesIO(data))
    return path


MEMBERS = {"a/000000.cls": b"3", "a/000000.jpg": b"x" * 700, LONG: b"y" * 512, "b.txt": b""}


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_members_match_tarfile(tmp_path, fmt):
    path = _tar(tmp_path / "t.tar", MEMBERS, fmt)  # ustar stores LONG with its prefix field
    with path.open("rb") as f:
        assert dict(tar_members(f)) == MEMBERS


def test_samples_group_by_key_like_webdataset(tmp_path):
    path = _tar(
        tmp_path / "s.tar", {"k1.cls": b"1", "k1.JPG": b"j1", "k2.cls": b"2", "k2.seg.png": b"p"}
    )
    samples = list(tar_samples([{"url": str(path)}], handler=lambda exc: False))
    assert samples == [
        {"__key__": "k1", "__url__": str(path), "cls": b"1", "jpg": b"j1"},
        {"__key__": "k2", "__url__": str(path), "cls": b"2", "seg.png": b"p"},
    ]


def test_truncated_and_corrupt_archives_raise_through_the_handler(tmp_path):
    good = _tar(tmp_path / "good.tar", {f"{i:03d}.cls": b"%d" % i for i in range(6)})
    data = good.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: 512 * 13 + 100])  # dir, 3 members of 4 blocks, then cut
    with cut.open("rb") as f, pytest.raises(EOFError, match="truncated"):
        list(tar_members(f))
    bad = tmp_path / "bad.tar"
    bad.write_bytes(data[:600] + b"\x01" + data[601:])  # flip a byte of the 2nd header
    with bad.open("rb") as f, pytest.raises(TarFormatError, match="checksum"):
        list(tar_members(f))
    errors = []
    urls = [{"url": str(p)} for p in (cut, bad, good)]
    samples = list(tar_samples(urls, handler=lambda exc: errors.append(exc) or True))
    assert [e.args[-1] for e in errors] == [str(cut), str(bad)]
    keys = [s["__key__"] for s in samples]
    # 000 and 001 of the cut shard; its pending 002 is dropped; then the intact shard
    assert keys == ["000", "001"] + [f"{i:03d}" for i in range(6)]
    assert list(tar_samples(urls, handler=lambda exc: False)) == samples[:2]


def test_byte_sum_is_exact_for_any_header():
    rng = np.random.default_rng(0)
    headers = [bytes(512), b"\xff" * 512, b"\x01" * 512, bytes(range(256)) * 2]
    headers += [rng.integers(0, 256, 512, dtype=np.uint8).tobytes() for _ in range(2000)]
    headers += [rng.choice([0, 48, 255], 512).astype(np.uint8).tobytes() for _ in range(2000)]
    assert all(_byte_sum(h) == sum(h) for h in headers)


def test_a_failure_reports_the_samples_the_index_promised_beyond_those_delivered(tmp_path):
    good = _tar(tmp_path / "good.tar", {f"{i:03d}.cls": b"%d" % i for i in range(6)})
    cut = tmp_path / "cut.tar"
    cut.write_bytes(good.read_bytes()[: 512 * 13 + 100])  # delivers 000 and 001
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    urls = [{"url": str(p)} for p in (cut, garbage, good)]
    errors = []
    expected = {str(cut): 6, str(garbage): 6, str(good): 6}
    samples = list(tar_samples(urls, lambda exc: errors.append(exc) or True, expected))
    assert len(samples) == 2 + 6
    assert [(e.args[-1], e.samples_lost) for e in errors] == [(str(cut), 4), (str(garbage), 6)]
    errors.clear()
    list(tar_samples(urls, lambda exc: errors.append(exc) or True))  # no counts known
    assert [e.samples_lost for e in errors] == [1, 1]
