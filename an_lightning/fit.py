"""Train: ``python -m an_lightning.fit CONFIG.yaml [--dotted.key=value ...]``.

LightningCLI maps the YAML 1:1 onto constructor arguments (``model``, ``data``,
``trainer``), fails on unknown keys, and takes any key as a command-line override;
``--print_config`` prints the resolved config. Each run lives in its own directory
(``run_dir``, default ``runs/<config name>``); running the same command again
resumes from the newest checkpoint there instead of starting over.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from .cli.errors import root_cause
from .cli.final_checkpoint import FinalCheckpoint
from .cli.preemption import SweepPreemption
from .cli.progress import GIterProgressBar
from .cli.run_dir import (
    RunError,
    agent_run_dir,
    check_compatible,
    config_filename,
    newest_checkpoint,
)
from .data.base import ImageDataModule
from .tasks import AdversarialTask

# Lightning advice that does not apply here: the post-step state is what GAN checkpoints
# should hold, and the pytree deprecation is Lightning's own.
warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")

USAGE = "usage: python -m an_lightning.fit CONFIG.yaml [--key=value ...] [--print_config]"


class FitCLI(LightningCLI):
    """LightningCLI with run directories, periodic checkpoints and resume."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--run_dir", type=str | None, default=None, help="default: runs/<config name>"
        )
        parser.add_argument(
            "--checkpoint_every",
            type=int,
            default=1000,
            help="save a checkpoint every this many generator iterations",
        )

    def before_instantiate_classes(self) -> None:
        configured = Path(self.config.run_dir or Path("runs") / self._config_name())
        self.run_dir = agent_run_dir(configured) or configured
        for logger in _as_list(self.config.trainer.get("logger")):
            init = logger.get("init_args") if hasattr(logger, "get") else None
            if init is None:
                continue
            # Loggers write into the run directory, and a resumed run continues its W&B run.
            if init.get("save_dir") in (None, ".", "", "lightning_logs"):
                init["save_dir"] = str(self.run_dir)
            if "id" in init and init.get("id") is None:
                init["id"] = self.run_dir.name
        self.save_config_kwargs["config_filename"] = config_filename(self.run_dir)

    def instantiate_trainer(self, **kwargs) -> Trainer:
        # ModelCheckpoint counts optimizer steps: n_dis D steps + 1 G step per iteration.
        optimizer_steps = 1 + self.model.hparams.get("n_dis", 1)
        checkpoint = ModelCheckpoint(
            dirpath=self.run_dir / "checkpoints",
            filename="{g_iter:07.0f}",  # named by generator iteration
            save_last=True,
            save_top_k=1,  # the newest periodic checkpoint, plus last.ckpt
            every_n_train_steps=self.config.checkpoint_every * optimizer_steps,
        )
        callbacks = [checkpoint, FinalCheckpoint(checkpoint.dirpath), SweepPreemption()]
        if self.config.trainer.get("enable_progress_bar") is not False:
            callbacks.append(GIterProgressBar())
        self.trainer_defaults = {**self.trainer_defaults, "callbacks": callbacks}
        return super().instantiate_trainer(default_root_dir=str(self.run_dir), **kwargs)

    def _config_name(self) -> str:
        configs = self.config.get("config") or []
        return Path(str(configs[-1])).stem if configs else "default"


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
        raise SystemExit(f"{USAGE}\nerror: the first argument must be a config file, got {first}")
    if not Path(first).is_file():
        raise SystemExit(f"{USAGE}\nerror: config file {first} does not exist")
    return ["--config", first, *rest]


def build_cli(args: list[str], cli_class: type[FitCLI] = FitCLI, **parser_kwargs) -> FitCLI:
    """The fit CLI on ``args`` (already through ``to_cli_args``); ``cli_class`` may skip steps."""
    return cli_class(
        AdversarialTask,
        ImageDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        run=False,
        args=args,
        save_config_kwargs={"overwrite": False},
        parser_kwargs={"description": __doc__.split("\n\n")[0], **parser_kwargs},
    )


def main(argv: list[str] | None = None) -> None:
    args = to_cli_args(sys.argv[1:] if argv is None else argv)
    try:
        cli = build_cli(args)
    except (ValueError, TypeError, FileNotFoundError, KeyError) as err:
        # Building the model or data failed (bad norm, resolution, data path...): the
        # innermost error names the problem; jsonargparse's wrapping only buries it.
        if os.environ.get("AN_LIGHTNING_DEBUG"):
            raise
        hint = "(AN_LIGHTNING_DEBUG=1 shows the traceback)"
        raise SystemExit(f"error: {root_cause(err)} {hint}") from None
    ckpt = newest_checkpoint(cli.run_dir)
    if ckpt is not None:
        try:
            done = check_compatible(ckpt, cli.model).get("g_iter", 0)
        except RunError as err:
            raise SystemExit(f"error: {err}") from None
        budget = cli.model.hparams.get("max_g_steps")
        if budget is not None and done >= budget:
            print(
                f"{cli.run_dir} already finished {done} generator iterations (max_g_steps "
                f"{budget}); raise --model.init_args.max_g_steps to continue, or pass "
                "--run_dir to start a new run."
            )
            return
        print(f"resuming from {ckpt} at generator iteration {done}", flush=True)
    cli.trainer.fit(cli.model, cli.datamodule, ckpt_path=str(ckpt) if ckpt else None)


if __name__ == "__main__":
    main()
