"""The evaluation command on a checkpoint trained in the test."""

import json
import math
import multiprocessing
import shutil
from pathlib import Path

import pytest
import torch
from data_fixtures import class_folders
from error_fixtures import command_refuses, refuses
from process_fixtures import run_together

from an_lightning import evaluate
from an_lightning.data.shards import Options, write_shards
from an_lightning.metrics.features import load_feature_network, to_uint8
from an_lightning.metrics.frechet import FeatureMoments, frechet_distance
from an_lightning.metrics.reference import ReferenceStats
from an_lightning.metrics.sampler import ema_sampler, raw_sampler
from an_lightning.metrics.suite import balanced_labels
from an_lightning.tasks import ClassConditionalGAN


def run(tiny_run, toy_features, tmp_path, *extra):
    args = [str(tiny_run), "--feature-network", str(toy_features), "--device", "cpu"]
    args += ["--cache-dir", str(tmp_path / "cache"), "--batch-size", "8", "--num-workers", "0"]
    return evaluate.main([*args, *extra])


def test_scores_raw_and_ema_generators_and_appends_a_record(
    tiny_run, toy_features, tmp_path, capsys
):
    args = ("--num-samples", "20", "--reference-images", "40", "--metrics", "fid,kid")
    result = run(tiny_run, toy_features, tmp_path, *args)
    out = capsys.readouterr().out
    assert "generator iteration 4" in out and "fid/raw" in out and "fid/ema" in out
    assert result["feature_network"].startswith("file:toy.pt:") and result["n_fid"] == 20
    assert result["generators"] == "raw,ema"
    assert [k for k in result if "/" in k] == [
        "fid/raw", "fid/ema", "kid_mean/raw", "kid_mean/ema", "kid_std/raw", "kid_std/ema"
    ]  # fmt: skip
    assert (
        result["fid/raw"] > 0 and result["fid/ema"] > 0 and result["fid/raw"] != result["fid/ema"]
    )
    assert result["reference"].startswith("DigitsDataModule-") and result["reference"].endswith(
        "-40"
    )
    # The cached reference is what was used: recompute both FIDs from it, with the same
    # latents and labels for the two generators.
    stats_file = next((tmp_path / "cache").glob("*.pt"))
    ref = ReferenceStats.read(stats_file)
    assert ref.overall.count == 40 and len(ref.kid_features) == 20
    features = load_feature_network(str(toy_features))
    task = ClassConditionalGAN.load_from_checkpoint(tiny_run / "checkpoints" / "last.ckpt")
    for name, sampler in (("raw", raw_sampler), ("ema", ema_sampler)):
        sample, moments = sampler(task, 0), FeatureMoments(32)
        for labels in balanced_labels(20, 10, 0).split(8):
            moments.update(features(sample(labels))["pool"])
        assert frechet_distance(moments.compute(), ref.overall) == pytest.approx(
            result[f"fid/{name}"], rel=1e-6
        )

    one = run(tiny_run, toy_features, tmp_path, *args, "--generator", "ema")
    assert one["generators"] == "ema" and one["fid/ema"] == pytest.approx(result["fid/ema"])
    assert not [k for k in one if k.endswith("/raw")]
    old = run(tiny_run, toy_features, tmp_path, *args, "--raw")  # the old flag still works
    assert old["generators"] == "raw" and old["fid/raw"] == pytest.approx(result["fid/raw"])
    assert "--raw is the old spelling of --generator raw" in capsys.readouterr().err
    records = json.loads((tiny_run / "checkpoints" / "last.eval.json").read_text())
    assert [r["results"]["generators"] for r in records[-3:]] == ["raw,ema", "ema", "raw"]
    assert records[-1]["g_iter"] == 4 and records[-1]["task"] == "ClassConditionalGAN"


