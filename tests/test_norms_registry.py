"""Names, options and factories: config mistakes fail loudly and early."""

import pytest
import torch
from torch import Tensor

from an_lightning.norms import (
    Norm,
    build_norm,
    norm_class,
    norm_factory,
    norm_names,
    register,
    registry,
    unregister,
)


def test_required_names_are_registered():
    assert {"none", "bn", "cbn", "in", "spade", "sa", "an", "an_official"} <= set(norm_names())


def test_unknown_name_lists_the_registered_ones():
    with pytest.raises(ValueError, match=r"unknown norm 'batchnorm'.*an, an_official, bn, cbn"):
        build_norm("batchnorm", 8)


def test_unknown_option_lists_accepted_ones():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['entities'\].*n, ssr, pool"):
        build_norm("an", 8, entities=4)
    with pytest.raises(ValueError, match=r"accepted options: \(none\)"):
        norm_factory("none", affine=True)


def test_missing_required_option_is_named():
    with pytest.raises(ValueError, match=r"'cbn' needs option\(s\) \['num_classes'\]"):
        build_norm("cbn", 8)


def test_factory_binds_once_and_checks_early():
    with pytest.raises(ValueError, match="unknown option"):
        norm_factory("an", n_entities=4)  # fails before any network exists
    which_norm = norm_factory("an", n=4, ssr=False)
    a, b = which_norm(8), which_norm(16)
    assert a.n == b.n == 4 and a.key is None
    assert a.layout.in_channels == 8 and b.layout.in_channels == 16
    which_cbn = norm_factory("cbn")  # the network supplies num_classes
    assert which_cbn(8, num_classes=3).gain.weight.shape == (3, 8)


def test_a_new_norm_is_one_class_and_one_line(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    class Scale(Norm):
        def __init__(self, num_features: int, factor: float = 2.0) -> None:
            super().__init__()
            self.factor = factor

        def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
            return x * self.factor

    register("scale", Scale)
    assert "scale" in norm_names()
    assert torch.equal(build_norm("scale", 3, factor=3.0)(torch.ones(1)), torch.full((1,), 3.0))
    with pytest.raises(ValueError, match="already registered"):
        register("bn", Scale)
    with pytest.raises(TypeError, match="subclass"):
        register("linear", torch.nn.Linear)


def test_unregister_removes_a_name_and_refuses_unknown_ones(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    cls = norm_class("in")
    assert unregister("in") is cls
    assert "in" not in norm_names()
    with pytest.raises(ValueError, match="unknown norm 'in'; registered norms: "):
        unregister("in")
