"""The sweep CLI: W&B's schema and grid order, config-key checks, and real local runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from error_fixtures import command_refuses, refuses
from jsonargparse import ArgumentParser
from test_fit import tiny_config, write

from an_lightning import sweep
from an_lightning.norms import AttentiveNorm, SelfAttention
from an_lightning.sweeping.command import agent_flags
from an_lightning.tasks import AdversarialTask

ROOT = Path(__file__).resolve().parents[1]
FIT = ["${env}", "${interpreter}", "-m", "an_lightning.fit"]


def sweep_file(tmp_path: Path, parameters: dict, base: Path | None = None, **extra) -> Path:
    base = base or write(tmp_path / "base.yaml", tiny_config(tmp_path / "unused"))
    config = {
        "name": "tiny",
        "method": "grid",
        "metric": {"name": "fid/ema", "goal": "minimize"},
        "command": [*FIT, str(base), "${args}"],
        "parameters": parameters,
        **extra,
    }
    return write(tmp_path / "sweep.yaml", config)


def fails(argv: list[str], capsys, match: str) -> str:
    line = refuses(sweep.main, argv, capsys)
    assert match in line, line
    return line


def test_bad_input_is_refused_with_one_line_and_nothing_written(tmp_path, capsys):
    runs = tmp_path / "runs"
    root = ["--runs-root", str(runs)]
    not_yaml = tmp_path / "broken.yaml"
    not_yaml.write_text("method: [grid\n")
    fails([str(not_yaml), *root], capsys, "is not valid YAML")
    fails([str(tmp_path / "missing.yaml"), *root], capsys, "does not exist")
    (tmp_path / "binary.yaml").write_bytes(bytes(range(128, 256)) * 8)
    fails([str(tmp_path / "binary.yaml"), *root], capsys, "binary.yaml is not UTF-8 text")
    fails([str(tmp_path), *root], capsys, f"sweep file {tmp_path} is a folder")
    seeds = {"seed_everything": {"values": [0, 1]}}
    schema = sweep_file(tmp_path, seeds, methd="grid")
    fails([str(schema), *root], capsys, "'methd' was unexpected")
    bad_param = sweep_file(tmp_path, {"seed_everything": {"valuez": [0, 1]}})
    fails([str(bad_param), *root], capsys, "not a valid W&B sweep")
    unknown = sweep_file(tmp_path, {**seeds, "model.init_args.bogus": {"values": [1]}})
    fails([str(unknown), "--run-local", *root], capsys, "'model.init_args.bogus' is not a config")
    bad_value = sweep_file(tmp_path, {"model.init_args.n_dis": {"values": [1, "many"]}})
    fails([str(bad_value), "--run-local", *root], capsys, "run 1 does not parse")
    good = sweep_file(tmp_path, seeds)
    fails([str(good), "--index", "2", *root], capsys, "--index 2 is out of range")
    fails([str(good), "--index", "-1", *root], capsys, "out of range")
    other = sweep_file(tmp_path, seeds, command=["${env}", "${interpreter}", "train.py"])
    fails([str(other), *root], capsys, "must run `python -m an_lightning.fit")
    random = sweep_file(tmp_path, seeds, method="random")
    fails([str(random), *root], capsys, "only a grid")
    no_base = sweep_file(tmp_path, seeds, base=tmp_path / "gone.yaml")
    line = fails([str(no_base), *root], capsys, f"config file {tmp_path / 'gone.yaml'} does not")
    assert "usage" not in line and line.count("AN_LIGHTNING_DEBUG") == 1
    assert not runs.exists()


def test_contradicting_options_and_unwritable_runs_roots_are_refused(tmp_path, capsys):
    good = str(sweep_file(tmp_path, {"seed_everything": {"values": [0, 1]}}))
    runs = tmp_path / "runs"
    root = ["--runs-root", str(runs)]
    fails([good, "--gpus", "2", *root], capsys, "--gpus only applies to --slurm: add --slurm")
    fails([good, "--index", "0", "--dry-run", *root], capsys, "--dry-run only applies to")
    fails([good, "--template", good, *root], capsys, "--template only applies to --slurm")
    fails([good, "--slurm", "--gpus", "-1", "--dry-run", *root], capsys, "--gpus must be 0 or")
    fails([good, "--slurm", "--max-parallel", "0", *root], capsys, "--max-parallel must be 1")
    assert not runs.exists()
    file = tmp_path / "file"
    file.write_text("a file")
    for mode in (["--run-local"], ["--index", "1"], ["--slurm"]):
        fails([good, *mode, "--runs-root", str(file)], capsys, f"--runs-root {file} is a file")
    line = command_refuses("an_lightning.sweep", good, "--run-local", "--runs-root", file / "runs")
    assert f"cannot be created: {file} is a file" in line


def test_grid_follows_wandb_order(tmp_path, capsys):
    """Sorted parameter names, the last one varying fastest (as the W&B server hands out)."""
    params = {
        "seed_everything": {"values": [0, 1]},
        "model.init_args.n_dis": {"values": [2, 1]},
        "checkpoint_every": {"value": 3},
    }
    assert sweep.main([str(sweep_file(tmp_path, params)), "--runs-root", "R"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [r[0] for r in rows] == ["0", "1", "2", "3"]
    assert [r[1] for r in rows] == [str(Path("R") / f"tiny-{i}") for i in range(4)]
    assert [r[2] for r in rows] == [
        f"checkpoint_every=3 model.init_args.n_dis={n} seed_everything={s}"
        for n, s in [(2, 0), (2, 1), (1, 0), (1, 1)]
    ]


def test_agent_flags_match_wandb_agent():
    """``${args}`` and friends as W&B's own agent builds them."""
    utils = pytest.importorskip("wandb.sdk.launch.sweeps.utils")
    values = {"a": 1, "b.c": {"16": {"name": "an"}}, "flag": False, "on": True, "x": 2.0e-4}
    theirs = utils.create_sweep_command_args({"args": {k: {"value": v} for k, v in values.items()}})
    ours = agent_flags(values)
    for macro, flags in ours.items():
        assert flags == theirs[macro], macro


