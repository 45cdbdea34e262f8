"""Two gloo ranks, each generating its share, give the single-process numbers."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from an_lightning.metrics.features import InceptionFeatures, to_uint8
from an_lightning.metrics.frechet import GaussianStats
from an_lightning.metrics.reference import ReferenceStats
from an_lightning.metrics.suite import PRDC_KEYS, SampleCounts, evaluate_sampler

# One KID subset holding all 40 real and 40 fake features: no random subsampling. PRDC
# takes the first 30 of each, which the strided rank shares split unevenly.
COUNTS = SampleCounts(
    fid=40, intra_fid_per_class=20, batch_size=8, kid_subsets=1, kid_subset_size=40, prdc=30
)


class ChannelStats(nn.Module):
    def forward(self, x):
        return torch.cat([x.mean((2, 3)), x.std((2, 3))], 1)


def sample(labels):
    """Images that depend only on the label, so the split across ranks cannot matter."""
    out = [torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(int(c))) for c in labels]
    return torch.stack(out) * 2 - 1


class TemplateClassifier(nn.Module):
    """Names the class whose ``sample`` image an image is, but calls classes 6..9 one
    higher: accuracy 24/40 = 0.6 on 40 balanced labels, however the ranks split them."""

    def __init__(self):
        super().__init__()
        self.templates = to_uint8(sample(torch.arange(10))).float().flatten(1)

    def forward(self, images):
        label = torch.cdist(images.float().flatten(1), self.templates).argmin(1)
        guess = torch.where(label < 6, label, (label + 1) % 10)
        return 10.0 * nn.functional.one_hot(guess, 10).float()


def setup():
    features = InceptionFeatures(ChannelStats(), "channel-stats", num_features=6)
    # Drawn like the samples (in [-1, 1]), so that PRDC's balls overlap.
    real = features(torch.rand(40, 3, 8, 8, generator=torch.Generator().manual_seed(99)) * 2 - 1)
    stats = GaussianStats.from_features(real["pool"])
    ref = ReferenceStats("toy", "channel-stats", stats, {3: stats}, real["pool"])
    return features, ref


def run(features, ref):
    return evaluate_sampler(
        sample,
        10,
        features,
        ref,
        COUNTS,
        intra_classes=[3],
        metrics=["fid", "kid", "intra_fid", "prdc", "accuracy"],
        classifier=TemplateClassifier(),
    )


def _rank(rank, world, init, queue):
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        queue.put((rank, run(*setup())))
    except Exception as e:  # reported, so the parent fails instead of waiting
        queue.put((rank, repr(e)))
    finally:
        dist.destroy_process_group()


@pytest.mark.timeout(300)
def test_two_ranks_match_one_process(tmp_path):
    single = run(*setup())
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    init = f"file://{tmp_path / 'rendezvous'}"
    procs = [ctx.Process(target=_rank, args=(r, 2, init, queue)) for r in range(2)]
    for p in procs:
        p.start()
    results = dict(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert single["n_prdc_fake"] == 30 and 0 < single["coverage"] < 1
    assert single["precision"] > 0 and single["recall"] > 0
    assert single["accuracy"] == pytest.approx(0.6)
    for rank in (0, 1):
        assert isinstance(results[rank], dict), results[rank]
        for key in ("fid", "intra_fid", *PRDC_KEYS, "accuracy", "accuracy_top5"):
            assert results[rank][key] == pytest.approx(single[key], rel=1e-6, abs=1e-9), key
        # KID is a float32 difference of kernel means near 1 that ends near 1e-3, so the
        # order of the gathered features (strided shares) moves it by ~3e-4 relative (the
        # same 40 features, one subset); fid and PRDC above check that the sets are equal.
        assert results[rank]["kid_mean"] == pytest.approx(single["kid_mean"], rel=1e-3)
