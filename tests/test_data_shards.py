import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from data_fixtures import class_folders, shard_members, truncate, write_image
from error_fixtures import command_refuses, refuses
from PIL import Image

from an_lightning.cli.write_shards import main
from an_lightning.data import shards
from an_lightning.data.preprocess import sngan_resize
from an_lightning.data.shards import Options, write_shards

CLASSES = ["n01", "n02", "n03"]


@pytest.fixture
def src(tmp_path):
    root = tmp_path / "train"
    class_folders(root, CLASSES, 7)
    truncate(root / "n02" / "n02_3.JPEG", 300)
    (root / "n03" / "fake.jpg").write_text("not a jpeg")
    return root


def _all_samples(out: Path) -> list[dict]:
    samples = []
    for tar in sorted(out.glob("*.tar")):
        for key, members in shard_members(tar).items():
            samples.append({"key": key, "shard": tar.name, **members})
    return samples


def test_writes_shuffled_labelled_shards_with_index(src, tmp_path):
    out = tmp_path / "shards"
    index = write_shards(src, out, Options(size=16, shard_size=5), workers=2, progress=False)
    samples = _all_samples(out)
    sources = [s["src"].decode() for s in samples]
    assert len(sources) == len(set(sources)) == 20  # 22 files, 2 unreadable
    assert sources != sorted(sources)  # shuffled before writing
    for s in samples:
        assert int(s["cls"]) == CLASSES.index(s["src"].decode().split("/")[0])
        assert Image.open(io.BytesIO(s["jpg"])).size == (16, 16)
    assert index["num_samples"] == 20 and index["num_classes"] == 3
    assert index["class_counts"] == [7, 6, 7]
    assert index["num_bad"] == 2
    assert sorted(b["key"] for b in index["bad"]) == ["n02/n02_3.JPEG", "n03/fake.jpg"]
    per_shard = {s["name"]: s["num_samples"] for s in index["shards"]}
    assert per_shard == {t.name: len(shard_members(t)) for t in out.glob("*.tar")}
    assert len(per_shard) == 5 and index["pattern"] == "shard-{000000..000004}.tar"
    assert json.loads((out / "index.json").read_text()) == index


def test_png_shards_are_lossless(tmp_path):
    root = tmp_path / "flat"
    img = write_image(root / "a.png", (16, 16), 5, "PNG")
    out = tmp_path / "out"
    index = write_shards(root, out, Options(size=16, fmt="png"), progress=False)
    (sample,) = _all_samples(out)
    assert np.array_equal(
        np.array(Image.open(io.BytesIO(sample["png"]))), np.array(Image.open(img))
    )
    assert int(sample["cls"]) == -1 and index["num_classes"] == 0  # unlabelled (inpainting)


def test_lossless_copies_of_the_first_samples_are_listed_in_the_index(src, tmp_path):
    out = tmp_path / "shards"
    index = write_shards(
        src, out, Options(size=16, shard_size=5), progress=False, reference_images=8
    )
    entry = index["lossless_reference"]
    copies = sorted((out / "lossless").glob("*/*.png"))
    samples = {s["key"]: s for s in _all_samples(out)}
    # The first 8 positions of the shuffled order, less the unreadable files among them.
    assert entry["dir"] == "lossless" and entry["shard_size"] == 5
    assert entry["count"] == len(copies) == len([k for k in samples if int(k) < 8]) >= 6
    for png in copies:
        sample = samples[png.stem]
        assert int(png.parent.name) == int(sample["cls"])
        original = Image.open(src / sample["src"].decode())
        want = np.array(sngan_resize(original, 16))
        got = np.array(Image.open(png))
        assert got.dtype == np.uint8 and np.array_equal(got, want)  # the pixels before JPEG
        jpeg = np.array(Image.open(io.BytesIO(sample["jpg"])))
        assert not np.array_equal(jpeg, want)  # what the shard holds is lossy
        assert np.abs(jpeg.astype(int) - want).mean() < 32  # but close (4:2:0 chroma)

    none = write_shards(
        src, tmp_path / "none", Options(size=16), progress=False, reference_images=0
    )
    assert "lossless_reference" not in none and not (tmp_path / "none" / "lossless").exists()
    png = write_shards(src, tmp_path / "png", Options(size=16, fmt="png"), progress=False)
    assert "lossless_reference" not in png and not (tmp_path / "png" / "lossless").exists()


