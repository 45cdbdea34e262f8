"""The norm calling convention: label embeddings, the missing-cond error, inherited options."""

import inspect

import pytest
import torch
from torch import nn

from an_lightning.norms.base import MissingConditionError, Norm, embed_labels


def test_embed_labels_rows_or_their_mixture():
    embedding = nn.Embedding(3, 2)
    with torch.no_grad():
        embedding.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [4.0, 4.0]]))
    assert embed_labels(embedding, torch.tensor([2, 0])).tolist() == [[4.0, 4.0], [1.0, 0.0]]
    soft = torch.tensor([[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]])
    assert embed_labels(embedding, soft).tolist() == [[2.5, 2.0], [0.0, 1.0]]
    with pytest.raises(ValueError, match=r"^class weights must have shape \(B, 3\), got \(2, 4\)$"):
        embed_labels(embedding, torch.rand(2, 4))


class Labelled(Norm):
    cond_kind = "labels"


class Mapped(Norm):
    cond_kind = "map"


def test_require_cond_says_what_to_pass():
    cond = torch.zeros(2)
    assert Labelled().require_cond(cond) is cond
    with pytest.raises(MissingConditionError, match=r"Labelled is conditional: .*class labels"):
        Labelled().require_cond(None)
    with pytest.raises(ValueError, match=r"Mapped is conditional: .*a \(B, C, H, W\) map$"):
        Mapped().require_cond(None)


def test_base_norm_has_no_forward_and_no_regularizer():
    assert Norm.cond_kind is None and Norm().regularization_loss() is None
    with pytest.raises(NotImplementedError):
        Norm()(torch.zeros(1))


class Parent(Norm):
    def __init__(self, num_features: int, *, a: int = 1, b: int = 2) -> None:
        super().__init__()
        self.a, self.b = a, b


class Child(Parent):
    def __init__(self, num_features: int, *, b: int = 3, c: int = 4, **options) -> None:
        super().__init__(num_features, b=b, **options)
        self.c = c


class Fixed(Parent):
    def __init__(self, num_features: int, scale: float = 1.0) -> None:
        super().__init__(num_features)


def test_forwarded_options_show_in_the_signature():
    params = inspect.signature(Child.__init__).parameters
    assert list(params) == ["self", "num_features", "a", "b", "c"]  # no bare **options
    assert (params["a"].default, params["b"].default, params["c"].default) == (1, 3, 4)
    child = Child(8, a=5)
    assert (child.a, child.b, child.c) == (5, 3, 4)
    assert list(inspect.signature(Fixed.__init__).parameters) == ["self", "num_features", "scale"]


def test_a_direct_subclass_may_take_bare_options():
    """Norm's own __init__ is nn.Module's (*args, **kwargs): nothing to inherit, so a
    direct subclass with **options keeps its signature as written."""

    class Loose(Norm):
        def __init__(self, num_features: int, **options) -> None:
            super().__init__()
            self.options = options

    assert list(inspect.signature(Loose.__init__).parameters) == [
        "self", "num_features", "options"
    ]  # fmt: skip
    assert Loose(4, x=1).options == {"x": 1}