def test_sweep_files_expand_and_parse(capsys):
    """The shipped grids: every run parses with the fit CLI (paris_inpaint.yaml may be absent)."""
    counts = {"ablation": 24, "demo_cpu": 4, "inpaint": 9}
    for path in sorted((ROOT / "sweeps").glob("*.yaml")):
        if path.stem == "inpaint" and not (ROOT / "experiments/paris_inpaint.yaml").is_file():
            continue
        cwd = Path.cwd()
        os.chdir(ROOT)
        try:
            code = sweep.main([str(path.relative_to(ROOT)), "--list"])
        finally:
            os.chdir(cwd)
        out = capsys.readouterr()
        assert code == 0, out.err
        assert len(out.out.splitlines()) == counts[path.stem], out.out


@pytest.mark.parametrize(
    ("variant", "kind", "options"),
    [
        ("an_n16", AttentiveNorm, {"n": 16, "ssr": True, "statistics": "instance"}),
        ("an_n8", AttentiveNorm, {"n": 8}),
        ("an_n32", AttentiveNorm, {"n": 32}),
        ("an_batch_stats", AttentiveNorm, {"n": 16, "statistics": "batch"}),
        ("an_no_ssr", AttentiveNorm, {"n": 16, "ssr": False}),
        ("an_no_orth", AttentiveNorm, {"n": 16, "ssr": True}),
        ("sa", SelfAttention, {}),
        ("cbn", None, {}),
    ],
)
def test_ablation_variants_build_the_model_they_name(variant, kind, options, capsys):
    from an_lightning import fit

    base = ROOT / "experiments/imagenet.yaml"
    override = ROOT / "experiments/ablation" / f"{variant}.yaml"
    with pytest.raises(SystemExit):
        fit.main([str(base), f"--config={override}", "--print_config"])
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["init_args"]["lambda_orth"] == (
        2.0e-4 if variant[:2] == "an" and variant != "an_no_orth" else 0.0
    )
    parser = ArgumentParser()
    parser.add_subclass_arguments(AdversarialTask, "model")
    model = parser.instantiate_classes(parser.parse_object({"model": config["model"]})).model
    for net in (model.generator, model.discriminator):
        named = [
            (n, m) for n, m in net.named_modules() if isinstance(m, (AttentiveNorm, SelfAttention))
        ]
        extra = [m for _, m in named]
        assert [type(m) for m in extra] == ([kind] if kind else [])
        for key, value in options.items():
            assert getattr(extra[0], key) == value, (variant, key)
        # AN inside the 32x32 block (the paper), SA after it (SA-GAN)
        where = {AttentiveNorm: "blocks.", SelfAttention: "after."}.get(kind)
        assert all(n.startswith(where) for n, _ in named), (variant, named)


def test_demo_grid_states_each_layers_placement():
    """A value merges into the demo's in-block AN key by key: without ``placement`` the
    self-attention row would silently land inside the block."""
    grid = yaml.safe_load((ROOT / "sweeps/demo_cpu.yaml").read_text())["parameters"]
    values = grid["model.init_args.generator.init_args.extra"]["values"]
    assert [(v[16]["name"], v[16]["placement"]) for v in values] == [
        ("an", "in_block"),
        ("sa", "after_block"),
    ]


@pytest.mark.slow
def test_run_local_trains_each_point_in_its_own_run_dir(tmp_path):
    """Two tiny runs, each in <runs-root>/<sweep>-<i>, logged offline to W&B run <sweep>-<i>."""
    config = tiny_config(tmp_path / "unused", max_g_steps=2)
    config["trainer"]["logger"] = {
        "class_path": "an_lightning.loggers.AutoWandbLogger",
        "init_args": {"project": "an_test", "save_dir": ".", "id": None},
    }
    base = write(tmp_path / "base.yaml", config)
    path = sweep_file(tmp_path, {"model.init_args.n_dis": {"values": [1, 2]}}, base=base)
    runs = tmp_path / "runs"
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    env.pop("WANDB_API_KEY", None)
    cmd = [sys.executable, "-m", "an_lightning.sweep", str(path), "--run-local"]
    cmd += ["--runs-root", str(runs), "--", "--checkpoint_every=1"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    for i, n_dis in enumerate((1, 2)):
        run = runs / f"tiny-{i}"
        ckpt = torch.load(run / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
        assert ckpt["g_iter"] == 2 and ckpt["global_step"] == 2 * (n_dis + 1)
        saved = yaml.safe_load((run / "config.yaml").read_text())
        assert saved["run_dir"] == str(run) and saved["checkpoint_every"] == 1
        assert [p.name.rsplit("-", 2)[-2:] for p in (run / "wandb").glob("offline-run-*")] == [
            ["tiny", str(i)]
        ]


def test_a_wandb_agent_run_gets_its_own_run_dir(monkeypatch):
    """Agent runs share the base config's run_dir; each needs its own, named by its W&B id."""
    from an_lightning.cli.run_dir import agent_run_dir

    monkeypatch.delenv("WANDB_SWEEP_ID", raising=False)
    monkeypatch.setenv("WANDB_RUN_ID", "abc123")
    assert agent_run_dir(Path("runs/imagenet_an")) is None  # not under an agent
    monkeypatch.setenv("WANDB_SWEEP_ID", "sw42")
    assert agent_run_dir(Path("runs/imagenet_an")) == Path("runs/sweep-sw42/abc123")
