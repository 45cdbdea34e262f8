"""Run a W&B sweep's grid without a W&B server: ``python -m an_lightning.sweep SWEEP.yaml``.

``--list`` (default) prints the grid in W&B's order; ``--index I`` runs grid point
I (a SLURM array task); ``--run-local`` runs every point here, one after another;
``--slurm`` submits the grid as a SLURM array. Run i lives in
``<runs-root>/<sweep name>-<i>`` and its W&B run id is that directory's name, so a
re-run (or a requeued array task) resumes it. Arguments after ``--`` are passed to
every run (e.g. ``-- --model.init_args.max_g_steps=40``). The sweep file is
checked against W&B's schema and every parameter against the experiment's config
keys before anything is written or submitted. Run it from the repository root,
where the sweep's relative paths (experiments/...) point.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

from .cli import preflight
from .cli.errors import CommandParser, command_errors
from .cli.quiet import SWEEP_NOISE, ignored_warnings
from .sweeping.command import fit_args, run_command
from .sweeping.keys import check_parameters, check_runs
from .sweeping.slurm import TEMPLATE, ArrayRequest, sbatch_command, submit
from .sweeping.spec import Sweep, SweepError, grid, load_sweep

# Options that only mean something with --slurm, and their defaults.
SLURM_ONLY = {"partition": None, "gpus": 0, "max_parallel": None, "sbatch": [], "dry_run": False}


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    overrides: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, overrides = argv[:cut], argv[cut + 1 :]
    p = CommandParser(prog="python -m an_lightning.sweep", description=__doc__.split("\n\n")[0])
    p.add_argument("sweep", help="W&B sweep YAML (sweeps/*.yaml)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--list", action="store_true", help="print the grid (default)")
    mode.add_argument("--index", type=int, help="run grid point I (0-based)")
    mode.add_argument("--run-local", action="store_true", help="run every point, in order")
    mode.add_argument("--slurm", action="store_true", help="submit the grid as a SLURM array")
    p.add_argument("--runs-root", type=Path, default=Path("runs"), help="default: runs")
    p.add_argument("--partition", help="--slurm: the partition")
    p.add_argument("--gpus", type=int, default=0, help="--slurm: GPUs (and DDP ranks) per run")
    p.add_argument("--max-parallel", type=int, help="--slurm: at most K tasks at once")
    p.add_argument(
        "--sbatch",
        action="append",
        default=[],
        metavar="OPTION",
        help="--slurm: another sbatch option, e.g. --sbatch=--time=48:00:00 (repeatable)",
    )
    p.add_argument("--template", type=Path, default=TEMPLATE, help="--slurm: the job script")
    p.add_argument("--dry-run", action="store_true", help="--slurm: print, do not submit")
    return p.parse_args(argv), overrides


def check_args(args: argparse.Namespace) -> None:
    """Options that contradict each other, or a runs root that cannot be written."""
    given = [k for k, default in SLURM_ONLY.items() if getattr(args, k) != default]
    given += ["template"] if args.template != TEMPLATE else []
    if given and not args.slurm:
        flag = "--" + given[0].replace("_", "-")
        raise SweepError(f"{flag} only applies to --slurm: add --slurm, or drop {flag}")
    preflight.at_least(args.gpus, 0, "--gpus")
    preflight.at_least(args.max_parallel, 1, "--max-parallel")
    if args.slurm or args.run_local or args.index is not None:
        preflight.output_folder(args.runs_root, "--runs-root")


def run_dir(args: argparse.Namespace, sweep: Sweep, index: int) -> Path:
    return args.runs_root / f"{sweep.name}-{index}"


def commands(args, sweep: Sweep, points: list[dict], overrides: list[str]) -> list[list[str]]:
    """Each point's command: the agent's, plus its own run directory and the overrides."""
    return [
        [*run_command(sweep, values), f"--run_dir={run_dir(args, sweep, i)}", *overrides]
        for i, values in enumerate(points)
    ]


def run_env(sweep: Sweep) -> dict[str, str]:
    """This environment minus a surrounding agent's ids (each run names its own W&B run)."""
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_SWEEP_ID", "WANDB_RUN_ID")}
    env.setdefault("WANDB_RUN_GROUP", sweep.name)
    return env


def main(argv: list[str] | None = None) -> int:
    args, overrides = parse_args(sys.argv[1:] if argv is None else argv)
    with command_errors(), ignored_warnings(*SWEEP_NOISE):
        check_args(args)
        sweep = load_sweep(args.sweep)
        points = grid(sweep)
        cmds = commands(args, sweep, points, overrides)
        if args.index is not None and not 0 <= args.index < len(points):
            raise SweepError(
                f"--index {args.index} is out of range: {sweep.path} has {len(points)} runs "
                f"(0..{len(points) - 1}; --list prints them)"
            )
        check_parameters(sweep, fit_args(sweep, run_command(sweep, {})))
        chosen = [args.index] if args.index is not None else range(len(points))
        check_runs(sweep, {i: fit_args(sweep, cmds[i]) for i in chosen})
        if args.slurm:
            request = ArrayRequest(
                args.runs_root,
                args.partition,
                args.gpus,
                args.max_parallel,
                args.template,
                tuple(args.sbatch),
            )
            sbatch = sbatch_command(sweep, len(points), request, overrides)
            if args.dry_run:
                print(shlex.join(sbatch))
                return 0
            print(submit(sbatch, args.runs_root))
            return 0
    if args.index is not None:
        print(f"{sweep.name}-{args.index}: {shlex.join(cmds[args.index])}", flush=True)
        # Replace this process: SLURM's signals (SIGUSR1 before the time limit) then
        # reach Lightning's handlers in the training process itself.
        os.execve(sys.executable, cmds[args.index], run_env(sweep))
    if args.run_local:
        return run_all(sweep, cmds)
    for i, values in enumerate(points):
        shown = " ".join(f"{k}={v}" for k, v in values.items())
        print(f"{i}\t{run_dir(args, sweep, i)}\t{shown}")
    return 0


def run_all(sweep: Sweep, cmds: list[list[str]]) -> int:
    """Every run in order; a failed run does not stop the others. 1 if any failed."""
    failed = []
    for i, cmd in enumerate(cmds):
        print(f"[{i + 1}/{len(cmds)}] {sweep.name}-{i}: {shlex.join(cmd)}", flush=True)
        if subprocess.run(cmd, env=run_env(sweep), check=False).returncode != 0:
            failed.append(i)
    if failed:
        print(f"failed runs: {', '.join(map(str, failed))}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
