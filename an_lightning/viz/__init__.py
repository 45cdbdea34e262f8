"""Pictures: image grids written as PNG."""

from .grid import make_grid, save_png

__all__ = ["make_grid", "save_png"]
