"""Image grids: layout of a known tensor, value mapping, PNG round trip."""

import numpy as np
import torch
from PIL import Image

from an_lightning.viz.grid import make_grid, save_png


def test_layout_of_three_grey_images_in_rows_of_two():
    images = torch.stack([torch.full((1, 2, 2), v) for v in (-1.0, 0.0, 1.0)])
    grid = make_grid(images, nrow=2, pad=1)
    assert grid.shape == (7, 7, 3) and grid.dtype == np.uint8  # 2 rows x 2 columns
    expected = np.full((7, 7), 255, dtype=np.uint8)  # padding and the empty 4th slot: white
    expected[1:3, 1:3] = 0  # -1 -> 0
    expected[1:3, 4:6] = 128  # 0 -> 127.5, rounded to even
    expected[4:6, 1:3] = 255  # 1 -> 255
    assert all(np.array_equal(grid[..., c], expected) for c in range(3))  # grey: 3 equal channels


def test_colour_images_keep_their_channels_and_values_are_clamped():
    image = torch.zeros(1, 3, 1, 1)
    image[0, :, 0, 0] = torch.tensor([-5.0, 1.0, 0.5])
    grid = make_grid(image, nrow=4, pad=0)
    assert grid.shape == (1, 4, 3)
    assert grid[0, 0].tolist() == [0, 255, 191]  # (0.5 + 1) * 127.5 = 191.25
    assert grid[0, 1:].tolist() == [[255, 255, 255]] * 3


def test_save_png_creates_folders_and_round_trips(tmp_path):
    grid = make_grid(torch.rand(5, 3, 4, 4) * 2 - 1, nrow=3)
    path = save_png(grid, tmp_path / "a" / "b" / "grid.png")
    assert path == tmp_path / "a" / "b" / "grid.png"
    assert np.array_equal(np.asarray(Image.open(path)), grid)
