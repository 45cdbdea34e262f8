"""The fit command's machinery: its LightningCLI, argument expansion, checks and training.

``an_lightning.fit`` is the entry point; this library module is what it runs, and what
``sweeping.keys`` parses sweeps with, so nothing here imports an entry point. Two things
are written once in a config and derived by the CLI:

* ``base: FILE`` (top level, a path relative to the config that names it): that config
  states only what differs from FILE. ``to_cli_args`` reads FILE first, as LightningCLI
  reads any earlier ``--config``; the resolved config has every value and no ``base``.
* the networks' ``num_classes`` and ``resolution``: linked from the data module's
  ``num_classes`` and ``image_size`` (``LINKED``) when it is built.
"""

from __future__ import annotations

import errno
import sys
from argparse import SUPPRESS, ArgumentError
from collections.abc import Callable
from pathlib import Path

import yaml
from jsonargparse import Namespace
from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from ..data.failures import BadDataError, LabelRangeError, worker_message
from ..loggers import resume_loggers
from ..tasks.finite import NonFiniteError
from ..tasks.interface import GeneratorTask, check_callbacks, require
from .checkpoint_io import VerifiedCheckpointIO
from .errors import HINT, USER_ERRORS, debugging, fail, root_cause
from .final_checkpoint import FinalCheckpoint
from .lock import launcher_rank
from .preemption import SweepPreemption
from .preflight import output_folder
from .progress import GIterProgressBar
from .requeue import RequeueAtIteration
from .run_dir import (
    RunError,
    agent_run_dir,
    check_compatible,
    config_filename,
    remove_temporaries,
    select_checkpoint,
)

DESCRIPTION = "Train: ``python -m an_lightning.fit CONFIG.yaml [--dotted.key=value ...]``."
USAGE = "usage: python -m an_lightning.fit CONFIG.yaml [--key=value ...] [--print_config]"
DIVERGED = 3  # exit status of a run stopped by the non-finite guard (2: bad input)
BASE = "base"  # the top-level key naming the config a config overlays
# Lightning's loggers that start their history over when a run resumes, and ours that don't.
RESUMABLE = {
    "lightning.pytorch.loggers.CSVLogger": "an_lightning.loggers.CSVLogger",
    "lightning.pytorch.loggers.csv_logs.CSVLogger": "an_lightning.loggers.CSVLogger",
    "lightning.pytorch.loggers.TensorBoardLogger": "an_lightning.loggers.TensorBoardLogger",
    "lightning.pytorch.loggers.tensorboard.TensorBoardLogger": (
        "an_lightning.loggers.TensorBoardLogger"
    ),
}
# The data module's attribute -> the argument of G and D it sets (where they have it).
LINKED = {"num_classes": "num_classes", "image_size": "resolution"}
NETWORKS = ("generator", "discriminator")


