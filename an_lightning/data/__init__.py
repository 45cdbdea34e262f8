"""Data: shard writing, the shard pipeline and the DataModules of the suite.

Batch contract: a LightningModule trained with any of these DataModules receives tuples
``(images, labels)``, ``images`` float32 ``(B, 3, H, W)`` in [-1, 1] and ``labels`` int64
``(B,)`` (-1 when unlabelled). The loaders themselves yield uint8 images (flipped, when
training with ``hflip``, by coins seeded with the data order); the DataModule's
``on_after_batch_transfer`` scales them on the device; outside a Trainer use
``dm.to_model_batch(batch)``. Each DataModule has ``num_classes`` (0 when unlabelled),
``image_size`` and ``check_num_classes(expected)`` (also run in ``setup`` against the
model's ``num_classes`` attribute, if it has one). docs/data.md: order and resume.
"""

from __future__ import annotations

import importlib
from typing import Any

# Resolved on first access (PEP 562) so that ``python -m an_lightning.data.shards`` does
# not pay for importing Lightning.
_EXPORTS = {
    "ImageDataModule": "an_lightning.data.base",
    "ShardDataModule": "an_lightning.data.shard_data",
    "FolderDataModule": "an_lightning.data.folder_data",
    "DigitsDataModule": "an_lightning.data.digits_data",
    "PhotosDataModule": "an_lightning.data.photos_data",
    "DiffAugment": "an_lightning.data.augment",
    "BadDataError": "an_lightning.data.failures",
    "FailureStats": "an_lightning.data.failures",
    "write_shards": "an_lightning.data.shards",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
