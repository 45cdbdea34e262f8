"""``python -m an_lightning.data.shards SRC OUT ...``: the shard writer's command line.

The writer itself (``data.shards``) is library code; its arguments, their checks and the
one-line errors live here with the other commands.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..data.preprocess import FORMATS
from ..data.shards import Options, write_shards
from . import preflight
from .errors import CommandParser, command_errors


def main(argv: Sequence[str] | None = None) -> int:
    p = CommandParser(
        prog="python -m an_lightning.data.shards",
        description="Write webdataset shards from <class>/<image> folders (ImageNet train), "
        "a flat folder with --ground-truth (ImageNet val) or an unlabelled flat folder.",
    )
    p.add_argument("src", help="source folder")
    p.add_argument("out", help="output folder (new, empty, or an interrupted run to resume)")
    p.add_argument("--size", type=int, default=128, help="output side in pixels (128)")
    p.add_argument("--shard-size", type=int, default=1000, help="samples per shard (1000)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes")
    p.add_argument("--format", choices=FORMATS, default="jpg", dest="fmt")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality 1-100 (95)")
    p.add_argument("--seed", type=int, default=0, help="shuffle seed (0)")
    p.add_argument("--prefix", default="shard", help="shard file name prefix")
    p.add_argument(
        "--reference-images",
        type=int,
        default=50_000,
        help="lossless PNG copies of the first N samples for FID references (50000; 0: none)",
    )
    p.add_argument("--ground-truth", help="labels for a flat folder (ImageNet val)")
    p.add_argument("--classes", help="class names in index order (text file or index.json)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    options = Options(args.size, args.shard_size, args.fmt, args.quality, args.seed, args.prefix)
    with command_errors():
        for flag, minimum in (
            ("size", 1),
            ("shard_size", 1),
            ("quality", 1),
            ("workers", 1),
            ("reference_images", 0),
        ):
            preflight.at_least(getattr(args, flag), minimum, "--" + flag.replace("_", "-"))
        if args.quality > 100:
            raise ValueError(f"--quality must be 100 or less, got {args.quality}")
        preflight.output_folder(Path(args.out), "output folder")
        try:
            index = write_shards(
                args.src,
                args.out,
                options,
                ground_truth=args.ground_truth,
                classes=args.classes,
                workers=args.workers,
                progress=not args.no_progress,
                reference_images=args.reference_images,
            )
        except OSError as exc:  # a folder that is not ours (FileExistsError), a full disk
            raise ValueError(str(exc)) from exc
    print(
        f"{index['num_samples']} samples, {index['num_classes']} classes in "
        f"{len(index['shards'])} shards: {Path(args.out) / index['pattern']}"
    )
    if index["num_bad"]:
        print(f"skipped {index['num_bad']} unreadable images (listed in index.json 'bad'):")
        for bad in index["bad"][:10]:
            print(f"  {bad['key']}: {bad['error']}")
    return 0