class FitCLI(LightningCLI):
    """LightningCLI with run directories, verified periodic checkpoints and resume."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--run_dir", type=str | None, default=None, help="default: runs/<config name>"
        )
        parser.add_argument(
            "--checkpoint_every",
            type=int,
            default=1000,
            help="save a checkpoint every this many generator iterations (>= 1)",
        )
        # Read by to_cli_args, so neither --help nor the resolved config shows it.
        parser.add_argument(f"--{BASE}", type=str | None, default=None, help=SUPPRESS)
        # Written once, by the data: a link whose target a task's network lacks (the
        # inpainting generator has no num_classes) is skipped by jsonargparse (the
        # task's hparams still receive it: AdversarialTask.drop_unbuilt_args).
        for attribute, argument in LINKED.items():
            for net in NETWORKS:
                target = f"model.init_args.{net}.init_args.{argument}"
                source = f"data.{attribute}"
                link = self._from_data(target, source)
                parser.link_arguments(source, target, link, apply_on="instantiate")

    def _from_data(self, target: str, source: str) -> Callable[[int], int]:
        """The data's value for ``target``; refuses a value the config gave that differs,
        and class-conditional networks on data without labels."""

        def from_data(value: int) -> int:
            if target not in self.config:
                return value  # the network lacks the argument: jsonargparse skips the link
            if target.endswith(".num_classes") and value < 1:
                raise ValueError(
                    f"{source} is {value} (the data has no class labels), but "
                    f"{target.rsplit('.init_args.', 1)[0]} is class-conditional: give "
                    "labelled data (a folder of class subfolders, or shards with labels)"
                )
            given = self._given(target)
            if given is not None and given != value:
                raise ValueError(
                    f"{target} is {given}, but it comes from the data ({source} is {value}): "
                    "remove it from the config"
                )
            return value

        return from_data

    def parse_arguments(self, parser: LightningArgumentParser, args) -> None:
        """Parse as LightningCLI does, keeping the arguments for ``_given``."""
        super().parse_arguments(parser, args)
        self.args, self.given = (sys.argv[1:] if args is None else args), None

    def _given(self, target: str):
        """``target``'s value if the command itself set it, even to the class default
        (parsed again without defaults, once, when the links are applied)."""
        if self.given is None:
            by_object = isinstance(self.args, dict | Namespace)
            parse = self.parser.parse_object if by_object else self.parser.parse_args
            self.given = parse(self.args, defaults=False)
        return self.given.get(target)

    def before_instantiate_classes(self) -> None:
        configured = Path(self.config.run_dir or Path("runs") / self._config_name())
        self.run_dir = agent_run_dir(configured) or configured
        check_run_dir(self.run_dir, self.config.checkpoint_every)
        for logger in _as_list(self.config.trainer.get("logger")):
            init = logger.get("init_args") if hasattr(logger, "get") else None
            if init is None:
                continue
            if (ours := RESUMABLE.get(str(logger.get("class_path")))) is not None:
                raise ValueError(
                    f"trainer.logger {logger.get('class_path')} erases its history when a run "
                    f"resumes: use class_path {ours} (same arguments)"
                )
            # Loggers write into the run directory, and a resumed run continues its W&B run.
            if init.get("save_dir") in (None, ".", "", "lightning_logs"):
                init["save_dir"] = str(self.run_dir)
            if "id" in init and init.get("id") is None:
                init["id"] = self.run_dir.name
            if "version" in init and init.get("version") is None:
                init["version"] = ""  # the same log folder on every resume
        self.save_config_kwargs["overwrite"] = True  # config_filename never picks a live one

    def instantiate_trainer(self, **kwargs) -> Trainer:
        # ModelCheckpoint counts optimizer steps: n_dis D steps + 1 G step per iteration.
        # It never deletes (save_top_k=-1) nor renames (no -v1 files): VerifiedCheckpointIO
        # rotates once a newer checkpoint is safely on disk.
        checkpoint = ModelCheckpoint(
            dirpath=self.run_dir / "checkpoints",
            filename="{g_iter:07.0f}",  # named by generator iteration
            save_last=True,
            save_top_k=-1,
            enable_version_counter=False,
            every_n_train_steps=self.config.checkpoint_every * self.model.optimizer_steps,
        )
        callbacks = [
            checkpoint,
            FinalCheckpoint(checkpoint.dirpath),
            RequeueAtIteration(self.run_dir),
            SweepPreemption(),
        ]
        if self.config.trainer.get("enable_progress_bar") is not False:
            callbacks.append(GIterProgressBar())
        self.trainer_defaults = {**self.trainer_defaults, "callbacks": callbacks}
        plugins = [*_as_list(self.config_init.trainer.get("plugins")), VerifiedCheckpointIO()]
        trainer = super().instantiate_trainer(
            default_root_dir=str(self.run_dir), plugins=plugins, **kwargs
        )
        # The config goes where Lightning saves it (trainer.log_dir), so name it from there.
        name = config_filename(self.run_dir, Path(trainer.log_dir or self.run_dir))
        for callback in trainer.callbacks:
            if isinstance(callback, SaveConfigCallback):
                callback.config_filename = name
        return trainer

    def _config_name(self) -> str:
        configs = self.config.get("config") or []
        return Path(str(configs[-1])).stem if configs else "default"


def check_run_dir(run_dir: Path, checkpoint_every: int) -> None:
    """Raise ``ValueError`` for a run directory or cadence that cannot work."""
    output_folder(run_dir, "--run_dir")
    if checkpoint_every < 1:
        raise ValueError(
            f"--checkpoint_every must be >= 1 generator iterations, got {checkpoint_every} "
            "(a run without checkpoints cannot survive a crash)"
        )


def _as_list(value) -> list:
    if value is None or isinstance(value, bool):
        return []
    return value if isinstance(value, list) else [value]


def to_cli_args(argv: list[str]) -> list[str]:
    """``CONFIG.yaml --k=v`` -> ``--config CONFIG.yaml --k=v``, with a check of the file.

    Every config file of the command (the first argument, each ``--config``) comes after
    its ``base`` chain, but a base the command reads earlier is not read again.
    """
    if not argv or argv[0] in ("-h", "--help"):
        return argv
    first, rest = argv[0], argv[1:]
    if first.startswith("-"):
        fail(f"the first argument must be a config file, got {first}", USAGE)
    path = Path(first)
    if path.is_dir():
        fail(f"config file {first} is a folder: pass a YAML file in it", USAGE)
    if not path.is_file():
        fail(f"config file {first} does not exist", USAGE)
    if not config_text(path).strip():
        fail(f"config file {first} is empty: start from experiments/demo.yaml", USAGE)
    read: list[Path] = []
    args = with_bases(first, read)
    rest = iter(rest)
    for arg in rest:
        if arg == f"--{BASE}" or arg.startswith(f"--{BASE}="):
            fail(
                f"{BASE} is a key of config files (the config a file overlays), not an "
                "option: give the base config first and the overlay with --config",
                USAGE,
            )
        if arg in ("--config", "-c") and (value := next(rest, None)) is not None:
            args += with_bases(value, read)
        elif arg.startswith("--config="):
            args += with_bases(arg.partition("=")[2], read)
        else:
            args.append(arg)
    return args


def config_text(path: Path) -> str:
    """The text of config file ``path``; one error line if it is not UTF-8 text."""
    try:
        return path.read_text()
    except UnicodeDecodeError:
        fail(f"config file {path} is not UTF-8 text: pass a YAML config file")


def with_bases(config: str, read: list[Path]) -> list[str]:
    """``--config`` arguments for ``config``, after its bases that ``read`` lacks (updated);
    a file that is not UTF-8 text is refused (``base_of`` reads it)."""
    chain = [Path(config)]
    while _is_file(chain[0]) and (base := base_of(chain[0])) is not None:
        if any(base.samefile(p) for p in read if _is_file(p)):
            break  # the command reads it earlier: not again, over what came after it
        if any(base.samefile(p) for p in chain):
            fail(f"config file {chain[0]}: its {BASE} {base} overlays it in turn (a cycle)")
        chain.insert(0, base)
    read.extend(chain)
    return [arg for path in chain for arg in ("--config", str(path))]


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. a --config given as a YAML string too long for a file name
        return False


def base_of(path: Path) -> Path | None:
    """The config ``path`` names as its ``base`` (relative to it), None if it names none."""
    try:
        content = yaml.safe_load(config_text(path))
    except (OSError, yaml.YAMLError):
        return None  # jsonargparse reports what is wrong with the file
    if not isinstance(content, dict) or content.get(BASE) is None:
        return None
    value = content[BASE]
    if not isinstance(value, str):
        fail(f"config file {path}: {BASE} must be a path to a config file, got {value!r}")
    base = path.parent / value
    if not base.is_file():
        fail(f"config file {path}: its {BASE} {value} does not exist (paths are relative to it)")
    return base


def build_cli(args: list[str], cli_class: type[FitCLI] = FitCLI, **parser_kwargs) -> FitCLI:
    """The fit CLI on ``args`` (already through ``to_cli_args``); ``cli_class`` may skip steps."""
    # Any task and data module: the task is checked against the interface fit relies on.
    return cli_class(
        LightningModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        run=False,
        args=args,
        save_config_kwargs={"overwrite": False},
        # No abbreviations: --trainer.max_epoch=3 would silently set max_epochs.
        parser_kwargs={
            "description": DESCRIPTION,
            "exit_on_error": False,
            "allow_abbrev": False,
            **parser_kwargs,
        },
    )


def parse_error(err: BaseException) -> str:
    """jsonargparse's nested message, down to the innermost problem and where it was."""
    where, key = None, None
    while True:
        text = str(err).strip()
        if text.startswith("Problem with given class_path") and "'" in text:
            where = text.split("'")[1]
        if text.startswith('Parser key "'):
            key = text.split('"')[1]
        inner = err.__cause__ or err.__context__
        if inner is None:
            break
        err = inner
    noise = ("Given value type", "Subtypes:", "Errors:", "Expected a path but", "Does not validate")
    lines = [ln.strip(" -") for ln in str(err).splitlines()]
    kept = [ln for ln in lines if ln and not ln.startswith(noise)]
    message = "; ".join(kept).replace(":;", ":").replace('"<unicode string>"', "the YAML")
    message = message if len(message) <= 240 else message[:237] + "..."
    if key and key not in message:
        message = f"{key}: {message}"
    return f"{message} (in {where})" if where else message


