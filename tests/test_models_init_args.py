"""Networks record their constructor arguments as plain, checkpoint-safe data."""

import dataclasses
import io
from pathlib import Path

import pytest
import torch
from torch import nn

from an_lightning.models import Generator, LayerSpec
from an_lightning.models.init_args import RecordsInitArgs, class_path, module_config, plain


class Base(RecordsInitArgs, nn.Module):
    def __init__(self, width: int = 2, depth: int = 1) -> None:
        super().__init__()
        self.width = width


class Wider(Base):
    def __init__(self, width: int = 8, **kwargs) -> None:
        super().__init__(width=width, depth=3)  # what it passes on is not what it records


class Inherits(Base):
    pass


def test_the_outermost_init_is_recorded_with_defaults():
    assert Base(width=4).init_args == {"width": 4, "depth": 1}
    assert Wider().init_args == {"width": 8}
    assert Wider(5, extra=True).init_args == {"width": 5, "extra": True}  # **kwargs flattened
    assert Inherits(3).init_args == {"width": 3, "depth": 1}


def test_positional_varargs_cannot_be_recorded():
    class Varargs(RecordsInitArgs, nn.Module):
        def __init__(self, *sizes: int) -> None:
            super().__init__()

    assert Varargs().init_args == {}
    with pytest.raises(TypeError, match=r"Varargs cannot record positional \*sizes"):
        Varargs(1, 2)


@dataclasses.dataclass
class Spec:
    name: str
    path: Path
    computed: int = dataclasses.field(init=False, default=0)


def test_plain_turns_objects_into_data():
    assert plain({"a": (1, [Path("/x")]), "s": Spec("an", Path("p"))}) == {
        "a": (1, ["/x"]),
        "s": {"name": "an", "path": "p"},  # init=False fields are not constructor arguments
    }
    assert plain(Base(3)) == {
        "class_path": f"{__name__}.Base",
        "init_args": {"width": 3, "depth": 1},
    }
    with pytest.raises(TypeError, match=r"torch\.nn\.modules\.linear\.Linear does not record"):
        plain({"net": nn.Linear(1, 1)})


def test_module_config_of_a_network_loads_with_weights_only():
    g = Generator(resolution=32, num_classes=3, ch=4, extra={16: LayerSpec("an", {"n": 4})})
    config = module_config(g)
    assert config["class_path"] == "an_lightning.models.generator.Generator"
    assert class_path(g) == config["class_path"]
    args = config["init_args"]
    assert (args["resolution"], args["num_classes"], args["z_dim"]) == (32, 3, 128)
    assert args["block_norm"] == {"name": "cbn", "options": {}}
    assert args["extra"] == {16: {"name": "an", "options": {"n": 4}, "placement": "after_block"}}
    buffer = io.BytesIO()
    torch.save(config, buffer)
    buffer.seek(0)
    assert torch.load(buffer, weights_only=True) == config
    assert module_config(nn.Linear(1, 1)) is None
