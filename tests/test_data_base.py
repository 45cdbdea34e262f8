from types import SimpleNamespace

import pytest
import torch

from an_lightning.data import DigitsDataModule, FolderDataModule, PhotosDataModule, ShardDataModule
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


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: DigitsDataModule(batch_size=0), "batch_size must be 1 or more, got 0"),
        (lambda: DigitsDataModule(num_workers=-1), "num_workers must be 0 or more, got -1"),
        (lambda: DigitsDataModule(val_fraction=1.0), "val_fraction must lie in [0, 1), got 1.0"),
        (lambda: PhotosDataModule(train_crops=0), "train_crops must be 1 or more, got 0"),
        (lambda: PhotosDataModule(val_crops=-2), "val_crops must be 0 or more, got -2"),
        (lambda: FolderDataModule("nowhere", batch_size=-4), "batch_size must be 1 or more"),
        (lambda: ShardDataModule("x-{0..1}.tar", shuffle_buffer=-1), "shuffle_buffer must be 0"),
        (
            lambda: ShardDataModule("x-{0..1}.tar", batches_per_epoch=0),
            "batches_per_epoch must be 1 or more, got 0",
        ),
    ],
)
def test_a_bad_count_is_named_alone(make, message):
    """The error names the one argument that is wrong, not every limit of the module."""
    with pytest.raises(ValueError) as err:
        make()
    assert str(err.value).startswith(message)
