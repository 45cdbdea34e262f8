"""Write the fixed evaluation mask set (``data.masks``) ahead of training or scoring.

    python -m an_lightning.cli.mask_set masks/eval256 --size 256 --count 100

Point ``eval_masks`` of the runs (or ``evaluate --masks``) at the folder; a run also
writes the set on first use, so this is only needed to prepare a shared folder.
"""

from __future__ import annotations

from pathlib import Path

from ..data.masks import DEFAULT_COUNT, PRESETS, make_mask_set, save_mask_set
from . import preflight
from .errors import CommandParser, command_errors

MIN_SIZE = 8  # smaller masks can come out without a hole


def check_args(folder: Path, size: int, count: int) -> None:
    """``ValueError`` for a set that would be degenerate or could not be written."""
    preflight.at_least(size, MIN_SIZE, "--size")
    preflight.at_least(count, 1, "--count")
    preflight.output_folder(folder, "mask folder")
    if folder.exists() and any(folder.iterdir()):
        raise ValueError(f"{folder} is not empty; choose a new folder (or delete this one)")


def main(argv: list[str] | None = None) -> None:
    parser = CommandParser(
        prog="python -m an_lightning.cli.mask_set", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("folder", type=Path, help="a new or empty folder")
    parser.add_argument("--size", type=int, default=256, help=f"mask side (>= {MIN_SIZE})")
    parser.add_argument(
        "--count", type=int, default=DEFAULT_COUNT, help="masks per preset (eval_mask_count)"
    )
    parser.add_argument("--seed", type=int, default=0, help="eval_mask_seed")
    args = parser.parse_args(argv)
    with command_errors():
        check_args(args.folder, args.size, args.count)
    save_mask_set(make_mask_set(args.size, args.count, args.seed), args.folder)
    print(f"wrote {len(PRESETS)} x {args.count} masks of {args.size}x{args.size} to {args.folder}")


if __name__ == "__main__":
    main()
