"""Moved: the fixed evaluation mask set is made by ``data.masks`` and written by
``python -m an_lightning.cli.mask_set``; this name only says so, in one line."""

import sys

MOVED = (
    "error: python -m an_lightning.data.mask_set has moved: run "
    "python -m an_lightning.cli.mask_set FOLDER --size S --count N (same arguments)"
)

if __name__ == "__main__":
    print(MOVED, file=sys.stderr)
    sys.exit(2)
