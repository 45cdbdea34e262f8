from types import SimpleNamespace

import pytest
import torch

from an_lightning.data.base import ImageDataModule


class Labelled(ImageDataModule):
    num_classes = 4
    hflip = True


def test_setup_checks_the_model_class_count():
    dm = Labelled()
    assert dm.rank_and_world() == (0, 1)
    model = SimpleNamespace(num_classes=4)
    dm.trainer = SimpleNamespace(lightning_module=model, global_rank=1, world_size=3)
    dm.setup("fit")
    assert dm.rank_and_world() == (1, 3)
    dm.trainer.lightning_module.num_classes = 10
    with pytest.raises(ValueError, match="conditioned on 10 classes but Labelled has 4"):
        dm.setup("fit")
    dm.trainer.lightning_module = SimpleNamespace()  # models without classes are not checked
    dm.setup("fit")


def test_batches_reach_the_model_as_float_and_are_never_flipped_there():
    """Flips belong to the loaders' seeded order (data.resume): the transfer only scales."""
    torch.manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    labels = torch.arange(64)
    ref = images.float() / 127.5 - 1
    dm = Labelled()
    for training in (False, True):
        dm.trainer = SimpleNamespace(training=training)
        state = torch.get_rng_state()
        x, y = dm.on_after_batch_transfer((images, labels), 0)
        assert x.dtype == torch.float32 and torch.equal(x, ref) and y is labels
        assert torch.equal(torch.get_rng_state(), state)  # no global random draws


@pytest.mark.parametrize(
    ("class_path", "init_args"),
    [
        ("ShardDataModule", {"train_shards": "d/shard-{000000..000009}.tar", "num_workers": 4}),
        ("FolderDataModule", {"root": "photos", "image_size": 64, "hflip": False}),
        ("DigitsDataModule", {"image_size": 16, "val_fraction": 0.2}),
    ],
)
def test_datamodules_are_configurable_from_yaml(class_path, init_args):
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(ImageDataModule, "data")
    config = {"data": {"class_path": f"an_lightning.data.{class_path}", "init_args": init_args}}
    parsed = parser.parse_object(config)
    assert parsed.data.class_path.endswith(class_path)
    assert {k: parsed.data.init_args[k] for k in init_args} == init_args
    with pytest.raises(Exception, match="batch_size"):
        bad = {"data": {**config["data"], "init_args": {**init_args, "batch_size": "many"}}}
        parser.parse_object(bad)
