"""Tiny training configs and a toy feature network shared by the tests."""

from pathlib import Path

import torch
import yaml
from torch import nn


def tiny_config(run_dir: Path, max_g_steps: int = 4, **model_overrides) -> dict:
    net = {"resolution": 32, "num_classes": 10, "ch": 4, "extra": {16: {"name": "an"}}}
    model = {
        "generator": {
            "class_path": "an_lightning.models.Generator",
            "init_args": {**net, "z_dim": 8},
        },
        "discriminator": {"class_path": "an_lightning.models.Discriminator", "init_args": net},
        "n_dis": 2,
        "max_g_steps": max_g_steps,
        "ema_start": 1,
        "sample_every": 0,
        **model_overrides,
    }
    return {
        "run_dir": str(run_dir),
        "checkpoint_every": 2,
        "seed_everything": 0,
        "model": {"class_path": "an_lightning.tasks.ClassConditionalGAN", "init_args": model},
        "data": {
            "class_path": "an_lightning.data.DigitsDataModule",
            "init_args": {"image_size": 32, "batch_size": 16, "val_fraction": 0.0},
        },
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "max_epochs": -1,
            "deterministic": True,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": {
                "class_path": "an_lightning.loggers.CSVLogger",
                "init_args": {"save_dir": ".", "name": "", "version": ""},
            },
        },
    }


def write(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


class ToyFeatures(nn.Module):
    """The fid-helper input contract ((N, 3, 299, 299) in x/128 - 1) at toy cost: 4x4
    average colours through a fixed random projection to 32 features (small covariances
    keep the Frechet distance cheap)."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(3 * 4 * 4, 32)
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(32, 48, generator=g) / 7)
            self.proj.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(nn.functional.adaptive_avg_pool2d(x, 4).flatten(1))


def toy_feature_file(path: Path) -> Path:
    """Save ``ToyFeatures`` as TorchScript (a user-given feature network file)."""
    torch.jit.save(torch.jit.script(ToyFeatures().eval()), str(path))
    return path
