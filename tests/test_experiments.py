"""Every experiment YAML parses with the training CLI and builds the model it names."""

import copy
import importlib
import inspect
from pathlib import Path

import pytest
import yaml
from jsonargparse import ArgumentParser
from lightning.pytorch import LightningDataModule

from an_lightning import fit
from an_lightning.cli.fit_cli import LINKED, NETWORKS
from an_lightning.norms import AttentiveNorm, SelfAttention
from an_lightning.tasks import AdversarialTask

EXPERIMENTS = sorted((Path(__file__).resolve().parents[1] / "experiments").glob("*.yaml"))
FOLDER = EXPERIMENTS[0].parent
# What the ImageNet configs' ShardDataModule reads from the shards' index.json (not here).
IMAGENET_INDEX = {"num_classes": 1000, "image_size": 128}


def resolved(argv: list[str], capsys) -> dict:
    """The config ``fit argv --print_config`` prints."""
    with pytest.raises(SystemExit) as exc:
        fit.main([*argv, "--print_config"])
    assert exc.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


def build_model(config: dict) -> AdversarialTask:
    """The task of a printed config, with what fit links from the data module filled in."""
    model = copy.deepcopy(config["model"])
    data = None
    for net in NETWORKS:
        spec = model["init_args"][net]
        module, _, name = spec["class_path"].rpartition(".")
        params = inspect.signature(getattr(importlib.import_module(module), name)).parameters
        for attribute, argument in LINKED.items():
            if argument in params:
                assert argument not in spec["init_args"], "a linked key is printed"
                data = data or data_attributes(config["data"])
                spec["init_args"][argument] = data[attribute]
    parser = ArgumentParser()
    parser.add_subclass_arguments(AdversarialTask, "model")
    return parser.instantiate(parser.parse_object({"model": model})).model


def data_attributes(data: dict) -> dict:
    if data["class_path"] == "an_lightning.data.ShardDataModule":
        return IMAGENET_INDEX
    parser = ArgumentParser()
    parser.add_subclass_arguments(LightningDataModule, "data")
    module = parser.instantiate(parser.parse_object({"data": data})).data
    return {attribute: getattr(module, attribute) for attribute in LINKED}


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_parses_and_builds_its_model(path, capsys):
    config = resolved([str(path)], capsys)
    assert "base" not in config  # read by fit, not a parameter of the run
    model = build_model(config)
    extras = {type(m) for m in model.generator.modules()} & {AttentiveNorm, SelfAttention}
    expected = {"imagenet": {AttentiveNorm}, "demo": {AttentiveNorm}}
    expected |= {"imagenet_sagan": {SelfAttention}, "imagenet_sngan": set()}
    expected |= {"inpaint_demo": {AttentiveNorm}, "paris_inpaint": {AttentiveNorm}}
    assert extras == expected[path.stem]
    placement = {"imagenet": "in_block", "demo": "in_block", "imagenet_sagan": "after_block"}
    if path.stem in placement:  # the paper's AN in the block; SA-GAN's SA after it
        for net in (model.generator, model.discriminator):
            assert {where for where, _ in placed(net)} == {placement[path.stem]}


G, D, M = (
    "model.init_args.generator.init_args.",
    "model.init_args.discriminator.init_args.",
    "model.init_args.",
)
SA = {"32": {"name": "sa", "options": {"spectral_norm": True}, "placement": "after_block"}}
# What each overlay of imagenet.yaml changes in the resolved config, and to what (its
# trainer.callbacks: imagenet.yaml's first one, the FID, without the AN layout images).
OVERLAYS = {
    "imagenet_sngan": {
        "run_dir": "runs/imagenet_sngan",
        G + "extra": {},
        D + "extra": {},
        D + "conditioning": "projection",
        M + "g_lr": 2.0e-4,
        M + "d_lr": 2.0e-4,
        M + "n_dis": 5,
        M + "lr_decay_start": 0,
        M + "max_g_steps": 1000000,
        "data.init_args.batch_size": 320,
    },
    "imagenet_sagan": {
        "run_dir": "runs/imagenet_sagan",
        G + "extra": SA,
        G + "spectral_norm": True,
        D + "extra": SA,
        D + "conditioning": "projection",
        M + "max_g_steps": 1000000,
    },
}