def test_a_truncated_evaluation_says_so_and_uses_truncated_latents(
    tiny_run, toy_features, tmp_path
):
    args = ("--num-samples", "20", "--reference-images", "40", "--metrics", "fid")
    plain = run(tiny_run, toy_features, tmp_path, *args, "--generator", "ema")
    cut = run(tiny_run, toy_features, tmp_path, *args, "--generator", "ema", "--truncation", "0.5")
    assert "truncation" not in plain and cut["truncation"] == 0.5
    ref = ReferenceStats.read(next((tmp_path / "cache").glob("*.pt")))
    features = load_feature_network(str(toy_features))
    task = ClassConditionalGAN.load_from_checkpoint(tiny_run / "checkpoints" / "last.ckpt")
    sample, moments = ema_sampler(task, 0, truncation=0.5), FeatureMoments(32)
    for labels in balanced_labels(20, 10, 0).split(8):
        moments.update(features(sample(labels))["pool"])
    fid = frechet_distance(moments.compute(), ref.overall)
    assert fid == pytest.approx(cut["fid/ema"], rel=1e-6) and fid != pytest.approx(plain["fid/ema"])
    records = json.loads((tiny_run / "checkpoints" / "last.eval.json").read_text())
    assert records[-1]["results"]["truncation"] == 0.5


