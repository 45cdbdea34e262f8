"""The training entry point: run directories, resume, and clear errors on bad input."""

import csv
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from fit_fixtures import tiny_config, write

from an_lightning import fit
from an_lightning.metrics.reference import ReferenceStats

TESTS = Path(__file__).resolve().parent


def snapshot(folder: Path) -> dict[str, str]:
    """Digest of every file but the lock (which names its latest holder)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]


def test_fit_writes_a_run_directory_and_resumes(tmp_path, capsys):
    run = tmp_path / "run"
    config = write(tmp_path / "tiny.yaml", tiny_config(run))
    fit.main([str(config)])
    for name in ("checkpoints/last.ckpt", "checkpoints/g_iter=0000004.ckpt", "metrics.csv"):
        assert (run / name).is_file(), name
    assert (run / "config.yaml").is_file()
    assert sorted(p.name for p in (run / "samples").glob("class_*.png"))[0] == "class_0000.png"
    first = torch.load(run / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert first["g_iter"] == 4 and first["global_step"] == 4 * 3  # n_dis 2 + 1 G step
    assert "rank_generators" in first

    config_before = (run / "config.yaml").read_text()
    fit.main([str(config), "--model.init_args.max_g_steps=6"])  # the same command, longer
    assert "resuming from" in capsys.readouterr().out
    again = torch.load(run / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert again["g_iter"] == 6
    assert (run / "config.yaml").read_text() == config_before  # never overwritten
    assert (run / "config.resume-1.yaml").is_file()

    before = snapshot(run)
    fit.main([str(config), "--model.init_args.max_g_steps=6"])  # nothing left to do
    assert "already finished 6 generator iterations" in capsys.readouterr().out
    assert snapshot(run) == before

    # A budget that is no multiple of checkpoint_every (2): the end state is still saved.
    fit.main([str(config), "--model.init_args.max_g_steps=7"])
    final = torch.load(run / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert final["g_iter"] == 7


@pytest.mark.slow
def test_killed_and_resumed_run_matches_an_uninterrupted_one(tmp_path):
    """N iterations in one go == N/2, SIGKILL, resume: same counter, identical weights."""
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}

    def run(config: dict) -> subprocess.CompletedProcess:
        path = write(tmp_path / f"{Path(config['run_dir']).name}.yaml", config)
        cmd = [sys.executable, "-m", "an_lightning.fit", str(path)]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)

    whole = run(tiny_config(tmp_path / "whole", max_g_steps=8))
    assert whole.returncode == 0, whole.stderr[-2000:]

    killed_cfg = tiny_config(tmp_path / "killed", max_g_steps=8)
    killer = {"class_path": "train_callbacks.KillAt", "init_args": {"g_iter": 5}}
    killed_cfg["trainer"]["callbacks"] = [killer]
    killed = run(killed_cfg)
    assert killed.returncode == -9  # SIGKILL after G iteration 5; checkpoint from 4
    ckpt = tmp_path / "killed/checkpoints/last.ckpt"
    assert torch.load(ckpt, map_location="cpu", weights_only=False)["g_iter"] == 4

    del killed_cfg["trainer"]["callbacks"]
    resumed = run(killed_cfg)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = torch.load(tmp_path / "whole/checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    b = torch.load(ckpt, map_location="cpu", weights_only=False)
    assert a["g_iter"] == b["g_iter"] == 8
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key


def expect_error(argv: list[str], capsys, match: str) -> str:
    with pytest.raises(SystemExit) as exc:
        fit.main(argv)
    message = f"{exc.value.code} {capsys.readouterr().err}"
    assert exc.value.code not in (0, None) and match in message, message
    return message


def test_bad_input_fails_before_training_and_touches_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    config = write(tmp_path / "tiny.yaml", tiny_config(run))
    expect_error([str(tmp_path / "missing.yaml")], capsys, "does not exist")
    expect_error([str(config), "--model.init_args.bogus=1"], capsys, "bogus")
    bad_norm = tiny_config(run)
    bad_norm["model"]["init_args"]["generator"]["init_args"]["extra"] = {16: {"name": "batchnorm"}}
    expect_error([str(write(tmp_path / "n.yaml", bad_norm))], capsys, "unknown norm")
    bad_res = tiny_config(run)
    bad_res["model"]["init_args"]["discriminator"]["init_args"]["extra"] = {7: {"name": "an"}}
    expect_error([str(write(tmp_path / "r.yaml", bad_res))], capsys, "resolution")
    folder = tiny_config(run)
    folder["data"] = {
        "class_path": "an_lightning.data.FolderDataModule",
        "init_args": {"root": str(tmp_path / "no_such_folder")},
    }
    expect_error([str(write(tmp_path / "f.yaml", folder))], capsys, "no_such_folder")
    assert not (run / "checkpoints").exists()


def one_line_error(argv: list[str], capsys) -> tuple[int, str]:
    """(exit status, the error line), checking the error is short and has no traceback."""
    with pytest.raises(SystemExit) as exc:
        fit.main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[-1].startswith("error: "), err
    return exc.value.code, lines[-1]


def test_every_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    config = str(write(tmp_path / "tiny.yaml", tiny_config(run)))
    (tmp_path / "empty.yaml").write_text("\n")
    (tmp_path / "broken.yaml").write_text("model: {init_args: [1\n")
    (tmp_path / "a_file").write_text("")
    (tmp_path / "binary.yaml").write_bytes(bytes(range(128, 256)) * 8)  # no UTF-8 text
    (tmp_path / "folder.yaml").mkdir()
    classes = tiny_config(run)
    for net in ("generator", "discriminator"):
        classes["model"]["init_args"][net]["init_args"]["num_classes"] = 5
    defaults = tiny_config(run)  # the classes' own default, stated: still not the data's
    defaults["model"]["init_args"]["generator"]["init_args"]["num_classes"] = 1000
    unlabelled = tiny_config(run)
    unlabelled["data"] = {
        "class_path": "an_lightning.data.PhotosDataModule",
        "init_args": {"image_size": 32, "train_crops": 32, "val_crops": 0},
    }
    csv_logger = tiny_config(run)
    csv_logger["trainer"]["logger"]["class_path"] = "lightning.pytorch.loggers.CSVLogger"
    overlay = {"model": {"init_args": {"n_dis": 1}}}
    no_base = write(tmp_path / "no_base.yaml", {"base": "nope.yaml", **overlay})
    bad_base = write(tmp_path / "bad_base.yaml", {"base": 3, **overlay})
    write(tmp_path / "x.yaml", {"base": "y.yaml", **overlay})
    write(tmp_path / "y.yaml", {"base": "x.yaml", **overlay})
    linked = "--model.init_args.generator.init_args.resolution=64"
    cases = {
        "empty config": ([str(tmp_path / "empty.yaml")], "is empty"),
        "binary config": ([str(tmp_path / "binary.yaml")], "binary.yaml is not UTF-8 text"),
        "binary overlay": (
            [config, "--config", str(tmp_path / "binary.yaml")],
            "binary.yaml is not UTF-8 text",
        ),
        "folder config": ([str(tmp_path / "folder.yaml")], "folder.yaml is a folder"),
        "YAML syntax": ([str(tmp_path / "broken.yaml")], "line 2"),
        "unknown key": ([config, "--model.init_args.bogus=1"], "'bogus' is not accepted"),
        "unknown top-level key": ([config, "--bogus=1"], "unrecognized arguments"),
        "abbreviated key": ([config, "--trainer.max_epoch=3"], "arguments: --trainer.max_epoch"),
        "bad value": ([config, "--model.init_args.g_lr=abc"], "g_lr"),
        "image size": (
            [config, "--data.init_args.image_size=64"],
            "resolution is 32, but it comes from the data (data.image_size is 64)",
        ),
        "class count": (
            [str(write(tmp_path / "c.yaml", classes))],
            "num_classes is 5, but it comes from the data (data.num_classes is 10)",
        ),
        "linked key": ([config, linked], "generator.init_args.resolution is 64, but it comes"),
        "linked default": (
            [str(write(tmp_path / "d.yaml", defaults))],
            "generator.init_args.num_classes is 1000, but it comes from the data",
        ),
        "unlabelled data": (
            [str(write(tmp_path / "u.yaml", unlabelled))],
            "data.num_classes is 0 (the data has no class labels), but model.init_args."
            "generator is class-conditional",
        ),
        "missing base": ([str(no_base)], "its base nope.yaml does not exist"),
        "base not a path": ([str(bad_base)], "base must be a path to a config file, got 3"),
        "base cycle": ([str(tmp_path / "x.yaml")], "(a cycle)"),
        "base option": ([config, "--base=a.yaml"], "base is a key of config files"),
        "batch < n_dis": ([config, "--data.init_args.batch_size=1"], "batch_size 1 cannot"),
        "checkpoint_every 0": ([config, "--checkpoint_every=0"], "checkpoint_every must be"),
        "checkpoint_every < 0": ([config, "--checkpoint_every=-5"], "got -5"),
        "max_g_steps 0": ([config, "--model.init_args.max_g_steps=0"], "max_g_steps must be"),
        "run_dir a file": ([config, f"--run_dir={tmp_path / 'a_file'}"], "is a file"),
        "CSVLogger": ([str(write(tmp_path / "l.yaml", csv_logger))], "an_lightning.loggers"),
    }
    for name, (argv, match) in cases.items():
        code, line = one_line_error(argv, capsys)
        assert code == 2 and match in line, (name, line)
    assert not run.exists()


def test_divergence_stops_with_one_line_and_keeps_the_finite_checkpoint(tmp_path, capsys):
    """A NaN weight injected after iteration 5 stops the run at the save of 6, exit 3;
    the checkpoints of 4 stay exactly as they were, and the commands can still use them."""
    from an_lightning.cli.checkpoint import load_task

    run = tmp_path / "run"
    config = tiny_config(run, max_g_steps=4)
    fit.main([str(write(tmp_path / "a.yaml", config))])
    before = snapshot(run / "checkpoints")
    config["model"]["init_args"]["max_g_steps"] = 10
    config["trainer"]["callbacks"] = [
        {"class_path": "train_callbacks.NanAt", "init_args": {"g_iter": 5}}
    ]
    code, line = one_line_error([str(write(tmp_path / "b.yaml", config))], capsys)
    assert code == 3, line
    assert "training diverged" in line and "generator iteration 6" in line, line
    assert "last.ckpt, is kept" in line, line
    assert snapshot(run / "checkpoints") == before
    task, ckpt = load_task(run)
    assert task.g_iter == 4 and ckpt.name == "last.ckpt"


def test_huge_learning_rates_stop_on_the_logging_cadence(tmp_path, capsys):
    """The issue's case: g_lr = d_lr = 1e6 from a healthy run; checkpoints far apart, so
    the cadence check (every 2 iterations) stops it, and nothing non-finite is saved."""
    run = tmp_path / "run"
    config = tiny_config(run, max_g_steps=4)
    fit.main([str(write(tmp_path / "a.yaml", config))])
    config["checkpoint_every"] = 1000
    config["trainer"]["log_every_n_steps"] = 2
    config["model"]["init_args"].update(max_g_steps=40, g_lr=1e6, d_lr=1e6)
    code, line = one_line_error([str(write(tmp_path / "b.yaml", config))], capsys)
    assert code == 3 and "NaN or infinite" in line, line
    for ckpt in (run / "checkpoints").glob("*.ckpt"):
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        assert all(
            torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point()
        )


def test_a_damaged_last_checkpoint_is_set_aside_and_the_run_resumes(tmp_path, capsys):
    from test_cli_verified import damage

    run = tmp_path / "run"
    config = str(write(tmp_path / "a.yaml", tiny_config(run, max_g_steps=4)))
    fit.main([config])
    fit.main([config, "--model.init_args.max_g_steps=7", "--checkpoint_every=3"])
    capsys.readouterr()
    damage(run / "checkpoints" / "last.ckpt")  # last at 7 (the final save); periodic at 6
    fit.main([config, "--model.init_args.max_g_steps=8", "--checkpoint_every=3"])
    captured = capsys.readouterr()
    assert "warning: checkpoint" in captured.err and "is damaged" in captured.err
    assert "g_iter=0000006.ckpt at generator iteration 6" in captured.out
    assert len(list((run / "damaged").glob("last.ckpt.*"))) == 2  # the file and its sidecar
    final = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert final["g_iter"] == 8
    with open(run / "metrics.csv") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert steps == [4, 8]  # each segment logs its last row; 7 (after 6) is dropped once


def test_checkpoint_of_another_model_is_refused_untouched(tmp_path, capsys):
    run = tmp_path / "run"
    fit.main([str(write(tmp_path / "a.yaml", tiny_config(run, max_g_steps=2)))])
    before = snapshot(run)
    wider = tiny_config(run)
    wider["model"]["init_args"]["generator"]["init_args"]["ch"] = 8
    # A real process: Lightning's start-up lines (seed, devices, tips) reach its stderr,
    # which they do not under pytest's capture.
    cmd = [sys.executable, "-m", "an_lightning.fit", str(write(tmp_path / "b.yaml", wider))]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(err) == 1, done.stderr  # the error line alone
    assert err[0].startswith("error: checkpoint") and "different model" in err[0]
    assert snapshot(run) == before


def test_print_config(tmp_path, capsys):
    config = write(tmp_path / "tiny.yaml", tiny_config(tmp_path / "run"))
    with pytest.raises(SystemExit) as exc:
        fit.main([str(config), "--print_config"])
    assert exc.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["init_args"]["n_dis"] == 2
    assert not (tmp_path / "run").exists()


def test_the_networks_take_num_classes_and_resolution_from_the_data(tmp_path, capsys):
    """Written once, in the data: G and D get them when fit builds them, checkpoints keep
    them (so evaluate and sample rebuild the same networks), configs do not repeat them."""
    from an_lightning.tasks import ClassConditionalGAN

    config = tiny_config(tmp_path / "run", max_g_steps=1)
    for net in ("generator", "discriminator"):
        for key in ("resolution", "num_classes"):
            del config["model"]["init_args"][net]["init_args"][key]
    config["data"]["init_args"]["image_size"] = 64
    path = str(write(tmp_path / "linked.yaml", config))
    with pytest.raises(SystemExit):
        fit.main([path, "--print_config"])
    printed = yaml.safe_load(capsys.readouterr().out)["model"]["init_args"]["generator"]
    assert {"resolution", "num_classes"}.isdisjoint(printed["init_args"])
    fit.main([path, "--checkpoint_every=1"])
    task = ClassConditionalGAN.load_from_checkpoint(tmp_path / "run/checkpoints/last.ckpt")
    for net in (task.generator, task.discriminator):
        assert (net.resolution, net.num_classes) == (64, 10)  # the digits' 10 classes
    saved = yaml.safe_load((tmp_path / "run/config.yaml").read_text())
    assert "resolution" not in saved["model"]["init_args"]["discriminator"]["init_args"]


def test_a_config_states_only_what_differs_from_its_base(tmp_path, capsys):
    """``base``: read first (relative to the file naming it), once, and not in the resolved
    config; such an overlay trains and resumes as any config."""
    run = tmp_path / "run"
    (tmp_path / "bases").mkdir()
    base = write(tmp_path / "bases/a.yaml", tiny_config(run, max_g_steps=2))
    overlay = {"base": "bases/a.yaml", "model": {"init_args": {"n_dis": 1}}}
    overlay = str(write(tmp_path / "b.yaml", overlay))
    deeper = str(write(tmp_path / "c.yaml", {"base": "b.yaml", "checkpoint_every": 1}))

    def printed(*argv: str) -> dict:
        with pytest.raises(SystemExit):
            fit.main([*argv, "--print_config"])
        return yaml.safe_load(capsys.readouterr().out)

    expected = printed(str(base), "--model.init_args.n_dis=1")
    assert printed(overlay) == expected and "base" not in expected
    assert printed(str(base), f"--config={overlay}") == expected  # the base is read once
    assert printed(deeper) == {**expected, "checkpoint_every": 1}
    fit.main([overlay])
    fit.main([overlay, "--model.init_args.max_g_steps=3"])
    assert "resuming from" in capsys.readouterr().out
    saved = yaml.safe_load((run / "config.resume-1.yaml").read_text())
    assert saved["model"]["init_args"]["n_dis"] == 1 and "base" not in saved


@pytest.mark.slow
def test_ddp_two_cpu_processes_end_with_identical_weights(tmp_path, toy_features):
    """Real DDP over gloo through the CLI: D and G steps, frozen nets, AN idle branches,
    and the training FID with its reference statistics summed over both ranks."""
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    config = tiny_config(tmp_path / "ddp", max_g_steps=3)
    config["trainer"].update(
        devices=2,
        strategy={
            "class_path": "lightning.pytorch.strategies.DDPStrategy",
            "init_args": {"find_unused_parameters": True, "process_group_backend": "gloo"},
        },
        callbacks=[
            {
                "class_path": "train_callbacks.DumpRankWeights",
                "init_args": {"folder": str(tmp_path)},
            },
            {
                "class_path": "an_lightning.callbacks.TrainingFID",
                "init_args": {
                    "every": 3,
                    "num_samples": 6,
                    "reference_images": 20,
                    "feature_network": str(toy_features),
                    "cache_dir": str(tmp_path / "cache"),
                },
            },
        ],
    )
    path = write(tmp_path / "ddp.yaml", config)
    cmd = [sys.executable, "-m", "an_lightning.fit", str(path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert ranks[0]["g_iter"] == ranks[1]["g_iter"] == 3
    init = fit_free_init(config)
    moved = 0
    assert ranks[0]["state_dict"].keys() == init.keys()
    for key, value in ranks[0]["state_dict"].items():
        assert torch.equal(value, ranks[1]["state_dict"][key]), key
        moved += not torch.equal(value, init[key])
    assert moved > len(init) // 2  # training happened
    (stats,) = (tmp_path / "cache").glob("*.pt")
    assert ReferenceStats.read(stats).overall.count == 20  # 10 real images per rank, summed
    with open(tmp_path / "ddp" / "metrics.csv") as f:
        fids = [float(r["fid/ema"]) for r in csv.DictReader(f) if r.get("fid/ema")]
    assert len(fids) == 1 and fids[0] > 0


def fit_free_init(config: dict) -> dict[str, torch.Tensor]:
    """The module's initial weights, built from the same config and seed."""
    from jsonargparse import ArgumentParser

    from an_lightning.tasks import AdversarialTask

    parser = ArgumentParser()
    parser.add_subclass_arguments(AdversarialTask, "model")
    torch.manual_seed(config["seed_everything"])
    model = parser.instantiate_classes(parser.parse_object({"model": config["model"]})).model
    return dict(model.named_parameters())


