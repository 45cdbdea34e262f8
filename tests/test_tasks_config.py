"""Tasks built in plain Python write checkpoints that rebuild them, as CLI-written ones do."""

import lightning as L
import pytest
import torch
from lightning.pytorch.cli import instantiate_module
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from an_lightning.cli.checkpoint import load_task, task_class
from an_lightning.cli.checkpoint_io import VerifiedCheckpointIO
from an_lightning.data.augment import DiffAugment
from an_lightning.data.digits_data import load_digits_uint8
from an_lightning.data.masks import MaskSpec
from an_lightning.models import Discriminator, Generator, LayerSpec, NormSpec
from an_lightning.models.init_args import RecordsInitArgs, module_config, plain
from an_lightning.models.inpaint import GlobalLocalCritic, InpaintGenerator
from an_lightning.tasks import ClassConditionalGAN, Inpainting


def gan(**kw) -> ClassConditionalGAN:
    extra = {16: LayerSpec("an", {"n": 4}, placement="in_block")}
    g = Generator(resolution=32, num_classes=10, ch=4, z_dim=8, extra=extra)
    d = Discriminator(resolution=32, num_classes=10, ch=4, extra={16: NormSpec("an", {"n": 4})})
    return ClassConditionalGAN(g, d, sample_every=0, d_augment=DiffAugment("translation"), **kw)


def config(hparams) -> dict:
    """What ``load_from_checkpoint`` hands its instantiator."""
    return {k: v for k, v in hparams.items() if k != "_instantiator"}


def fit(task, root, ckpt_path=None) -> L.Trainer:
    images, labels = load_digits_uint8(32)
    data = TensorDataset(images[:64].float() / 127.5 - 1, labels[:64])
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
        plugins=[VerifiedCheckpointIO()],  # what fit writes through
    )
    trainer.fit(task, DataLoader(data, batch_size=16, drop_last=True), ckpt_path=ckpt_path)
    return trainer


def test_a_plain_python_gan_checkpoint_rebuilds_the_task(tmp_path):
    task = gan(max_g_steps=2, ema_start=0)
    trainer = fit(task, tmp_path)
    ckpt = tmp_path / "plain.ckpt"
    trainer.save_checkpoint(ckpt)

    assert task_class(ckpt) is ClassConditionalGAN  # read with weights_only=True
    loaded, _ = load_task(ckpt, ClassConditionalGAN)
    assert isinstance(loaded.generator, Generator) and isinstance(loaded.d_augment, DiffAugment)
    assert loaded.generator.init_args == task.generator.init_args
    assert loaded.d_augment.policy == ("translation",)
    assert loaded.g_iter == 2
    own, back = task.state_dict(), loaded.state_dict()
    assert own.keys() == back.keys() and all(torch.equal(own[k], back[k]) for k in own)
    task.eval()
    z, y = torch.randn(4, 8, generator=torch.Generator().manual_seed(0)), torch.arange(4)
    with torch.no_grad():
        assert torch.equal(task.g_ema.module(z, y), loaded.g_ema.module(z, y))

    # Resume: the rebuilt task continues the fit from the checkpoint.
    resumed = ClassConditionalGAN.load_from_checkpoint(ckpt, max_g_steps=3)
    fit(resumed, tmp_path, ckpt_path=ckpt)
    assert resumed.g_iter == 3


def test_plain_python_and_cli_configs_have_the_same_layout():
    task = gan()
    hp = task.hparams
    assert hp._class_path == "an_lightning.tasks.gan.ClassConditionalGAN"
    assert hp.generator["class_path"] == "an_lightning.models.generator.Generator"
    assert hp.generator["init_args"]["extra"] == {
        16: {"name": "an", "options": {"n": 4}, "placement": "in_block"}
    }
    assert hp.discriminator["init_args"]["spectral_norm"] is True  # defaults filled in
    assert hp.g_betas == (0.0, 0.9)  # what the task reads stays as given
    assert hp._instantiator == "lightning.pytorch.cli.instantiate_module"  # as the CLI's
    rebuilt = instantiate_module(ClassConditionalGAN, config(hp))
    assert rebuilt.state_dict().keys() == task.state_dict().keys()
    assert rebuilt.hparams.generator == hp.generator
    # D was given a NormSpec where it declares LayerSpec: parsed back with the default.
    assert rebuilt.hparams.discriminator["init_args"]["extra"][16]["placement"] == "after_block"
    assert {k: v for k, v in rebuilt.hparams.items() if k != "discriminator"} == {
        k: v for k, v in hp.items() if k != "discriminator"
    }


def test_a_plain_python_inpainting_config_rebuilds_it(tmp_path):
    task = Inpainting(
        InpaintGenerator(NormSpec("an", {"n": 4}), width=0.25),
        GlobalLocalCritic(image_size=64, width=0.25),
        masks=MaskSpec(hole=0.25, max_shrink=0.0),
    )
    assert task.hparams.masks == {"kind": "rect", "hole": 0.25, "max_shrink": 0.0}
    path = tmp_path / "hp.pt"
    torch.save({"hyper_parameters": dict(task.hparams)}, path)
    hp = torch.load(path, weights_only=True)["hyper_parameters"]  # plain data only
    rebuilt = instantiate_module(Inpainting, config(hp))
    assert rebuilt.mask_spec == MaskSpec(hole=0.25, max_shrink=0.0)
    own, back = task.state_dict(), rebuilt.state_dict()
    assert {k: v.shape for k, v in own.items()} == {k: v.shape for k, v in back.items()}


def test_a_network_that_does_not_record_its_arguments_is_named():
    class Plain(nn.Module):
        num_classes = 10

    g = Generator(resolution=32, num_classes=10, ch=4, z_dim=8)
    with pytest.raises(TypeError, match=r"discriminator .*Plain.* does not record"):
        ClassConditionalGAN(g, Plain())


def test_subclasses_record_their_own_arguments():
    class Wide(RecordsInitArgs, nn.Module):
        def __init__(self, width: int = 2, norm: NormSpec | None = None) -> None:
            super().__init__()

    class Wider(Wide):
        def __init__(self, depth: int = 3, **kwargs) -> None:
            super().__init__(width=5, **kwargs)

    assert Wide().init_args == {"width": 2, "norm": None}
    assert Wider(norm=NormSpec("bn")).init_args == {"depth": 3, "norm": NormSpec("bn")}
    config = module_config(Wider(depth=1))
    assert config["init_args"] == {"depth": 1} and config["class_path"].endswith("Wider")
    assert module_config(nn.Linear(1, 1)) is None
    assert plain((NormSpec("bn"), [1])) == ({"name": "bn", "options": {}}, [1])