def flat(config: dict, prefix: str = "") -> dict:
    """Dotted key -> value; lists, ``extra`` tables and empty dicts are values."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict) and value and key != "extra":
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_an_overlay_differs_from_imagenet_only_in_what_it_states(overlay, capsys):
    base = flat(resolved([str(FOLDER / "imagenet.yaml")], capsys))
    config = flat(resolved([str(FOLDER / f"{overlay}.yaml")], capsys))
    changed = {k for k in base.keys() | config.keys() if base.get(k, KeyError) != config.get(k)}
    assert changed == {*OVERLAYS[overlay], "trainer.callbacks"}
    assert {k: config[k] for k in OVERLAYS[overlay]} == OVERLAYS[overlay]
    assert config["trainer.callbacks"] == base["trainer.callbacks"][:1]
    text = (FOLDER / f"{overlay}.yaml").read_text()
    assert yaml.safe_load(text)["base"] == "imagenet.yaml" and "resolution" not in text
    # Given as a second --config after its base, as sweeps give variants, it is the same.
    argv = [str(FOLDER / "imagenet.yaml"), f"--config={FOLDER / overlay}.yaml"]
    assert flat(resolved(argv, capsys)) == config


ABLATION = sorted((FOLDER / "ablation").glob("*.yaml"))


@pytest.mark.parametrize("variant", ABLATION, ids=lambda p: p.stem)
def test_ablation_variants_resolve_over_imagenet(variant, capsys):
    config = resolved([str(FOLDER / "imagenet.yaml"), f"--config={variant}"], capsys)
    stated = yaml.safe_load(variant.read_text())["model"]["init_args"]
    for net in NETWORKS:
        extra = config["model"]["init_args"][net]["init_args"]["extra"]
        given = stated[net]["init_args"]["extra"]
        assert extra == (None if given is None else {str(k): v for k, v in given.items()})
    assert config["model"]["init_args"]["lambda_orth"] == stated["lambda_orth"]
    assert config["run_dir"] == "runs/imagenet_an"  # sweeps give every run its own


def test_no_extra_layer_is_spelled_the_same_everywhere():
    """``extra: {}``, the spelling a command-line override takes too (``extra=null`` there
    is refused by jsonargparse); in a YAML file null still means the same."""
    files = [*EXPERIMENTS, *FOLDER.glob("*/*.yaml")]
    assert [p.name for p in files if "extra: null" in p.read_text()] == []
    assert {"imagenet_sngan.yaml", "cbn.yaml", "sngan.yaml"} <= {
        p.name for p in files if "extra: {}" in p.read_text()
    }


@pytest.mark.parametrize("spelling", [{}, None], ids=["{}", "null"])
def test_both_spellings_of_no_extra_layer_parse_alike(spelling, tmp_path, capsys):
    none = {"init_args": {"extra": spelling}}
    overlay = {"model": {"init_args": {"generator": none, "discriminator": none}}}
    path = tmp_path / "none.yaml"
    path.write_text(yaml.safe_dump(overlay))
    argv = [str(FOLDER / "demo.yaml"), f"--config={path}"]
    model = build_model(resolved(argv, capsys))
    assert placed(model.generator) == placed(model.discriminator) == []
    argv = [str(FOLDER / "demo.yaml"), *(f"--{prefix}extra={{}}" for prefix in (G, D))]
    assert build_model(resolved(argv, capsys)).state_dict().keys() == model.state_dict().keys()


def placed(net) -> list[tuple[str, type]]:
    """(placement, class) of every AN / SA layer of a class-conditional G or D."""
    kinds = (AttentiveNorm, SelfAttention)
    return [
        ("in_block" if ".extra." in f".{name}." else "after_block", type(m))
        for name, m in net.named_modules()
        if isinstance(m, kinds)
    ]


SMALL = {
    "sngan": [],
    "sa": [("after_block", SelfAttention)],
    "an16": [("in_block", AttentiveNorm)],
    "an16_after": [("after_block", AttentiveNorm)],
    "an16_nossr": [("in_block", AttentiveNorm)],
    "an16_torchinit": [("in_block", AttentiveNorm)],
}


def test_small_ablation_variants_build_what_they_name(capsys):
    """Each variant over the demo, as run.sh runs it: placement states in full, since a
    second config merges into the demo's in-block AN key by key."""
    folder = FOLDER / "small_ablation"
    assert sorted(p.stem for p in folder.glob("*.yaml")) == sorted(SMALL)
    run_sh = (folder / "run.sh").read_text()
    assert 'variants=("${@:-sngan sa an16 an16_after an16_nossr}")' in run_sh
    for variant, expected in SMALL.items():
        config = resolved([str(FOLDER / "demo.yaml"), f"--config={folder / variant}.yaml"], capsys)
        model = build_model(config)
        for net in (model.generator, model.discriminator):
            assert placed(net) == expected, variant


