import gc

import numpy as np
import pytest
import torch
import webdataset as wds

from an_lightning.data.batch_pool import BufferPool, PooledBatch, Receiver

SHAPE = (4, 3, 8, 8)


def test_in_process_buffer_is_reused_only_after_every_view_is_gone():
    pool = BufferPool(slots=2)
    first, release = pool.take(SHAPE)
    assert not release and first.shape == SHAPE and first.dtype == torch.uint8
    first.fill_(7)
    view = first[1:]  # a view keeps the memory in use
    del first
    second, _ = pool.take(SHAPE)
    assert second.data_ptr() != view.data_ptr() - view[0].numel()
    second.fill_(9)
    assert (view == 7).all()
    third, _ = pool.take(SHAPE)  # both slots in use: a fresh, unpooled tensor
    assert pool.fresh == 1
    ptr = view.data_ptr() - view[0].numel()
    del view, third
    gc.collect()
    again, _ = pool.take(SHAPE)
    assert again.data_ptr() == ptr  # the first buffer came back once nothing viewed it


def test_float_pool_and_smaller_batches_reuse_larger_buffers():
    pool = BufferPool(slots=1, dtype=torch.float32)
    full, _ = pool.take(SHAPE)
    ptr = full.data_ptr()
    del full
    part, _ = pool.take((2, *SHAPE[1:]))
    assert part.dtype == torch.float32 and part.shape == (2, 3, 8, 8) and part.data_ptr() == ptr


class _Batches(torch.utils.data.IterableDataset):
    """A worker writes batch i as the value i into pooled buffers; its labels say
    (i, whether the buffer is pooled, how many batches so far found no free buffer)."""

    def __init__(self, n: int) -> None:
        self.n, self.pool = n, BufferPool(slots=6)

    def __iter__(self):
        for i in range(self.n):
            images, release = self.pool.take(SHAPE)
            images.fill_(i)
            yield PooledBatch(images, np.array([i, release, self.pool.fresh, 0]), release)


def _loader(n: int):
    loader = wds.WebLoader(_Batches(n), batch_size=None, num_workers=1, prefetch_factor=2)
    return loader.map(Receiver(keep=6))


def test_worker_buffers_come_back_when_freed_and_stay_intact_while_held():
    for i, (images, labels) in enumerate(_loader(30)):
        assert (images == i).all() and labels.tolist() == [i, 1, 0, 0]
        del images, labels  # every batch pooled: the receiver freed each buffer in time

    held = list(_loader(12))  # nothing freed: after 6 the worker falls back to fresh ones
    assert [labels[1].item() for _, labels in held] == [1] * 6 + [0] * 6
    assert all((images == i).all() for i, (images, _) in enumerate(held))  # none overwritten


def test_pin_memory_frees_the_worker_buffer_after_copying(monkeypatch):
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self, device=None: self.clone())
    whole = torch.zeros(int(np.prod(SHAPE)) + 1, dtype=torch.uint8)
    whole[-1] = 1  # the worker's in-use flag
    images = whole[:-1].view(SHAPE).fill_(5)
    pinned = PooledBatch(images, np.arange(4), release=True).pin_memory()
    assert whole[-1] == 0 and not pinned.release
    assert (pinned.images == 5).all() and pinned.images.data_ptr() != images.data_ptr()
    out_images, labels = Receiver(keep=1)(pinned)
    assert out_images is pinned.images and labels.tolist() == [0, 1, 2, 3]


def test_receiver_passes_plain_batches_through():
    batch = (torch.zeros(SHAPE, dtype=torch.uint8), torch.zeros(4, dtype=torch.int64))
    assert Receiver(keep=1)(batch) is batch


def test_slots_must_be_positive():
    with pytest.raises(ValueError, match="slots"):
        BufferPool(slots=0)


def test_a_workers_data_error_is_raised_by_the_receiver_also_after_pinning():
    error = ValueError("shard-000003.tar holds label 7, but the data has 3 classes")
    batch = PooledBatch(torch.empty(0, dtype=torch.uint8), np.empty(0, np.int64), error=error)
    assert batch.pin_memory() is batch
    with pytest.raises(ValueError) as caught:
        Receiver(keep=1)(batch)
    assert caught.value is error