class MeanColourClassifier(torch.nn.Module):
    """A fixed 10-class classifier: uint8 images -> logits from their mean colour."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 10)
        torch.nn.init.normal_(
            self.linear.weight, std=3.0, generator=torch.Generator().manual_seed(1)
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.linear(images.float().mean((2, 3)) / 127.5 - 1)


def test_accuracy_counts_the_samples_a_classifier_assigns_to_their_class(
    tiny_run, toy_features, tmp_path
):
    net = MeanColourClassifier().eval()
    path = tmp_path / "digits_classifier.pt"
    torch.jit.save(torch.jit.script(net), str(path))
    args = ("--num-samples", "20", "--reference-images", "40", "--metrics", "accuracy")
    result = run(tiny_run, toy_features, tmp_path, *args, "--classifier", str(path))
    task = ClassConditionalGAN.load_from_checkpoint(tiny_run / "checkpoints" / "last.ckpt")
    for name, sampler in (("raw", raw_sampler), ("ema", ema_sampler)):
        sample, hits, top5 = sampler(task, 0), 0, 0
        for labels in balanced_labels(20, 10, 0).split(8):
            with torch.no_grad():
                logits = net(to_uint8(sample(labels)))
            hits += int((logits.argmax(1) == labels).sum())
            top5 += int((logits.topk(5).indices == labels[:, None]).any(1).sum())
        assert result[f"accuracy/{name}"] == pytest.approx(hits / 20)
        assert result[f"accuracy_top5/{name}"] == pytest.approx(top5 / 20)
    assert "fid/raw" not in result


def test_prdc_alone_keeps_the_real_features_it_needs(tiny_run, toy_features, tmp_path):
    args = ("--num-samples", "20", "--reference-images", "40", "--metrics", "prdc")
    result = run(tiny_run, toy_features, tmp_path, *args)
    for g in ("raw", "ema"):
        values = [result[f"{m}/{g}"] for m in ("precision", "recall", "density", "coverage")]
        assert all(math.isfinite(v) and v >= 0 for v in values)
        assert values[0] <= 1 and values[1] <= 1 and values[3] <= 1
    # PRDC's counts are shared by the generators: one key each, no /raw or /ema suffix.
    assert result["n_prdc_real"] == 20 and result["n_prdc_fake"] == 20 and result["prdc_k"] == 5
    assert not [k for k in result if k.startswith(("fid/", "kid_mean/"))]


def test_raw_contradicting_generator_is_a_usage_error(tiny_run, capsys):
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([str(tiny_run), "--raw", "--generator", "both"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--raw contradicts --generator both: use --generator alone" in err
    assert "Traceback" not in err


def test_intra_fid_over_chosen_classes(tiny_run, toy_features, tmp_path):
    result = run(
        tiny_run,
        toy_features,
        tmp_path,
        "--metrics",
        "intra_fid",
        "--intra-classes",
        "0,3",
        "--intra-samples",
        "6",
        "--reference-images",
        "200",
    )
    for g in ("raw", "ema"):
        assert set(result) >= {f"intra_fid/0/{g}", f"intra_fid/3/{g}", f"intra_fid/{g}"}
        mean = (result[f"intra_fid/0/{g}"] + result[f"intra_fid/3/{g}"]) / 2
        assert result[f"intra_fid/{g}"] == pytest.approx(mean)


def test_reference_from_an_image_folder_and_from_a_stats_file(tiny_run, toy_features, tmp_path):
    class_folders(tmp_path / "images", [f"c{i}" for i in range(10)], 3, size=(40, 36))
    first = run(
        tiny_run,
        toy_features,
        tmp_path,
        "--ref",
        str(tmp_path / "images"),
        "--metrics",
        "fid",
        "--num-samples",
        "10",
    )
    assert first["reference"].startswith("FolderDataModule-")
    stats = next((tmp_path / "cache").glob("FolderDataModule*.pt"))
    again = run(
        tiny_run,
        toy_features,
        tmp_path,
        "--ref",
        str(stats),
        "--metrics",
        "fid",
        "--num-samples",
        "10",
    )
    assert again["fid/ema"] == pytest.approx(first["fid/ema"]) and again["reference"] == str(stats)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--metrics", "fid,sharpness"], "unknown metrics"),
        (["--metrics", "is"], "IS needs class logits"),
        (["--metrics", "intra_fid", "--intra-classes", "0,12"], r"--intra-classes [12] outside"),
        (["--metrics", "intra_fid", "--intra-classes", "0,x"], "--intra-classes: expected"),
        (["--ref", "/no/such/data"], "--ref /no/such/data does not exist"),
        (["--ref", "/no/such/stats.pt"], "does not exist"),
        (["--num-samples", "1"], "--num-samples must be 2 or more, got 1"),
        (["--batch-size", "0"], "--batch-size must be 1 or more"),
        (["--reference-images", "0"], "--reference-images must be 1 or more"),
        (["--num-workers", "-1"], "--num-workers must be 0 or more"),
        (["--kid-subset-size", "1"], "--kid-subset-size must be 2 or more"),
        (["--device", "nope"], "--device 'nope' is not a torch device"),
        (["--is-classifier", "/no/such.pt"], "--classifier /no/such.pt does not exist"),
        (["--metrics", "fid,accuracy"], "accuracy needs --classifier FILE.pt"),
        (["--truncation", "0"], "--truncation must be a positive threshold"),
    ],
)
def test_bad_options_are_one_line_errors_and_write_nothing(
    tiny_run, toy_features, tmp_path, capsys, extra, message
):
    records = tiny_run / "checkpoints" / "last.eval.json"
    before = records.read_bytes() if records.exists() else None
    line = refuses(
        run_main, [tiny_run, toy_features, tmp_path, "--num-samples", "4", *extra], capsys
    )
    assert message in line
    assert not (tmp_path / "cache").exists()
    assert (records.read_bytes() if records.exists() else None) == before


def run_main(argv: list[str]):
    """``run`` for ``refuses``: (run dir, features, tmp folder, options...)."""
    return run(Path(argv[0]), Path(argv[1]), Path(argv[2]), *argv[3:])


def test_bad_files_are_refused_before_any_statistics_are_computed(
    tiny_run, toy_features, tmp_path, capsys
):
    not_script = tmp_path / "classifier.pt"
    not_script.write_bytes(b"not TorchScript")
    base = [tiny_run, toy_features, tmp_path, "--num-samples", "4"]
    line = refuses(run_main, [*base, "--metrics", "is", "--is-classifier", not_script], capsys)
    assert "is not a TorchScript file" in line and not (tmp_path / "cache").exists()
    line = refuses(evaluate.main, [tiny_run, "--feature-network", "nope"], capsys)
    assert "--feature-network nope is neither one of" in line
    cache = tmp_path / "cache-file"
    cache.write_text("a file")
    line = refuses(evaluate.main, [tiny_run, "--cache-dir", cache], capsys)
    assert f"--cache-dir {cache} is a file" in line

    copy = tmp_path / "copy" / "last.ckpt"  # a damaged record file next to a checkpoint
    copy.parent.mkdir()
    shutil.copy(tiny_run / "checkpoints" / "last.ckpt", copy)
    (copy.parent / "last.eval.json").write_text("[{truncated")
    line = refuses(run_main, [copy, toy_features, tmp_path, "--num-samples", "4"], capsys)
    assert "last.eval.json is unreadable" in line and "move it aside" in line
    assert (copy.parent / "last.eval.json").read_text() == "[{truncated"
    assert not (tmp_path / "cache").exists()


def test_missing_checkpoint_is_an_error(tmp_path, capsys):
    line = refuses(evaluate.main, [tmp_path / "missing.ckpt"], capsys)
    assert "does not exist" in line
    cache = tmp_path / "cache"
    line = command_refuses(
        "an_lightning.evaluate", tmp_path / "missing.ckpt", "--cache-dir", cache, "--device", "cpu"
    )
    assert f"{tmp_path / 'missing.ckpt'} does not exist" in line and not cache.exists()


@pytest.mark.slow
def test_offline_inception_end_to_end(tiny_run, tmp_path):
    """The wheel's TorchScript Inception, loaded offline, through the whole command."""
    result = evaluate.main(
        [
            str(tiny_run),
            "--num-samples",
            "10",
            "--reference-images",
            "20",
            "--metrics",
            "fid",
            "--cache-dir",
            str(tmp_path),
            "--batch-size",
            "10",
            "--device",
            "cpu",
            "--num-workers",
            "0",
        ]
    )
    assert result["feature_network"].startswith("tf-inception-2015-12-05:fid-helper:")
    assert all(math.isfinite(result[f"fid/{g}"]) and result[f"fid/{g}"] > 0 for g in ("raw", "ema"))


