"""Warnings silenced only inside the block, and only those named."""

import warnings

from an_lightning.cli.quiet import FIT_NOISE, ignored_warnings


def test_only_matching_warnings_are_ignored_and_only_in_the_block():
    before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with ignored_warnings(r"spam \d", "eggs"):
            warnings.warn("spam 1", UserWarning, stacklevel=1)
            warnings.warn("eggs and ham", UserWarning, stacklevel=1)  # a prefix match
            warnings.warn("ham", UserWarning, stacklevel=1)
        warnings.warn("spam 2", UserWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["ham", "spam 2"]
    assert warnings.filters == before


def test_fit_noise_matches_lightnings_messages():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with ignored_warnings(*FIT_NOISE):
            warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", stacklevel=1)
            warnings.warn("Using ModelCheckpoint with manual optimization and ...", stacklevel=1)
    assert seen == []
