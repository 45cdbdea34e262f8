"""Session fixtures: one tiny trained run and a toy feature-network file, shared by the
evaluation, sampling and layout tests, and one tiny inpainting run, shared by the
inpaint and evaluate tests (training each once keeps them fast)."""

import pytest
from fit_fixtures import tiny_config, toy_feature_file, write
from inpaint_fixtures import run_fit
from inpaint_fixtures import tiny_config as tiny_inpaint_config

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


@pytest.fixture(scope="session")
def inpaint_run(tmp_path_factory):
    """An inpainting run directory after 2 generator iterations, validated at step 2."""
    root = tmp_path_factory.mktemp("inpaint_run")
    run_fit(root, "tiny", tiny_inpaint_config(root / "run", max_g_steps=2))
    return root / "run"
