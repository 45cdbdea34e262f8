"""Every experiment YAML parses with the training CLI and builds the model it names."""

from pathlib import Path

import pytest
import yaml
from jsonargparse import ArgumentParser

from an_lightning import fit
from an_lightning.norms import AttentiveNorm, SelfAttention
from an_lightning.tasks import AdversarialTask

EXPERIMENTS = sorted((Path(__file__).resolve().parents[1] / "experiments").glob("*.yaml"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_parses_and_builds_its_model(path, capsys):
    with pytest.raises(SystemExit) as exc:
        fit.main([str(path), "--print_config"])
    assert exc.value.code in (0, None)
    config = yaml.safe_load(capsys.readouterr().out)
    parser = ArgumentParser()
    parser.add_subclass_arguments(AdversarialTask, "model")
    model = parser.instantiate_classes(parser.parse_object({"model": config["model"]})).model
    extras = {type(m) for m in model.generator.modules()} & {AttentiveNorm, SelfAttention}
    expected = {"imagenet": {AttentiveNorm}, "demo": {AttentiveNorm}}
    expected |= {"imagenet_sagan": {SelfAttention}, "imagenet_sngan": set()}
    expected |= {"inpaint_demo": {AttentiveNorm}, "paris_inpaint": {AttentiveNorm}}
    assert extras == expected[path.stem]
    placement = {"imagenet": "in_block", "demo": "in_block", "imagenet_sagan": "after_block"}
    if path.stem in placement:  # the paper's AN in the block; SA-GAN's SA after it
        for net in (model.generator, model.discriminator):
            assert {where for where, _ in placed(net)} == {placement[path.stem]}


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
    folder = EXPERIMENTS[0].parent / "small_ablation"
    assert sorted(p.stem for p in folder.glob("*.yaml")) == sorted(SMALL)
    run_sh = (folder / "run.sh").read_text()
    assert 'variants=("${@:-sngan sa an16 an16_after an16_nossr}")' in run_sh
    for variant, expected in SMALL.items():
        with pytest.raises(SystemExit):
            fit.main(
                [
                    str(folder.parent / "demo.yaml"),
                    f"--config={folder / variant}.yaml",
                    "--print_config",
                ]
            )
        config = yaml.safe_load(capsys.readouterr().out)
        parser = ArgumentParser()
        parser.add_subclass_arguments(AdversarialTask, "model")
        model = parser.instantiate_classes(parser.parse_object({"model": config["model"]})).model
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
