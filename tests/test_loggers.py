"""CSV/TensorBoard loggers whose history survives a resume (real files in tmp_path)."""

from __future__ import annotations

import csv
from argparse import Namespace
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch.utilities import rank_zero_only

from an_lightning.loggers import CSVLogger, TensorBoardLogger, resume_loggers


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        return list(reader.fieldnames or []), list(reader)


def test_paths_mirror_lightning(tmp_path: Path) -> None:
    assert CSVLogger(tmp_path).log_dir == str(tmp_path)
    assert CSVLogger(tmp_path).metrics_file == str(tmp_path / "metrics.csv")
    logger = CSVLogger(tmp_path, name="exp", version=3)
    assert (logger.save_dir, logger.root_dir) == (str(tmp_path), str(tmp_path / "exp"))
    assert (logger.name, logger.version) == ("exp", 3)
    assert logger.log_dir == str(tmp_path / "exp" / "version_3")
    assert CSVLogger(tmp_path, name=None, version="run").log_dir == str(tmp_path / "run")
    (tmp_path / "exp" / "version_3").mkdir(parents=True)
    assert CSVLogger(tmp_path, name="exp", version=None).version == 4


def test_rows_are_on_disk_after_each_call(tmp_path: Path) -> None:
    logger = CSVLogger(tmp_path)
    logger.log_metrics({"loss": torch.tensor(0.5), "acc": 1}, step=0)
    assert read_rows(tmp_path / "metrics.csv") == (
        ["acc", "loss", "step"],
        [{"acc": "1", "loss": "0.5", "step": "0"}],
    )
    logger.log_metrics({"loss": 0.25, "acc": 2}, step=1)
    assert read_rows(tmp_path / "metrics.csv")[1] == [
        {"acc": "1", "loss": "0.5", "step": "0"},
        {"acc": "2", "loss": "0.25", "step": "1"},
    ]


def test_new_key_widens_header_atomically(tmp_path: Path) -> None:
    logger = CSVLogger(tmp_path, prefix="train")
    logger.log_metrics({"b": 1.0}, step=1)
    logger.log_metrics({"a": 2.0}, step=2)
    logger.log_metrics({"b": 3.0, "a": 4.0}, step=3)
    assert read_rows(tmp_path / "metrics.csv") == (
        ["step", "train-a", "train-b"],
        [
            {"step": "1", "train-a": "", "train-b": "1.0"},
            {"step": "2", "train-a": "2.0", "train-b": ""},
            {"step": "3", "train-a": "4.0", "train-b": "3.0"},
        ],
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]  # no .tmp left


def test_resume_keeps_history_and_drops_rows_after_the_checkpoint(tmp_path: Path) -> None:
    first = CSVLogger(tmp_path, name="", version="")
    for step in (10, 20, 30, 40, 50):
        first.log_metrics({"loss": step / 100, "first": 1}, step=step)
    before = (tmp_path / "metrics.csv").read_bytes()

    second = CSVLogger(tmp_path, name="", version="")  # the requeued job
    assert (tmp_path / "metrics.csv").read_bytes() == before  # construction deletes nothing
    second.resume(30)
    for step in (40, 50):
        second.log_metrics({"loss": step / 1000}, step=step)
    second.finalize("success")

    header, rows = read_rows(tmp_path / "metrics.csv")
    assert header == ["first", "loss", "step"]
    assert [(r["step"], r["loss"], r["first"]) for r in rows] == [
        ("10", "0.1", "1"),
        ("20", "0.2", "1"),
        ("30", "0.3", "1"),
        ("40", "0.04", ""),
        ("50", "0.05", ""),
    ]


def test_resume_keeps_rows_without_step_and_is_noop_without_file(tmp_path: Path) -> None:
    CSVLogger(tmp_path).resume(5)
    assert list(tmp_path.iterdir()) == []
    path = tmp_path / "metrics.csv"
    path.write_text("loss,step\n1,10\n2,\n3,40\n4,20\n")
    CSVLogger(tmp_path).resume(20)
    assert read_rows(path)[1] == [
        {"loss": "1", "step": "10"},
        {"loss": "2", "step": ""},
        {"loss": "4", "step": "20"},
    ]


def test_torn_last_line_is_not_glued_to_the_next_row(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_bytes(b"loss,step\r\n1.0,10\r\n2.0,2")  # a crash mid-write
    CSVLogger(tmp_path).log_metrics({"loss": 3.0}, step=20)
    assert read_rows(path)[1] == [{"loss": "1.0", "step": "10"}, {"loss": "3.0", "step": "20"}]


def test_log_hyperparams_writes_yaml(tmp_path: Path) -> None:
    logger = CSVLogger(tmp_path, name="exp", version="v")
    logger.log_hyperparams(Namespace(lr=0.001, norm="attentive"))
    logger.log_hyperparams({"batch_size": 16})
    data = yaml.safe_load((tmp_path / "exp" / "v" / "hparams.yaml").read_text())
    assert data == {"lr": 0.001, "norm": "attentive", "batch_size": 16}


def test_other_ranks_write_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "metrics.csv").write_text("loss,step\n1,10\n2,20\n")
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    logger = CSVLogger(tmp_path, name="", version="")
    logger.log_metrics({"loss": 1.0}, step=1)
    logger.log_hyperparams({"lr": 1})
    logger.resume(10)
    logger.finalize("success")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]
    assert (tmp_path / "metrics.csv").read_text() == "loss,step\n1,10\n2,20\n"


def test_resume_loggers_reaches_ours_only(tmp_path: Path) -> None:
    ours = CSVLogger(tmp_path)
    ours.log_metrics({"loss": 1.0}, step=1)
    ours.log_metrics({"loss": 2.0}, step=2)
    resume_loggers([ours, object()], step=1)
    assert [r["step"] for r in read_rows(tmp_path / "metrics.csv")[1]] == ["1"]
    resume_loggers(ours, step=0)
    assert read_rows(tmp_path / "metrics.csv")[1] == []


def test_drop_in_for_a_trainer(tmp_path: Path) -> None:
    from lightning.pytorch import Trainer
    from lightning.pytorch.demos.boring_classes import BoringModel

    class Model(BoringModel):
        def __init__(self, lr: float = 0.1) -> None:
            super().__init__()
            self.save_hyperparameters()

        def training_step(self, batch, batch_idx):
            out = super().training_step(batch, batch_idx)
            self.log("loss", out["loss"])
            return out

    trainer = Trainer(
        default_root_dir=tmp_path,
        logger=CSVLogger(tmp_path, name="", version=""),
        max_steps=3,
        limit_val_batches=0,
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(Model())
    header, rows = read_rows(tmp_path / "metrics.csv")
    assert header == ["epoch", "loss", "step"]
    assert [(r["epoch"], r["step"]) for r in rows] == [("0", "0"), ("0", "1"), ("0", "2")]
    assert yaml.safe_load((tmp_path / "hparams.yaml").read_text()) == {"lr": 0.1}


def test_tensorboard_resume_purges_events_after_the_checkpoint(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="tensorboard is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    first = TensorBoardLogger(tmp_path, name="", version="run")
    for step in (10, 20, 30, 40, 50):
        first.log_metrics({"loss": float(step)}, step=step)
    first.finalize("success")

    second = TensorBoardLogger(tmp_path, name="", version="run")
    second.resume(30)
    for step in (40, 50):
        second.log_metrics({"loss": step / 10}, step=step)
    second.finalize("success")

    events = EventAccumulator(second.log_dir)
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("loss")] == [
        (10, 10.0),
        (20, 20.0),
        (30, 30.0),
        (40, 4.0),
        (50, 5.0),
    ]
