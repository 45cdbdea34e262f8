"""Norms named in configuration: ``NormSpec`` checks early, ``LayerSpec`` adds placement."""

import pytest

from an_lightning.models.spec import PLACEMENTS, LayerSpec, NormSpec, layer_spec
from an_lightning.norms import norm_class


def test_norm_spec_defaults_and_factory():
    spec = NormSpec()
    assert (spec.name, spec.options) == ("cbn", {})
    norm = NormSpec("an", {"n": 4}).factory()(8)
    assert isinstance(norm, norm_class("an")) and norm.n == 4
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['entities'\]"):
        NormSpec("an", {"entities": 4}).factory()  # before any network exists


def test_layer_spec_placements():
    assert PLACEMENTS == ("in_block", "after_block")
    assert LayerSpec("an").placement == "after_block"
    assert LayerSpec("an", placement="in_block").placement == "in_block"


def test_bad_placement_is_refused():
    with pytest.raises(ValueError, match=r"placement must be one of 'in_block', 'after_block'"):
        LayerSpec("an", placement="inside")


def test_a_plain_norm_spec_means_after_block():
    plain = NormSpec("sa", {"spectral_norm": True})
    spec = layer_spec(plain)
    assert isinstance(spec, LayerSpec)
    assert (spec.name, spec.options, spec.placement) == ("sa", plain.options, "after_block")
    spec.options["spectral_norm"] = False
    assert plain.options == {"spectral_norm": True}  # a copy, not the caller's dict
    inside = LayerSpec("an", placement="in_block")
    assert layer_spec(inside) is inside