def test_resume_after_interruption_writes_each_sample_once(src, tmp_path, monkeypatch):
    out = tmp_path / "shards"
    opts = Options(size=16, shard_size=4)
    real, calls = shards.write_shard, []

    def crash_after_two(*args, **kwargs):
        if len(calls) == 2:
            (out / "shard-000002.tar.tmp").write_bytes(b"half a shard")
            raise KeyboardInterrupt
        calls.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(shards, "write_shard", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        write_shards(src, out, opts, workers=2, progress=False)
    assert sorted(p.name for p in out.glob("*.tar")) == ["shard-000000.tar", "shard-000001.tar"]
    assert not (out / "index.json").exists()
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("*.tar")}

    monkeypatch.setattr(shards, "write_shard", real)
    index = write_shards(src, out, opts, workers=2, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.tar") if p.name in first} == first
    assert not list(out.glob("*.tmp"))
    sources = [s["src"] for s in _all_samples(out)]
    assert len(sources) == len(set(sources)) == index["num_samples"] == 20
    copies = sorted(p.stem for p in (out / "lossless").glob("*/*.png"))
    assert copies == sorted(s["key"] for s in _all_samples(out))  # all 20 (default 50 000)
    assert index["lossless_reference"]["count"] == 20

    progress = out / "progress.jsonl"
    lines = progress.read_text().splitlines()
    progress.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])  # cut mid-record
    assert write_shards(src, out, opts, workers=2, progress=False) == index  # redone

    fresh = write_shards(src, tmp_path / "fresh", opts, progress=False)
    assert fresh["shards"] == index["shards"]  # same plan: same samples in the same shards


