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
