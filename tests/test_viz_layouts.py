"""Layout pictures: argmax colours, soft maps, and a pass that leaves the nets as it found them."""

from types import SimpleNamespace

import pytest
import torch

from an_lightning.latents import draw_latents
from an_lightning.models import Discriminator, Generator, NormSpec
from an_lightning.viz.layouts import (
    binarised,
    entity_colours,
    layout_panels,
    network_layouts,
    soft_maps,
    task_layouts,
)


def test_entity_colours_are_distinct():
    for n in (2, 8, 16, 32):
        colours = entity_colours(n)
        assert colours.shape == (n, 3) and len({tuple(c.tolist()) for c in colours}) == n


def test_binarised_colours_each_pixel_by_its_argmax_entity():
    layout = torch.softmax(torch.randn(2, 5, 4, 4) * 3, dim=1)
    picture = binarised(layout, 8)
    assert picture.shape == (2, 3, 8, 8)
    colours = entity_colours(5) * 2 - 1
    winner = layout.argmax(1)
    for b, i, j in [(0, 0, 0), (1, 3, 2), (0, 2, 3)]:  # nearest: pixel (2i, 2j) is cell (i, j)
        assert torch.allclose(picture[b, :, 2 * i, 2 * j], colours[winner[b, i, j]])


def test_soft_maps_put_each_entity_on_its_own_panel():
    layout = torch.zeros(1, 2, 4, 4)
    layout[0, 0, :, :2], layout[0, 1, :, 2:] = 1, 1  # left half, right half
    maps = soft_maps(layout, 4)
    assert maps.shape == (1, 2, 3, 4, 4)
    # viridis: bright (yellow) where the entity is, dark (purple) elsewhere
    assert maps[0, 0, :, :, 0].sum() > maps[0, 0, :, :, 3].sum()
    assert maps[0, 1, :, :, 3].sum() > maps[0, 1, :, :, 0].sum()


def test_panels_have_one_row_per_image():
    images = torch.rand(3, 3, 16, 16) * 2 - 1
    panels = layout_panels(images, torch.softmax(torch.randn(3, 4, 8, 8), 1))
    side = 16 + 2
    assert panels["binary"].shape == (3 * side + 2, 3 * side + 2, 3)
    assert panels["soft"].shape == (3 * side + 2, 5 * side + 2, 3)


def test_network_layouts_cover_g_and_d_and_restore_their_state():
    an = {16: NormSpec("an", {"n": 4, "keep_layout": False})}
    g = Generator(32, num_classes=3, z_dim=8, ch=4, extra=an)
    d = Discriminator(32, num_classes=3, ch=4, extra=an)
    g.train(), d.eval()
    images, found = network_layouts(g, torch.randn(2, 8), torch.tensor([0, 2]), d)
    assert images.shape == (2, 3, 32, 32)
    assert {k[:2] for k in found} == {"G.", "D."} and len(found) == 2
    assert all(v.shape == (2, 4, 16, 16) for v in found.values())
    assert g.training and not d.training  # modes restored
    assert all(not m.keep_layout for m in [*g.modules(), *d.modules()] if hasattr(m, "keep_layout"))


def test_task_layouts_draw_seeded_images_of_each_class_from_the_chosen_generator():
    an = {16: NormSpec("an", {"n": 4})}
    raw, ema = (Generator(32, num_classes=3, z_dim=8, ch=4, extra=an).eval() for _ in "ab")
    d = Discriminator(32, num_classes=3, ch=4, extra=an)
    task = SimpleNamespace(
        num_classes=3, generator=raw, g_ema=SimpleNamespace(module=ema), discriminator=d
    )
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(5))
    y = torch.tensor([2, 2, 0, 0])
    with torch.no_grad():
        assert not torch.allclose(raw(z, y), ema(z, y), atol=1e-3)  # the choice shows
    for g, flag in ((ema, False), (raw, True)):
        images, found = task_layouts(task, [2, 0], 2, 5, raw=flag)
        with torch.no_grad():
            assert torch.allclose(images, g(z, y), atol=1e-5)
        assert {k[:2] for k in found} == {"G.", "D."}
    cut = draw_latents(4, 8, torch.Generator().manual_seed(5), truncation=0.3)
    images, _ = task_layouts(task, [2, 0], 2, 5, truncation=0.3)
    with torch.no_grad():
        assert torch.allclose(images, ema(cut, y), atol=1e-5)
        assert not torch.allclose(images, ema(z, y), atol=1e-3)
    with pytest.raises(ValueError, match=r"classes \[3\] outside \[0, 3\)"):
        task_layouts(task, [0, 3], 1, 0)