def test_never_overwrites_foreign_or_different_output(src, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="not empty"):
        write_shards(src, out, Options(size=16), progress=False)
    assert (out / "thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]

    done = tmp_path / "done"
    write_shards(src, done, Options(size=16, shard_size=8), progress=False)
    before = {p: p.read_bytes() for p in done.rglob("*") if p.is_file()}
    with pytest.raises(FileExistsError, match="other options"):
        write_shards(src, done, Options(size=32, shard_size=8), progress=False)
    with pytest.raises(FileExistsError, match="started with --reference-images 50000"):
        write_shards(src, done, Options(size=16, shard_size=8), progress=False, reference_images=3)
    assert {p: p.read_bytes() for p in done.rglob("*") if p.is_file()} == before
    with pytest.raises(ValueError, match="inside the source"):
        write_shards(src, src / "shards", Options(size=16), progress=False)


def test_cli(src, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main([str(src), str(out), "--size", "8", "--shard-size", "10", "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "20 samples, 3 classes in 3 shards" in printed and "n03/fake.jpg" in printed
    assert "does not exist" in refuses(main, [tmp_path / "missing", tmp_path / "x"], capsys)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--size", "0"], "--size must be 1 or more, got 0"),
        (["--shard-size", "-1"], "--shard-size must be 1 or more"),
        (["--quality", "0"], "--quality must be 1 or more"),
        (["--quality", "101"], "--quality must be 100 or less"),
        (["--workers", "0"], "--workers must be 1 or more"),
        (["--reference-images", "-1"], "--reference-images must be 0 or more"),
        (["--prefix", "a/b"], "shard prefix 'a/b' must be a plain file name"),
        (["--ground-truth", "/no/gt.txt"], "ground-truth file /no/gt.txt does not exist"),
        (["--classes", "/no/classes.txt"], "cannot read class names from /no/classes.txt"),
    ],
)
def test_bad_options_write_nothing(src, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    assert message in refuses(main, [src, out, *extra], capsys)
    assert not out.exists()


def test_bad_output_paths_write_nothing(src, tmp_path, capsys):
    file = tmp_path / "file"
    file.write_text("a file")
    assert f"{file} is a file, but names the folder" in refuses(main, [src, file], capsys)
    line = refuses(main, [src, file / "out"], capsys)
    assert f"cannot be created: {file} is a file" in line
    assert "inside the source" in refuses(main, [src, src / "shards"], capsys)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("precious")
    assert "is not empty" in refuses(main, [src, foreign], capsys)  # a FileExistsError
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_a_source_without_one_readable_image_writes_nothing(tmp_path, capsys):
    broken = tmp_path / "broken"
    for c in ("a", "b"):
        for i in range(3):
            (broken / c).mkdir(parents=True, exist_ok=True)
            (broken / c / f"{i}.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    out = tmp_path / "out"
    for workers in ("1", "2"):
        line = refuses(main, [broken, out, "--workers", workers, "--no-progress"], capsys)
        assert f"none of the 6 images in {broken} could be read" in line
        assert "nothing was written" in line and not out.exists()
    (tmp_path / "empty").mkdir()
    line = refuses(main, [tmp_path / "empty", out], capsys)
    assert f"no images found in {tmp_path / 'empty'}" in line and not out.exists()
    line = command_refuses(
        "an_lightning.data.shards", broken, out, "--no-progress", not_created=[out]
    )
    assert "could be read" in line


@pytest.mark.slow
def test_killed_process_resumes_without_duplicates(tmp_path):
    root = tmp_path / "big"
    for i in range(48):
        write_image(root / f"c{i % 2}" / f"{i}.jpg", (900, 700), i)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "an_lightning.data.shards", str(root), str(out)]
    cmd += ["--size", "32", "--shard-size", "4", "--workers", "1", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("*.tar"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = len(list(out.glob("*.tar")))
    assert 2 <= written < 12 and not (out / "index.json").exists(), "killed too late"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    sources = [s["src"] for s in _all_samples(out)]
    assert len(sources) == len(set(sources)) == 48
    assert len(list(out.glob("*.tar"))) == 12


def test_a_second_conversion_into_a_folder_being_written_is_refused(tmp_path, capsys):
    """A conversion runs (stopped with SIGSTOP once its first shard is on disk, so the
    folder holds still); a second one into the same folder is refused in one line naming
    the first's pid, and changes nothing; the first, resumed, ends with every sample once.
    Unlocked, the second deleted the first's half-written shard and appended its own
    progress records."""
    root = tmp_path / "big"
    for i in range(16):
        write_image(root / f"c{i % 2}" / f"{i}.jpg", (900, 700), i)
    out = tmp_path / "out"
    args = [str(root), str(out), "--size", "32", "--shard-size", "2", "--workers", "1"]
    cmd = [sys.executable, "-m", "an_lightning.data.shards", *args, "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list(out.glob("*.tar")):
            time.sleep(0.02)
        first.send_signal(signal.SIGSTOP)
        assert not (out / "index.json").exists(), "the first conversion ended too soon"
        before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
        line = refuses(main, [*args, "--no-progress"], capsys)
        assert f"another conversion is writing into {out.resolve()}" in line
        assert f"pid {first.pid}" in line and "nothing was written" in line
        assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=300) == 0, first.stderr.read().decode()
    sources = [s["src"] for s in _all_samples(out)]
    assert len(sources) == len(set(sources)) == 16


def test_a_cut_off_progress_header_starts_the_conversion_over(src, tmp_path):
    out = tmp_path / "shards"
    out.mkdir()
    (out / "progress.jsonl").write_text('{"fingerprint": "ab')  # killed while writing it
    index = write_shards(src, out, Options(size=16, shard_size=8), progress=False)
    assert index["num_samples"] == 20 and len(_all_samples(out)) == 20


def test_cli_imagenet_val_layout_uses_the_train_class_order(src, tmp_path, capsys):
    train = tmp_path / "train_shards"
    assert main([str(src), str(train), "--size", "8", "--no-progress", "--workers", "1"]) == 0
    val = tmp_path / "val"
    for i in range(3):
        write_image(val / f"ILSVRC2012_val_{i + 1:08d}.JPEG", (20, 20), i)
    gt = tmp_path / "LOC_val_solution.csv"
    gt.write_text(
        "ImageId,PredictionString\n"
        + "".join(f"ILSVRC2012_val_{i + 1:08d},{CLASSES[2 - i]} 1 2 3 4\n" for i in range(3))
    )
    out = tmp_path / "val_shards"
    argv = [str(val), str(out), "--size", "8", "--ground-truth", str(gt), "--no-progress"]
    assert main([*argv, "--classes", str(train / "index.json")]) == 0
    labels = {s["src"].decode(): int(s["cls"]) for s in _all_samples(out)}
    assert labels == {f"ILSVRC2012_val_{i + 1:08d}.JPEG": 2 - i for i in range(3)}
    assert json.loads((out / "index.json").read_text())["classes"] == CLASSES


def test_writer_cli_does_not_import_lightning():
    code = "import sys, an_lightning.data.shards; print('lightning' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
