"""Batch buffers that are reused instead of allocated anew for every batch.

A fresh 3 MiB shared-memory batch (64 images at 128 px) cost its DataLoader worker
2.2 ms of page faults here, and the main process about as much again when it first read
the batch: together more than decoding a third of the images. The pool hands the same
buffers out again once nothing uses them, so those faults happen once per buffer.

Ownership is what makes reuse safe, and it is tracked, never assumed:

- In the process that reads the batch, a buffer is free again when the tensor handed out
  for it and every view of it are gone (a weak reference to that tensor's own storage
  has expired), however long a training step or a user keeps them.
- In a DataLoader worker the buffers live in shared memory, and the last byte of each is
  a flag: the worker sets it when it fills the buffer, and the main process (``Receiver``)
  clears it once the batch it received there has expired as above, or once
  ``pin_memory`` has copied it. A worker whose buffers are all still in use allocates a
  fresh one, as torch's own collate does, instead of waiting.

No library does this: torch's ``default_collate`` and webdataset allocate every batch anew.
"""

from __future__ import annotations

import math
import os
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils.data import get_worker_info

SLOTS = 6  # batch buffers per worker: 2 prefetched, ~2 held by a training loop, spare


def _alias(buffer: torch.Tensor) -> torch.Tensor:
    """The same memory under a storage of its own, so that its lifetime can be watched
    apart from the pool's reference (numpy keeps ``buffer`` alive meanwhile)."""
    return torch.from_numpy(buffer.numpy())


def shared_bytes(numel: int) -> torch.Tensor:
    """A flat uint8 tensor in shared memory (as torch's default_collate allocates worker
    batches: queueing it to the main process then copies nothing)."""
    return torch.empty(0, dtype=torch.uint8).set_(torch.UntypedStorage._new_shared(numel))


def _flag(whole: torch.Tensor) -> np.ndarray:
    return whole.numpy()[-1:]


class BufferPool:
    """Batch buffers of up to ``slots`` batches, reused once free (see module doc).

    ``dtype`` other than uint8 is for in-process use only (shared buffers carry a flag byte).
    """

    def __init__(self, slots: int = SLOTS, dtype: torch.dtype = torch.uint8) -> None:
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        self.slots = slots
        self.dtype = dtype
        self._owner: tuple[int, bool] | None = None
        self._buffers: list[torch.Tensor] = []  # whole flat buffers (+1 flag byte if shared)
        self._leases: list[StorageWeakRef | None] = []
        self.fresh = 0  # batches that found every buffer in use

    def __getstate__(self) -> dict:  # workers start with an empty pool of their own
        return {**self.__dict__, "_owner": None, "_buffers": [], "_leases": []}

    def take(self, shape: tuple[int, ...]) -> tuple[torch.Tensor, bool]:
        """A tensor of ``shape``, and whether it is a worker's pooled buffer whose flag the
        receiving process must clear (``Receiver``)."""
        shared = self.dtype == torch.uint8 and get_worker_info() is not None
        owner = (os.getpid(), shared)
        if self._owner != owner:  # forked into a worker, or first use
            self._owner, self._buffers, self._leases = owner, [], []
        numel = math.prod(shape)
        for i, whole in enumerate(self._buffers):
            if whole.numel() - shared >= numel and self._free(i, shared):
                return self._lend(i, numel, shape, shared), shared
        if len(self._buffers) < self.slots:
            new = shared_bytes(numel + 1) if shared else torch.empty(numel, dtype=self.dtype)
            self._buffers.append(new)
            self._leases.append(None)
            return self._lend(len(self._buffers) - 1, numel, shape, shared), shared
        self.fresh += 1
        fresh = shared_bytes(numel) if shared else torch.empty(numel, dtype=self.dtype)
        return fresh.view(shape), False

    def _free(self, i: int, shared: bool) -> bool:
        if shared:
            return _flag(self._buffers[i])[0] == 0
        lease = self._leases[i]
        return lease is None or lease.expired()

    def _lend(self, i: int, numel: int, shape: tuple[int, ...], shared: bool) -> torch.Tensor:
        whole = self._buffers[i]
        if shared:  # the tensor itself travels to the main process, which owns it from then
            _flag(whole)[0] = 1
            return whole[:numel].view(shape)
        out = _alias(whole[:numel]).view(shape)
        self._leases[i] = StorageWeakRef(out.untyped_storage())
        return out


@dataclass
class PooledBatch:
    """A batch on its way from the pipeline to the main process.

    ``images`` (uint8) may sit in a worker's pooled buffer that the receiver must free
    (``release``); ``labels`` travel as a numpy array, pickled inline instead of in a
    shared-memory segment of their own.
    """

    images: torch.Tensor
    labels: np.ndarray
    release: bool = False
    # Instead of a batch: a worker's data error, raised by ``Receiver`` in the main
    # process with its own message (a DataLoader would wrap it in the worker's traceback).
    error: Exception | None = None

    def pin_memory(self, device: str | None = None) -> PooledBatch:
        """Called by the DataLoader's pin-memory thread: after the copy the worker's buffer
        is free at once."""
        if self.error is not None:
            return self
        images = self.images.pin_memory()
        if self.release:
            _release(self.images)
        return PooledBatch(images, torch.from_numpy(self.labels).pin_memory())


def _release(images: torch.Tensor) -> None:
    whole = torch.empty(0, dtype=torch.uint8).set_(images.untyped_storage())
    _flag(whole)[0] = 0


class Receiver:
    """Main-process end: ``PooledBatch`` -> ``(images, labels)``, freeing worker buffers.

    ``keep`` received storages stay mapped in this process, so a buffer that comes back
    from its worker is not mapped (and page-faulted) again: torch finds it in its cache.
    """

    def __init__(self, keep: int) -> None:
        self._lent: list[tuple[StorageWeakRef, torch.Tensor]] = []
        self._mapped: deque[torch.Tensor] = deque(maxlen=max(1, keep))

    def __call__(self, batch: PooledBatch | tuple) -> tuple[torch.Tensor, torch.Tensor]:
        self._poll()
        if not isinstance(batch, PooledBatch):
            return batch
        if batch.error is not None:
            raise batch.error
        labels = batch.labels
        labels = labels if isinstance(labels, torch.Tensor) else torch.from_numpy(labels)
        if not batch.release:
            return batch.images, labels
        images = _alias(batch.images)
        self._lent.append((StorageWeakRef(images.untyped_storage()), batch.images))
        self._mapped.append(batch.images)
        return images, labels

    def _poll(self) -> None:
        still = []
        for lease, received in self._lent:
            if lease.expired():
                _release(received)
            else:
                still.append((lease, received))
        self._lent = still