def prepare(argv: list[str]) -> FitCLI:
    """Parse, build and check everything; one-line error (exit 2) before anything is written."""
    args = to_cli_args(argv)
    try:
        cli = build_cli(args)
        require(cli.model, GeneratorTask, "fit")
        check_callbacks(cli.model, cli.trainer.callbacks)
        cli.model.check_data(cli.datamodule)
    except ArgumentError as err:
        if debugging():
            raise
        fail(f"{parse_error(err)} (--print_config shows the accepted keys)", USAGE)
    except USER_ERRORS as err:
        # Building the model or data failed (bad norm, resolution, data path...): the
        # innermost error names the problem; jsonargparse's wrapping only buries it.
        if debugging():
            raise
        fail(f"{root_cause(err)} {HINT}")
    return cli


def resume_point(cli: FitCLI) -> tuple[Path | None, int]:
    """The checkpoint ``cli``'s run resumes from and its generator iteration ((None, 0):
    a new run), under the run's lock; a checkpoint of another model is one error line."""
    rank0 = launcher_rank() == 0
    if rank0:
        remove_temporaries(cli.run_dir)
    ckpt = select_checkpoint(cli.run_dir, move_damaged=rank0)
    try:
        done = check_compatible(ckpt, cli.model).get("g_iter", 0) if ckpt else 0
    except RunError as err:
        fail(str(err))
    return ckpt, done


