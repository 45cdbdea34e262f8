"""Loggers for our runs: W&B that works without an account (offline unless credentials
exist), and CSV/TensorBoard loggers whose history survives resumes from a checkpoint."""

from __future__ import annotations

import csv
import io
import netrc
import os
from argparse import Namespace
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers import Logger, WandbLogger
from lightning.pytorch.loggers import TensorBoardLogger as LightningTensorBoardLogger
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only


def has_wandb_credentials() -> bool:
    """An API key in the environment or in ~/.netrc (what ``wandb login`` writes)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return netrc.netrc(path).authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, PermissionError):
        return False


class AutoWandbLogger(WandbLogger):
    """``WandbLogger`` that runs offline (``wandb sync`` later) where no account is set up.

    ``offline=None`` decides from the credentials; ``WANDB_MODE`` still wins, as in wandb.
    """

    def __init__(
        self,
        project: str = "an_lightning",
        name: str | None = None,
        save_dir: str = ".",
        id: str | None = None,
        offline: bool | None = None,
        log_model: bool = False,
        **kwargs,
    ) -> None:
        if offline is None:
            offline = os.environ.get("WANDB_MODE") == "offline" or not has_wandb_credentials()
        super().__init__(
            project=project,
            name=name,
            save_dir=save_dir,
            id=id,
            offline=offline,
            log_model=log_model,
            **kwargs,
        )


def log_image(loggers, key: str, path: Path, grid, step: int) -> None:
    """Send a written picture to every logger that takes images (W&B, TensorBoard)."""
    for logger in loggers:  # loggers differ in how they take images
        if hasattr(logger, "log_image"):  # W&B
            logger.log_image(key, [str(path)], step=step)
        elif hasattr(getattr(logger, "experiment", None), "add_image"):  # TensorBoard
            logger.experiment.add_image(key, grid, step, dataformats="HWC")


def resume_loggers(loggers: Logger | Iterable[Logger], step: int) -> None:
    """Tell every logger that can take it that the run resumes at generator iteration ``step``.

    Our ``CSVLogger`` and ``TensorBoardLogger`` drop what the interrupted segment logged after the
    checkpoint (it is logged again). W&B needs nothing: the same run id with ``resume="allow"``
    continues the run, and W&B itself ignores steps at or below its last logged step.
    """
    for logger in [loggers] if isinstance(loggers, Logger) else loggers:
        resume = getattr(logger, "resume", None)
        if callable(resume):
            resume(step)


def _join(*parts: str) -> str:
    """``os.path.join`` without the empty parts (``save_dir`` alone for an empty name/version)."""
    kept = [part for part in parts if part]
    return os.path.join(*kept) if kept else "."


def _fsync_dir(path: str) -> None:
    """Make a rename in ``path`` durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _step_of(row: dict[str, str]) -> float | None:
    """The row's step as a number; None where the cell is empty, missing or not a number."""
    value = (row.get("step") or "").strip()
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return None


