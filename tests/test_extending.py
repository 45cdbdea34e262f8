"""docs/extending.md works as written: its code blocks are extracted and run.

Each block names itself on its first line (``# my_gan/pixel_norm.py``). The ``my_gan/``
files are written into a temporary package and imported. The norm then passes the norm
contract of test_norms_contract.py, the task trains on the dataset through Lightning,
and the config trains through the fit CLI. The norm registry is a copy per test, so the
toy norm never reaches the other tests.
"""

import re
import runpy
import sys
from pathlib import Path

import lightning as L
import pytest
import test_norms_contract as contract
import torch
import yaml

from an_lightning import fit
from an_lightning.cli.checkpoint import load_task
from an_lightning.models import Discriminator, Generator
from an_lightning.models.spec import LayerSpec
from an_lightning.norms import build_norm, norm_class, norm_names, register, registry
from an_lightning.sweeping.keys import parse_fit_args
from an_lightning.tasks.interface import ClassConditionalTask, GeneratorTask, provides, require

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
FILES = (
    "my_gan/pixel_norm.py",
    "my_gan/train.py",
    "my_gan/logistic_gan.py",
    "my_gan/squares_data.py",
    "my_gan/squares.yaml",
)
REGISTRATION = "an_lightning/norms/__init__.py"
CASES_ENTRY = "tests/test_norms_contract.py"
EXCERPT = "excerpt of my_gan/squares.yaml (section 4)"


def doc_blocks() -> dict[str, list[str]]:
    """The doc's code blocks by the name on their first line (up to a colon)."""
    blocks: dict[str, list[str]] = {}
    for lang, code in FENCE.findall(DOC.read_text()):
        first = code.splitlines()[0]
        assert lang in ("python", "yaml") and first.startswith("# "), f"unnamed block: {first}"
        blocks.setdefault(first[2:].split(":")[0].strip(), []).append(code)
    return blocks


BLOCKS = doc_blocks()


def test_every_block_is_one_this_file_runs():
    assert sorted(BLOCKS) == sorted([*FILES, REGISTRATION, CASES_ENTRY, EXCERPT])
    assert all(len(BLOCKS[name]) == 1 for name in (*FILES, REGISTRATION, CASES_ENTRY))
    assert len(BLOCKS[EXCERPT]) == 3  # one per section: norm, task, dataset


@pytest.fixture
def my_gan(tmp_path, monkeypatch):
    """The doc's ``my_gan`` package importable from a temporary folder (returned); the
    norm registry and ``sys.modules`` as they were afterwards."""
    root = tmp_path / "src"
    (root / "my_gan").mkdir(parents=True)
    (root / "my_gan" / "__init__.py").write_text("")
    for name in FILES:
        (root / name).write_text(BLOCKS[name][0])
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.chdir(tmp_path)
    # A copy of the registry per test (as tests/test_norms_registry.py does): restored after.
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    yield root
    for name in [m for m in sys.modules if m == "my_gan" or m.startswith("my_gan.")]:
        del sys.modules[name]


def register_in_tree() -> None:
    """The doc's registration lines, run as if in a package next to pixel_norm.py."""
    code = BLOCKS[REGISTRATION][0]
    exec(code, {"__name__": "my_gan.norms", "__package__": "my_gan", "register": register})


def networks(num_classes: int = 3, **g_args) -> tuple[Generator, Discriminator]:
    g = Generator(resolution=32, num_classes=num_classes, z_dim=8, ch=4, **g_args)
    return g, Discriminator(resolution=32, num_classes=num_classes, ch=4)


def test_the_norm_passes_the_norm_contract(my_gan, monkeypatch):
    from my_gan.pixel_norm import PixelNorm

    register_in_tree()
    assert "pixel" in norm_names()
    (entry,) = eval("{" + BLOCKS[CASES_ENTRY][0] + "}").items()
    monkeypatch.setitem(contract.CASES, *entry)
    contract.test_every_norm_has_a_contract_entry()
    contract.test_shape_and_gradients("pixel")
    contract.test_condition_required_or_ignored("pixel")
    contract.test_state_dict_round_trip("pixel")
    contract.test_runs_under_bf16_autocast("pixel")

    norm = build_norm("pixel", 4, eps=0.0, affine=False)
    x = torch.randn(2, 4, 3, 3)
    assert torch.allclose(norm(x).pow(2).mean(1), torch.ones(2, 3, 3), atol=1e-5)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['epsilon'\].*eps, affine"):
        build_norm("pixel", 4, epsilon=1e-6)
    with pytest.raises(ValueError, match="already registered"):
        register("pixel", norm_class("in"))

    # One stage of a generator: built from the config's LayerSpec, gradients flow.
    g, _ = networks(extra={16: LayerSpec("pixel", {"eps": 1e-6})})
    (pixel,) = [m for m in g.modules() if isinstance(m, PixelNorm)]
    z, y = g.sample_inputs(2)
    g(z, y).square().mean().backward()
    assert pixel.eps == 1e-6 and pixel.weight.grad.abs().sum() > 0


