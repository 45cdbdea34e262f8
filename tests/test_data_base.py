from types import SimpleNamespace

import pytest

from an_lightning.data.base import ImageDataModule


class Labelled(ImageDataModule):
    num_classes = 4


def test_setup_checks_the_model_class_count():
    dm = Labelled()
    assert dm.rank_and_world() == (0, 1)
    dm.trainer = SimpleNamespace(
        lightning_module=SimpleNamespace(num_classes=4), global_rank=1, world_size=3
    )
    dm.setup("fit")
    assert dm.rank_and_world() == (1, 3)
    dm.trainer.lightning_module.num_classes = 10
    with pytest.raises(ValueError, match="conditioned on 10 classes but Labelled has 4"):
        dm.setup("fit")
    dm.trainer.lightning_module = SimpleNamespace()  # models without classes are not checked
    dm.setup("fit")
