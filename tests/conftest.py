"""Session fixtures: one tiny trained run and a toy feature-network file, shared by the
evaluation, sampling and layout tests (training it once keeps them fast)."""

import pytest
from fit_fixtures import tiny_config, toy_feature_file, write

from an_lightning import fit


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A run directory with checkpoints after 4 generator iterations (AN in G and D)."""
    root = tmp_path_factory.mktemp("tiny_run")
    fit.main([str(write(root / "tiny.yaml", tiny_config(root / "run")))])
    return root / "run"


@pytest.fixture(scope="session")
def toy_features(tmp_path_factory):
    return toy_feature_file(tmp_path_factory.mktemp("features") / "toy.pt")
