"""Train: ``python -m an_lightning.fit CONFIG.yaml [--dotted.key=value ...]``.

LightningCLI maps the YAML 1:1 onto constructor arguments (``model``, ``data``,
``trainer``), fails on unknown keys, and takes any key as a command-line override;
``--print_config`` prints the resolved config. Each run lives in its own directory
(``run_dir``, default ``runs/<config name>``); running the same command again
resumes from the newest checkpoint there instead of starting over.
"""

from __future__ import annotations

import errno
import sys
from argparse import ArgumentError
from pathlib import Path

from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from .cli.checkpoint_io import VerifiedCheckpointIO
from .cli.errors import HINT, USER_ERRORS, debugging, fail, held_output, root_cause
from .cli.final_checkpoint import FinalCheckpoint
from .cli.lock import RunLock, launcher_rank
from .cli.preemption import SweepPreemption
from .cli.preflight import output_folder
from .cli.progress import GIterProgressBar
from .cli.quiet import FIT_NOISE, ignored_warnings
from .cli.requeue import RequeueAtIteration
from .cli.run_dir import (
    RunError,
    agent_run_dir,
    check_compatible,
    config_filename,
    remove_temporaries,
    select_checkpoint,
)
from .data.failures import BadDataError, LabelRangeError, worker_message
from .loggers import resume_loggers
from .tasks.finite import NonFiniteError
from .tasks.interface import GeneratorTask, check_callbacks, require

USAGE = "usage: python -m an_lightning.fit CONFIG.yaml [--key=value ...] [--print_config]"
DIVERGED = 3  # exit status of a run stopped by the non-finite guard (2: bad input)
# Lightning's loggers that start their history over when a run resumes, and ours that don't.
RESUMABLE = {
    "lightning.pytorch.loggers.CSVLogger": "an_lightning.loggers.CSVLogger",
    "lightning.pytorch.loggers.csv_logs.CSVLogger": "an_lightning.loggers.CSVLogger",
    "lightning.pytorch.loggers.TensorBoardLogger": "an_lightning.loggers.TensorBoardLogger",
    "lightning.pytorch.loggers.tensorboard.TensorBoardLogger": (
        "an_lightning.loggers.TensorBoardLogger"
    ),
}


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
    """``CONFIG.yaml --k=v`` -> ``--config CONFIG.yaml --k=v``, with a check of the file."""
    if not argv or argv[0] in ("-h", "--help"):
        return argv
    first, rest = argv[0], argv[1:]
    if first.startswith("-"):
        fail(f"the first argument must be a config file, got {first}", USAGE)
    path = Path(first)
    if not path.is_file():
        fail(f"config file {first} does not exist", USAGE)
    if not path.read_text().strip():
        fail(f"config file {first} is empty: start from experiments/demo.yaml", USAGE)
    return ["--config", first, *rest]


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
        parser_kwargs={
            "description": __doc__.split("\n\n")[0],
            "exit_on_error": False,
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


def main(argv: list[str] | None = None) -> None:
    with ignored_warnings(*FIT_NOISE):
        with held_output():  # a refused start prints its error line and nothing else
            cli = prepare(sys.argv[1:] if argv is None else argv)
            lock = RunLock(cli.run_dir)  # rank 0 holds it for the job; a no-op elsewhere
            try:
                lock.acquire()
            except RunError as err:
                fail(str(err))
        try:
            train(cli)
        finally:
            lock.release()


def train(cli: FitCLI) -> None:
    """Resume (or start) ``cli``'s run under its lock; stop with one line if it diverges."""
    rank0 = launcher_rank() == 0
    if rank0:
        remove_temporaries(cli.run_dir)
    ckpt = select_checkpoint(cli.run_dir, move_damaged=rank0)
    try:
        done = check_compatible(ckpt, cli.model).get("g_iter", 0) if ckpt else 0
    except RunError as err:
        fail(str(err))
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


if __name__ == "__main__":
    main()