def test_small_ablation_table_reads_suffixed_and_old_records(tmp_path, capsys):
    """table.py: mean, min-max and per-seed FID of each variant, from new records (fid/ema)
    and from records written before the suffixes (fid plus generator)."""
    import importlib.util
    import json

    path = Path(__file__).resolve().parents[1] / "experiments/small_ablation/table.py"
    spec = importlib.util.spec_from_file_location("small_ablation_table", path)
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    records = {
        "an16-s0": [{"results": {"fid/ema": 80.0, "kid_mean/ema": 0.09, "n_fid": 500}}],
        "an16-s1": [{"results": {"fid": 70.0, "kid_mean": 0.07, "generator": "ema"}}],
        "sa-s0": [{"results": {"fid/raw": 90.0, "fid/ema": 85.0, "kid_mean/ema": 0.1}}],
    }
    for run, record in records.items():
        folder = tmp_path / run / "checkpoints"
        folder.mkdir(parents=True)
        (folder / "last.eval.json").write_text(json.dumps(record))
    table.main(tmp_path)
    rows = {line.split(" | ")[0]: line for line in capsys.readouterr().out.splitlines()}
    assert rows["| AN, n = 16, in the 16x16 block"].split(" | ")[1:] == [
        "2", "-", "-", "-", "75.0", "70.0-80.0", "80.0, 70.0", "80.0 |",
    ]  # fmt: skip
    assert "| 90.0 | 90.0-90.0 | 90.0 | 85.0 |" in rows["| SA: self-attention at 16x16"]
    assert not any("SN-GAN" in r for r in rows)


def test_small_ablation_entropy_averages_logged_layout_entropy(tmp_path, capsys):
    """entropy.py: the mean over seeds of LayoutEntropy's metrics.csv columns, per layer."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "experiments/small_ablation/entropy.py"
    spec = importlib.util.spec_from_file_location("small_ablation_entropy", path)
    entropy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entropy)
    key = "layout/G.blocks.1.extra.norm/entropy"
    for seed, value in ((0, 0.5), (1, 0.7)):
        run = tmp_path / f"an16-s{seed}"
        run.mkdir()
        (run / "metrics.csv").write_text(
            f"g_iter,loss,{key}\n10.0,1.0,{value}\n11.0,2.0,\n100.0,1.0,{value + 0.1}\n"
        )
    entropy.main(tmp_path)
    rows = [r for r in capsys.readouterr().out.splitlines() if r.startswith("| an16 ")]
    assert rows == ["| an16 | 2 | G.blocks.1.extra.norm | 0.600 | 0.700 | - | - | - | - | - |"]


def test_the_docs_state_the_demo_recipe(capsys):
    """README and docs/results.md name the demo's steps, batch, seed, learning rates and EMA
    as they are."""
    config = resolved([str(FOLDER / "demo.yaml")], capsys)
    task, data = config["model"]["init_args"], config["data"]["init_args"]
    steps, seed = task["max_g_steps"], config["seed_everything"]
    mantissa, exponent = f"{task['g_lr']:e}".split("e")
    lr = f"{float(mantissa):g}e{int(exponent)}"  # 0.0015 as the docs write it: 1.5e-3
    assert task["d_lr"] == task["g_lr"]
    root = FOLDER.parent
    readme = " ".join((root / "README.md").read_text().split())
    recipe = f"{steps} generator iterations at batch {data['batch_size']}, seed {seed}"
    assert f"{recipe}, learning rate {lr} for G and D" in readme
    results = " ".join((root / "docs/results.md").read_text().split())
    recipe = f"{steps} generator iterations at batch {data['batch_size']}, EMA "
    recipe += f"{task['ema_decay']} from step {task['ema_start']}, seed {seed}"
    assert f"{recipe}, with learning rate {lr} for G and for D" in results
    callbacks = {
        c["class_path"].rsplit(".", 1)[1]: c["init_args"] for c in config["trainer"]["callbacks"]
    }
    assert callbacks["TrainingFID"]["every"] == steps  # fid/raw and fid/ema at the last step