def test_the_task_trains_on_the_dataset_through_lightning(my_gan):
    from my_gan.logistic_gan import LogisticGAN
    from my_gan.squares_data import SquaresDataModule

    data = SquaresDataModule(image_size=32, batch_size=8, count=32)
    data.setup("fit")
    images, labels = next(iter(data.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape == (8, 3, 32, 32)
    assert labels.dtype == torch.int64 and set(labels.tolist()) <= {0, 1, 2}
    assert images.amax() == 255 and images.amin() == 0
    scaled, _ = data.to_model_batch((images, labels))
    assert scaled.min() == -1 and scaled.max() == 1
    assert len(list(data.reference_loader())) == 4  # the 32 images once, batches of 8

    task = LogisticGAN(*networks(), n_dis=2, max_g_steps=2, ema_start=2, g_lr=1e-2)
    require(task, GeneratorTask, "fit")
    assert provides(task, ClassConditionalTask)  # so TrainingFID can be used
    task.check_data(data)
    logged = []
    task.send_to_loggers = logged.append  # what the loggers would receive
    before = [p.detach().clone() for p in task.generator.parameters()]
    trainer = L.Trainer(
        max_steps=2 * task.optimizer_steps,
        max_epochs=-1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    trainer.fit(task, data)
    assert task.g_iter == 2 and trainer.global_step == 2 * 3
    after = task.generator.parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert list(logged[-1]) == ["loss/d", "loss/g", "d/real", "d/fake", "lr/g", "lr/d"]
    assert all(torch.isfinite(torch.as_tensor(v)) for v in logged[-1].values())


def test_the_checks_name_the_fix(my_gan):
    from my_gan.logistic_gan import LogisticGAN
    from my_gan.squares_data import SquaresDataModule

    data = SquaresDataModule(image_size=32, batch_size=8)
    with pytest.raises(ValueError, match="conditioned on 10 classes but SquaresDataModule has 3"):
        LogisticGAN(*networks(num_classes=10)).check_data(data)
    with pytest.raises(ValueError, match="data gives 64x64 images but the model is built for 32"):
        LogisticGAN(*networks()).check_data(SquaresDataModule(image_size=64))
    with pytest.raises(ValueError, match="batch_size 8 cannot be split into the 9 chunks"):
        LogisticGAN(*networks(), n_dis=9).check_data(data)
    with pytest.raises(ValueError, match="1 <= batch_size <= count"):
        SquaresDataModule(batch_size=64, count=32)


def excerpt_of(part: object, whole: object) -> bool:
    """Whether ``part`` is ``whole`` with keys left out (dicts), at any depth of ``whole``."""

    def within(a: object, b: object) -> bool:
        if isinstance(a, dict):
            return isinstance(b, dict) and all(k in b and within(v, b[k]) for k, v in a.items())
        return a == b

    children = whole.values() if isinstance(whole, dict) else []
    return within(part, whole) or any(excerpt_of(part, child) for child in children)


def test_the_yaml_parses_and_holds_every_excerpt(my_gan):
    config = yaml.safe_load(BLOCKS["my_gan/squares.yaml"][0])
    for excerpt in BLOCKS[EXCERPT]:
        assert excerpt_of(yaml.safe_load(excerpt), config), excerpt
    _, parsed = parse_fit_args([str(my_gan / "my_gan/squares.yaml")])
    assert parsed.model.class_path == "my_gan.logistic_gan.LogisticGAN"
    assert parsed.model.init_args.max_g_steps == 2000  # an AdversarialTask argument
    assert parsed.data.class_path == "my_gan.squares_data.SquaresDataModule"
    assert parsed.data.init_args.count == 1024  # a default of the new DataModule


def test_the_config_trains_through_the_launcher(my_gan, tmp_path, monkeypatch, capsys):
    config = str(my_gan / "my_gan/squares.yaml")
    fast = [
        "--model.init_args.max_g_steps=2",
        "--checkpoint_every=1",
        "--data.init_args.count=32",
        "--data.init_args.batch_size=8",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
    ]
    # The plain fit CLI has no 'pixel': one line, exit status 2, nothing written.
    unregistered = tmp_path / "unregistered"
    with pytest.raises(SystemExit) as exc:
        fit.main([config, f"--run_dir={unregistered}", *fast])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err, err
    assert "unknown norm 'pixel'" in err.strip().splitlines()[-1]
    assert not unregistered.exists()

    run = tmp_path / "run"
    monkeypatch.setattr(sys, "argv", ["train.py", config, f"--run_dir={run}", *fast])
    runpy.run_module("my_gan.train", run_name="__main__")
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "metrics.csv").is_file()

    from my_gan.logistic_gan import LogisticGAN
    from my_gan.pixel_norm import PixelNorm

    task, _ = load_task(run)  # what sample, layouts and evaluate do: rebuilt by class_path
    assert isinstance(task, LogisticGAN) and task.g_iter == 2
    assert any(isinstance(m, PixelNorm) for m in task.g_ema.module.modules())
