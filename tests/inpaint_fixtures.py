"""A tiny inpainting run (32 px photo crops, 1/8-width networks) for the tests."""

from pathlib import Path

import yaml

from an_lightning import fit


def tiny_config(run_dir: Path, max_g_steps: int = 4, **model) -> dict:
    """The fit config of a tiny run in ``run_dir``; ``model`` overrides task arguments."""
    return {
        "run_dir": str(run_dir),
        "checkpoint_every": 2,
        "seed_everything": 0,
        "model": {
            "class_path": "an_lightning.tasks.Inpainting",
            "init_args": {
                "generator": {
                    "class_path": "an_lightning.models.InpaintGenerator",
                    "init_args": {"norm": {"name": "an", "options": {"n": 4}}, "width": 0.125},
                },
                "discriminator": {
                    "class_path": "an_lightning.models.GlobalLocalCritic",
                    "init_args": {"image_size": 32, "width": 0.125},
                },
                "n_dis": 2,
                "g_lr": 1e-3,
                "discount": 0.9,
                "max_g_steps": max_g_steps,
                "ema_start": 1,
                "eval_mask_count": 4,
                "eval_masks": str(run_dir.parent / "eval_masks"),
                **model,
            },
        },
        "data": {
            "class_path": "an_lightning.data.PhotosDataModule",
            "init_args": {
                "image_size": 32,
                "batch_size": 6,
                "train_crops": 48,
                "val_crops": 6,
                "hflip": False,  # flips use torch's global RNG, which a resume does not restore
            },
        },
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "max_epochs": -1,
            "deterministic": True,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "num_sanity_val_steps": 0,
            "check_val_every_n_epoch": None,
            "val_check_interval": 2,
            "log_every_n_steps": 1,
            "logger": {
                "class_path": "an_lightning.loggers.CSVLogger",
                "init_args": {"save_dir": ".", "name": "", "version": ""},
            },
        },
    }


def run_fit(folder: Path, name: str, config: dict, *extra: str) -> None:
    """Write ``config`` as ``<folder>/<name>.yaml`` and train it in this process."""
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    fit.main([str(path), *extra])
