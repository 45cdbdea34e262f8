"""``python -m an_lightning.evaluate`` for inpainting checkpoints: PSNR / SSIM / MAE,
and with ``--metrics ...,fid`` the FID of the filled images against the originals.

The EMA generator (``--generator raw``: G itself) fills the fixed evaluation masks
(``data.masks.load_eval_masks``, the loader the run validated with) on held-out images:
by default the validation split of the data the checkpoint was trained on, or an image
folder given with ``--ref``. Masks: ``--masks FOLDER``, else the folder the run validated
with (``Inpainting.mask_folder``: ``eval_masks``, or ``<run dir>/eval_masks``), written
from the run's seed if absent, so scores match the ones logged during training.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..data import FolderDataModule
from ..data.base import ImageDataModule
from ..data.masks import PRESETS, load_eval_masks, read_eval_masks
from ..metrics.features import InceptionFeatures, load_feature_network
from ..metrics.inpainting import METRICS as INPAINT_METRICS
from ..metrics.inpainting import evaluate_inpainting
from ..tasks import Inpainting
from . import preflight
from .reference_source import training_data
from .run_dir import RunError

Result = dict[str, float | int | str]


def held_out_images(data: ImageDataModule, limit: int, where: str) -> torch.Tensor:
    """Up to ``limit`` uint8 images of ``data``'s validation split."""
    data.setup("validate")
    loader = data.val_dataloader()
    if not loader:
        raise RunError(f"{where} has no validation images: pass --ref with a folder of test images")
    chunks, count = [], 0
    for images, _ in loader:
        chunks.append(images[: limit - count])
        count += chunks[-1].shape[0]
        if count >= limit:
            break
    return torch.cat(chunks)


def run_dir_of(ckpt: Path) -> Path:
    """The run directory of a checkpoint: ``<run>/checkpoints/x.ckpt`` or ``<run>/x.ckpt``
    (Lightning's preemption checkpoints)."""
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent


def mask_source(task: Inpainting, ckpt: Path, args: argparse.Namespace) -> tuple[Path, str]:
    """(folder, the option that chose it): --masks, else the run's own mask folder."""
    if getattr(args, "masks", None):
        return Path(args.masks), "--masks"
    return task.mask_folder(run_dir_of(ckpt)), "eval_masks"


def _metric_names(spec: str | None) -> list[str]:
    """``--metrics`` for inpainting; default PSNR, SSIM and MAE (FID only when asked)."""
    metrics = [m.strip() for m in (spec or "psnr,ssim,mae").split(",") if m.strip()]
    unknown = sorted(set(metrics) - {*INPAINT_METRICS, "fid"})
    if unknown:
        raise ValueError(f"unknown metrics {unknown} for inpainting: psnr, ssim, mae, fid")
    return metrics


def check_mask_folder(folder: Path, what: str, presets: tuple[str, ...] | None = None) -> None:
    """``ValueError`` unless ``folder`` is a folder where the ``presets`` it lacks can be
    written (``load_eval_masks`` writes them). ``presets`` None (the model not loaded
    yet): only a folder with none of the presets must be writable. The masks themselves
    are checked by ``read_eval_masks``, which needs the model's size and count."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{what} {folder} is a file; pass the mask set's folder")
    there = [(folder / p).is_dir() for p in presets or PRESETS]
    if not (all(there) if presets else any(there)):
        preflight.writable_location(folder, what)


def check_inpaint_args(args: argparse.Namespace) -> None:
    """The options of an inpainting evaluation, checked before the model is loaded."""
    _metric_names(args.metrics)
    if args.generator == "both":
        raise ValueError(
            "inpainting scores one generator (its keys carry the mask preset): pass "
            "--generator raw or --generator ema (the default)"
        )
    if args.ref and not Path(args.ref).is_dir():
        raise ValueError(
            f"--ref {args.ref} is not a folder: inpainting is scored on a folder of test images"
        )
    if args.truncation is not None:
        raise ValueError("--truncation is for class-conditional GANs (latents): drop it")
    if args.masks:
        check_mask_folder(Path(args.masks), "--masks")


def feature_network(spec: str, device: str) -> InceptionFeatures:
    """``--feature-network`` on ``device`` (shared with the GAN evaluator); a file that
    fails on a test batch is a ``ValueError``."""
    try:
        return load_feature_network(spec).to(device)
    except RuntimeError as err:
        reason = " ".join(str(err).split())[:200]
        raise ValueError(
            f"--feature-network {spec} does not run ({reason}); it must map (N, 3, 299, 299) "
            "images to (N, D) features"
        ) from None


def evaluate_inpaint(task: Inpainting, ckpt: Path, args: argparse.Namespace) -> Result:
    """PSNR/SSIM/MAE per mask preset of the composited output (``evaluate_inpainting``)."""
    size = task.discriminator.image_size
    metrics = set(_metric_names(args.metrics))
    hp, (folder, setting) = task.hparams, mask_source(task, ckpt, args)
    presets = tuple(hp.eval_presets)
    check_mask_folder(folder, setting, presets)
    read_eval_masks(folder, size, hp.eval_mask_count, presets, setting)  # the ones there
    # Everything that can fail before the mask set is written (when it is absent).
    features = feature_network(args.feature_network, args.device) if "fid" in metrics else None
    if args.ref:
        data: ImageDataModule = FolderDataModule(
            args.ref,
            val_root=args.ref,
            image_size=size,
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            hflip=False,
        )
        where = args.ref
    else:
        data = training_data(ckpt, batch_size=args.batch_size, num_workers=args.num_workers)
        where = f"the training data of {ckpt}"
    images = held_out_images(data, args.reference_images, where)
    if images.shape[-1] != size or images.shape[-2] != size:
        raise ValueError(
            f"{where} gives {images.shape[-2]}x{images.shape[-1]} images, the model was "
            f"trained at {size}x{size}: point --ref at {size}px images"
        )
    masks = load_eval_masks(
        folder, size, hp.eval_mask_count, hp.eval_mask_seed, presets, setting=setting
    )
    name = args.generator or "ema"
    generator = task.generator if name == "raw" else task.g_ema.module
    scores = evaluate_inpainting(
        generator.to(args.device), images, masks, batch_size=args.batch_size, features=features
    )
    scores = {k: v for k, v in scores.items() if k.split("/")[0] in metrics}
    if features is not None:
        scores["feature_network"] = features.name
    return {
        **scores,
        "images": int(images.shape[0]),
        "masks": str(folder),
        "generator": name,
    }
