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


def test_batches_reach_the_model_as_float_and_flip_only_in_training():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    labels = torch.arange(64)
    ref = images.float() / 127.5 - 1
    dm = Labelled()
    dm.trainer = SimpleNamespace(training=False)
    x, y = dm.on_after_batch_transfer((images, labels), 0)
    assert x.dtype == torch.float32 and torch.allclose(x, ref) and y is labels
    dm.trainer.training = True
    x, _ = dm.on_after_batch_transfer((images, labels), 0)
    flipped = torch.isclose(x, ref.flip(-1)).flatten(1).all(1)
    assert bool((flipped | torch.isclose(x, ref).flatten(1).all(1)).all())
    assert 10 < int(flipped.sum()) < 54