class CSVLogger(Logger):
    """``metrics.csv`` (and ``hparams.yaml``) in ``save_dir/name/version`` that survives resumes.

    A drop-in for Lightning's ``CSVLogger`` for our runs, with two differences that matter when a
    run is interrupted (crash, SLURM requeue) and resumed from a checkpoint:

    * Lightning's deletes an existing ``metrics.csv`` when it opens the directory, so each resume
      erased the metric history. This one never deletes or truncates it: rows are appended, and
      ``resume(step)`` drops only the rows logged after the checkpoint (they will be logged again).
    * Lightning's buffers rows (``flush_logs_every_n_steps``), so a crash lost them. This one
      appends and flushes each ``log_metrics`` call at once (``save``/``finalize`` also fsync),
      so a crash loses nothing that was logged, and a resume only what came after the checkpoint.

    A row with keys the header lacks rewrites the file with the union header (sorted, as
    Lightning does), atomically: ``metrics.csv.tmp`` is written, fsynced and renamed over it.
    Empty ``name``/``version`` parts are dropped from the path (the default is
    ``save_dir/metrics.csv``); an int version is ``version_N``, None the next free ``version_N``.
    Only rank 0 writes; constructing it elsewhere touches no file.
    """

    LOGGER_JOIN_CHAR = "-"
    NAME_METRICS_FILE = "metrics.csv"
    NAME_HPARAMS_FILE = "hparams.yaml"

    def __init__(
        self,
        save_dir: str | os.PathLike[str] = ".",
        name: str | None = "",
        version: int | str | None = "",
        prefix: str = "",
    ) -> None:
        super().__init__()
        self._save_dir = os.fspath(save_dir)
        self._name = name or ""
        self._version = version
        self._prefix = prefix
        self._hparams: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> int | str:
        if self._version is None:
            self._version = self._next_version()
        return self._version

    @property
    def save_dir(self) -> str:
        return self._save_dir

    @property
    def root_dir(self) -> str:
        """``save_dir/name``: where the versions live."""
        return _join(self._save_dir, self._name)

    @property
    def log_dir(self) -> str:
        version = self.version
        return _join(self.root_dir, version if isinstance(version, str) else f"version_{version}")

    @property
    def metrics_file(self) -> str:
        return os.path.join(self.log_dir, self.NAME_METRICS_FILE)

    def _next_version(self) -> int:
        try:
            names = os.listdir(self.root_dir)
        except OSError:
            return 0
        versions = [
            int(entry[len("version_") :])
            for entry in names
            if entry.startswith("version_")
            and entry[len("version_") :].isdigit()
            and os.path.isdir(os.path.join(self.root_dir, entry))
        ]
        return max(versions, default=-1) + 1

    # -- the file -------------------------------------------------------------------------------

    def _read(self) -> tuple[list[str], list[dict[str, str]]]:
        """Header and rows of the file; ([], []) where it is absent or empty. A torn last line (a
        crash mid-write leaves no line end) is left out."""
        try:
            with open(self.metrics_file, newline="") as file:
                text = file.read()
        except FileNotFoundError:
            return [], []
        if text and not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = list(reader.fieldnames or [])
        rows = [{k: v for k, v in row.items() if k is not None} for row in reader]
        return header, rows

    def _read_header(self) -> tuple[list[str], bool]:
        """The header, and whether the file ends with a line end (appending is safe)."""
        try:
            with open(self.metrics_file, "rb") as file:
                first = file.readline()
                file.seek(0, os.SEEK_END)
                if file.tell() == 0:
                    return [], True
                file.seek(-1, os.SEEK_END)
                whole = file.read(1) == b"\n"
        except FileNotFoundError:
            return [], True
        if not first.endswith(b"\n"):
            return [], False
        return next(csv.reader([first.decode()]), []), whole

    def _rewrite(self, header: list[str], rows: list[dict[str, Any]]) -> None:
        """Replace the file atomically: write ``metrics.csv.tmp``, flush, fsync, rename."""
        tmp = self.metrics_file + ".tmp"
        with open(tmp, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=header, restval="")
            writer.writeheader()
            writer.writerows(rows)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, self.metrics_file)
        _fsync_dir(self.log_dir)

    # -- the Logger API -------------------------------------------------------------------------

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Append one row (``step`` and the metrics) and flush it to the OS before returning."""
        os.makedirs(self.log_dir, exist_ok=True)
        row: dict[str, Any] = {
            self._key(key): value.item() if isinstance(value, torch.Tensor) else value
            for key, value in metrics.items()
        }
        header, whole = self._read_header()
        if step is None:  # Lightning numbers such rows by their position
            step = len(self._read()[1])
        row["step"] = step
        if header and whole and set(row) <= set(header):
            with open(self.metrics_file, "a", newline="") as file:
                csv.DictWriter(file, fieldnames=header, restval="").writerow(row)
                file.flush()
            return
        # A new file, new keys or a torn last line: rewrite with the union header.
        header, rows = self._read()
        self._rewrite(sorted(set(header) | set(row)), [*rows, row])

    def _key(self, key: str) -> str:
        return f"{self._prefix}{self.LOGGER_JOIN_CHAR}{key}" if self._prefix else key

    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace | None = None, *args: Any, **kwargs: Any
    ) -> None:
        """Write ``hparams.yaml`` in ``log_dir`` (the params so far, as Lightning's does)."""
        if isinstance(params, Namespace):
            params = vars(params)
        self._hparams.update(params or {})
        os.makedirs(self.log_dir, exist_ok=True)
        save_hparams_to_yaml(os.path.join(self.log_dir, self.NAME_HPARAMS_FILE), self._hparams)

    @rank_zero_only
    def resume(self, step: int) -> None:
        """The run resumes from a checkpoint at generator iteration ``step``: drop the rows the
        interrupted segment logged after it (``step`` greater; they are logged again), keep every
        earlier row and rows without a step exactly. A no-op where no file exists."""
        if not os.path.isfile(self.metrics_file):
            return
        header, rows = self._read()
        if not header:
            return
        kept = [row for row in rows if (s := _step_of(row)) is None or s <= step]
        self._rewrite(header, kept)

    @rank_zero_only
    def save(self) -> None:
        """Rows are already flushed; this also fsyncs them."""
        super().save()
        try:
            with open(self.metrics_file, "r+b") as file:
                os.fsync(file.fileno())
        except FileNotFoundError:
            pass

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if os.path.isfile(self.metrics_file):
            self.save()


def _summary_writer() -> type:
    """``SummaryWriter``: torch's where tensorboard is installed, else tensorboardX's."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        from tensorboardX import SummaryWriter
    return SummaryWriter


class TensorBoardLogger(LightningTensorBoardLogger):
    """Lightning's ``TensorBoardLogger`` whose event files continue the same run after a resume.

    ``resume(step)`` (before the writer exists, or it is reopened) creates the ``SummaryWriter``
    with ``purge_step=step + 1``: TensorBoard then hides the events the interrupted segment logged
    after the checkpoint, which are logged again, instead of drawing them twice. ``purge_step``
    may also be passed to the constructor, as Lightning forwards it to the writer.
    """

    def __init__(
        self,
        save_dir: str | os.PathLike[str] = ".",  # fit points "." at the run directory
        name: str | None = "lightning_logs",
        version: int | str | None = None,
        log_graph: bool = False,
        default_hp_metric: bool = True,
        prefix: str = "",
        sub_dir: str | os.PathLike[str] | None = None,
        purge_step: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            save_dir,
            name=name,
            version=version,
            log_graph=log_graph,
            default_hp_metric=default_hp_metric,
            prefix=prefix,
            sub_dir=sub_dir,
            **kwargs,
        )
        # Our own copy: the writer is created here (``experiment``), with the purge step if any.
        self._writer_kwargs = dict(kwargs)
        self.purge_step = purge_step
        self._writer: Any = None

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """The ``SummaryWriter``, created on first use with ``purge_step`` if one is set."""
        if self._writer is None:
            os.makedirs(self.root_dir or ".", exist_ok=True)
            kwargs = dict(self._writer_kwargs)
            if self.purge_step is not None:
                kwargs["purge_step"] = self.purge_step
            self._writer = _summary_writer()(log_dir=self.log_dir, **kwargs)
        return self._writer

    @rank_zero_only
    def resume(self, step: int) -> None:
        """Continue the run from the checkpoint at ``step``: events after it are purged."""
        self.purge_step = step + 1
        if self._writer is not None:  # already writing: reopen so the purge marker is written
            self._writer.flush()
            self._writer.close()
            self._writer = None

    @rank_zero_only
    def finalize(self, status: str) -> None:
        super().finalize(status)  # hparams.yaml on success
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_writer"] = None
        return state
