"""DiffAugment: exact whole-pixel shifts and squares, every draw from its generator."""

import pytest
import torch
from torch import nn

from an_lightning.data.augment import DiffAugment, randint
from an_lightning.norms import set_generator


def seeded(seed: int, policy: str = "translation,cutout", **kw) -> DiffAugment:
    augment = DiffAugment(policy, **kw)
    augment.generator = torch.Generator().manual_seed(seed)
    return augment


def images(n: int = 8, side: int = 16) -> torch.Tensor:
    return torch.rand(n, 3, side, side, generator=torch.Generator().manual_seed(123)) + 1


def test_same_seed_same_output_other_seed_other_output():
    x = images()
    assert torch.equal(seeded(0)(x), seeded(0)(x))
    assert not torch.equal(seeded(0)(x), seeded(1)(x))
    augment = seeded(0)
    assert not torch.equal(augment(x), augment(x))  # the stream moves on


def test_a_restored_generator_state_repeats_the_following_draws():
    x, augment = images(), seeded(5)
    augment(x)
    saved = augment.generator.get_state()
    following = [augment(x) for _ in range(3)]
    other = seeded(99)
    other.generator.set_state(saved)
    assert all(torch.equal(other(x), y) for y in following)


def test_the_global_rng_is_left_alone():
    before = torch.get_rng_state()
    seeded(0)(images())
    assert torch.equal(torch.get_rng_state(), before)


def test_without_a_generator_the_global_rng_decides():
    x = images()
    torch.manual_seed(3)
    first = DiffAugment()(x)
    torch.manual_seed(3)
    assert torch.equal(DiffAugment()(x), first)


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """out[i, j] = x[i + dy, j + dx], 0 outside: the expected shift, spelled out."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    for i in range(h):
        for j in range(w):
            if 0 <= i + dy < h and 0 <= j + dx < w:
                out[..., i, j] = x[..., i + dy, j + dx]
    return out


def test_translation_is_an_exact_whole_pixel_shift_with_zero_fill():
    x = torch.arange(1, 3 * 8 * 8 + 1, dtype=torch.float32).reshape(1, 3, 8, 8).repeat(64, 1, 1, 1)
    out = seeded(0, "translation", translation=0.25)(x)  # shifts in [-2, 2]
    all_shifts = {(dy, dx): shifted(x[0], dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}
    seen = set()
    for y in out:
        match = [s for s, ref in all_shifts.items() if torch.equal(y, ref)]
        assert len(match) == 1, "not a whole-pixel shift within [-2, 2]"
        seen.add(match[0])
    assert len(seen) > 10  # 64 images spread over the 25 shifts


def test_translation_sign_and_axes_on_a_hand_made_image():
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 1.0
    augment = seeded(0, "translation", translation=0.4)  # shift 2
    g_state = augment.generator.get_state()
    out = augment(x)
    augment.generator.set_state(g_state)  # the draws again: rows first, then columns
    cpu = torch.device("cpu")
    dy, dx = (int(randint(-2, 3, 1, augment.generator, cpu)) for _ in range(2))
    expected = torch.zeros(1, 1, 5, 5)
    expected[0, 0, 2 - dy, 2 - dx] = 1.0
    assert torch.equal(out, expected)


def test_cutout_zeroes_one_square_of_the_expected_side_clipped_at_the_border():
    x = torch.ones(256, 3, 10, 10)
    out = seeded(0, "cutout", cutout=0.4)(x)  # a 4x4 square
    zero = out == 0
    assert torch.equal(zero, zero[:, :1].expand_as(zero))  # the same pixels in every channel
    rows, cols = zero[:, 0].any(2), zero[:, 0].any(1)
    for z, r, c in zip(zero[:, 0], rows, cols, strict=True):
        assert torch.equal(z, r[:, None] & c[None, :])  # a rectangle ...
        for mask in (r, c):  # ... of 4 contiguous pixels, fewer only against a border
            idx = mask.nonzero().flatten()
            assert 1 <= len(idx) <= 4 and int(idx[-1] - idx[0]) == len(idx) - 1
            assert len(idx) == 4 or idx[0] == 0 or idx[-1] == 9
    assert (zero[:, 0].flatten(1).sum(1) == 16).float().mean() > 0.3
    assert (zero[:, 0].flatten(1).sum(1) < 16).any()


def test_gradients_reach_exactly_the_pixels_that_reach_the_output():
    x = images().double().requires_grad_()
    augment = seeded(2)
    state = augment.generator.get_state()
    y = augment(x)
    weight = torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=x.dtype)
    (y * weight).sum().backward()
    # A linear map: <A^T w, x> == <w, A x>, the gradient is the adjoint of the augmentation.
    assert torch.allclose((x.grad * x).sum(), (weight * y).sum())
    augment.generator.set_state(state)
    x.grad = None
    augment(x).sum().backward()  # the same draws: each kept pixel contributes exactly 1
    with torch.no_grad():
        augment.generator.set_state(state)
        landed = augment(torch.ones_like(x))
    assert set(x.grad.unique().tolist()) <= {0.0, 1.0}
    assert x.grad.sum() == landed.sum() > 0


def test_bf16_keeps_its_dtype():
    assert seeded(0)(images().bfloat16()).dtype == torch.bfloat16


def test_unknown_policy_is_refused_and_empty_is_identity():
    with pytest.raises(ValueError, match="unknown DiffAugment policy"):
        DiffAugment("color,rotate")
    x = images()
    assert torch.equal(DiffAugment("")(x), x)


def test_set_generator_reaches_nested_augments():
    gen = torch.Generator()
    nested = nn.Sequential(DiffAugment("cutout"), nn.Identity(), DiffAugment("translation"))
    assert set_generator(nested, gen, kind=DiffAugment) == 2
    assert all(m.generator is gen for m in nested if isinstance(m, DiffAugment))
    assert set_generator(nn.Identity(), gen, kind=DiffAugment) == 0