def test_reference_from_shards_must_match_the_model_size(tiny_run, toy_features, tmp_path, capsys):
    class_folders(tmp_path / "src", [f"c{i}" for i in range(10)], 2, size=(40, 36))
    write_shards(tmp_path / "src", tmp_path / "s32", Options(size=32, shard_size=8), progress=False)
    result = run(
        tiny_run,
        toy_features,
        tmp_path,
        "--ref",
        str(tmp_path / "s32"),
        "--metrics",
        "fid",
        "--num-samples",
        "10",
    )
    assert result["reference"].startswith("ShardDataModule-") and result["fid/ema"] > 0
    assert result["reference"].endswith("-lossless")  # the writer's PNG copies, not JPEGs
    write_shards(tmp_path / "src", tmp_path / "s16", Options(size=16, shard_size=8), progress=False)
    argv = [tiny_run, toy_features, tmp_path, "--ref", tmp_path / "s16", "--num-samples", "4"]
    assert "hold 16px images but the model makes 32px" in refuses(run_main, argv, capsys)


def test_inpainting_scores_one_generator(inpaint_run, capsys):
    line = refuses(evaluate.main, [inpaint_run, "--generator", "both"], capsys)
    assert "inpainting scores one generator" in line and "--generator raw" in line


def _append_records(ckpt: str, job: int, count: int) -> None:
    for i in range(count):
        evaluate.write_record(Path(ckpt), {"job": job, "i": i})


def test_evaluations_ending_at_once_keep_every_record(tmp_path):
    """Four processes append 15 records each to one checkpoint's record file at once: all
    60 are kept, in each job's order (unlocked, most were lost to each other's rewrites)."""
    ctx = multiprocessing.get_context("fork")  # the children run no tensor op: fork is safe
    ckpt = tmp_path / "last.ckpt"
    codes = run_together(ctx, _append_records, [(str(ckpt), j, 15) for j in range(4)], 120)
    assert codes == [0] * 4
    records = evaluate.read_records(ckpt)
    for j in range(4):
        assert [r["i"] for r in records if r["job"] == j] == list(range(15))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".last.eval.lock", "last.eval.json"]