def train(cli: FitCLI, start: tuple[Path | None, int]) -> None:
    """Resume ``cli``'s run from ``start`` (``resume_point``) or start it; stop with one
    line if it diverges."""
    ckpt, done = start
    budget = cli.model.max_g_steps
    if done >= budget:
        print(
            f"{cli.run_dir} already finished {done} generator iterations (max_g_steps "
            f"{budget}); raise --model.init_args.max_g_steps to continue, or pass "
            "--run_dir to start a new run."
        )
        return
    if ckpt is not None:
        print(f"resuming from {ckpt} at generator iteration {done}", flush=True)
    resume_loggers(cli.trainer.loggers, done)
    try:
        cli.trainer.fit(cli.model, cli.datamodule, ckpt_path=str(ckpt) if ckpt else None)
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT) or debugging():
            raise
        kept = select_checkpoint(cli.run_dir, move_damaged=False)
        fail(
            f"{err.strerror} while writing in {cli.run_dir}; {kept} is intact: free space "
            "and re-run the same command to resume",
            status=1,
        )
    except (BadDataError, LabelRangeError) as err:
        if debugging():
            raise
        fail(worker_message(err))  # found while reading the data: one line, as bad input
    except NonFiniteError as err:
        if debugging():
            raise
        kept = select_checkpoint(cli.run_dir, move_damaged=False)
        where = f"the newest finite checkpoint, {kept}, is kept" if kept else "no checkpoint yet"
        fail(
            f"training diverged: {err}; {where}. Lower the learning rates (or raise "
            "n_dis) and re-run to resume from it",
            status=DIVERGED,
        )