def test_model_and_data_seeds_may_differ(tmp_path):
    """Both have a ``seed``; Lightning refuses to log two values under one name."""
    config = tiny_config(tmp_path / "run", max_g_steps=1, seed=3)
    config["data"]["init_args"]["seed"] = 5
    fit.main([str(write(tmp_path / "seeds.yaml", config))])
    logged = yaml.safe_load((tmp_path / "run" / "hparams.yaml").read_text())
    assert logged["seed"] == 3 and logged["data.seed"] == 5


def fit_process(config_path: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [sys.executable, "-m", "an_lightning.fit", str(config_path), *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_kill_9_at_random_moments_keeps_every_row_once_and_the_same_weights(tmp_path):
    """SIGKILL at random moments (mid-step, mid-save, mid-log), re-run until done: rows
    g_iter 2, 4, ..., 24 once each, and weights bit-identical to an uninterrupted run."""
    import random

    def config(name: str) -> Path:
        c = tiny_config(tmp_path / name, max_g_steps=24)
        c["trainer"]["log_every_n_steps"] = 2
        return write(tmp_path / f"{name}.yaml", c)

    whole = fit_process(config("whole"))
    assert whole.wait(600) == 0, whole.stderr.read()[-2000:]
    rng, kills = random.Random(1), 0
    for _ in range(12):
        proc = fit_process(config("killed"))
        time.sleep(rng.uniform(3.0, 9.0))  # start-up takes about 3 s here
        if proc.poll() is not None:
            break
        proc.kill()
        proc.wait()
        kills += 1
    else:
        proc = fit_process(config("killed"))
    assert proc.wait(600) == 0, proc.stderr.read()[-2000:]
    assert kills >= 2
    with open(tmp_path / "killed" / "metrics.csv") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert steps == list(range(2, 25, 2)), steps
    a = weights(tmp_path / "whole/checkpoints/last.ckpt")
    b = weights(tmp_path / "killed/checkpoints/last.ckpt")
    assert a.keys() == b.keys()
    for key, value in a.items():
        assert torch.equal(value, b[key]), key


@pytest.mark.slow
def test_two_jobs_on_one_run_directory(tmp_path):
    """Started at the same instant: one trains, the other exits 2 at once with one line
    naming the holder's pid; after a kill -9 of the holder the directory is free."""
    from an_lightning.cli.lock import RunLock

    run = tmp_path / "run"
    path = write(tmp_path / "long.yaml", tiny_config(run, max_g_steps=100_000))
    a, b = fit_process(path), fit_process(path)
    deadline = time.monotonic() + 120
    while a.poll() is None and b.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    loser, winner = (a, b) if a.poll() is not None else (b, a)
    assert loser.wait(5) == 2
    err = loser.stderr.read().strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert err[0].startswith("error: ") and f"in use by pid {winner.pid}" in err[0], err
    assert winner.poll() is None  # still training
    assert sorted(p.name for p in run.glob("config*.yaml")) == ["config.yaml"]
    winner.kill()
    winner.wait()
    RunLock(run).acquire().release()  # a killed holder never blocks its successor


def test_tensorboard_history_and_configs_survive_a_resume(tmp_path, capsys):
    """Our TensorBoardLogger in a folder of its own: the resumed run's events continue
    the same run (nothing after the checkpoint twice) and its first config is kept."""
    pytest.importorskip("tensorboard", reason="tensorboard is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    config = tiny_config(run, max_g_steps=6)
    config["trainer"]["log_every_n_steps"] = 2
    config["trainer"]["logger"] = {
        "class_path": "an_lightning.loggers.TensorBoardLogger",
        "init_args": {"name": "", "version": "tb"},
    }
    path = str(write(tmp_path / "tb.yaml", config))
    fit.main([path, "--model.init_args.max_g_steps=5", "--checkpoint_every=2"])
    first = (run / "tb" / "config.yaml").read_text()
    fit.main([path])  # resumes from 5 (the final save), to 6
    assert "generator iteration 5" in capsys.readouterr().out
    assert (run / "tb" / "config.yaml").read_text() == first
    assert (run / "tb" / "config.resume-1.yaml").is_file()
    events = EventAccumulator(str(run / "tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("loss/d")] == [2, 4, 5, 6]
