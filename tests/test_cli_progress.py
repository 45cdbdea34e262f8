"""The progress bar counts generator iterations through Lightning's public hooks only."""

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from an_lightning.cli.progress import GIterProgressBar


class Counting(L.LightningModule):
    """Stands in for a GAN task: it has what ``tasks.interface.GeneratorTask`` declares."""

    optimizer_steps = image_size = 1

    def __init__(self, max_g_steps: int = 3) -> None:
        super().__init__()
        self.max_g_steps = max_g_steps
        self.layer = self.generator = self.g_ema = torch.nn.Linear(2, 1)
        self.g_iter = 0

    def check_data(self, data) -> None:
        pass

    def training_step(self, batch, batch_idx):
        self.g_iter += 1
        return self.layer(batch[0]).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Recording(GIterProgressBar):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def describe(self, trainer, pl_module, refresh: bool = True) -> None:
        super().describe(trainer, pl_module, refresh)
        task = self.progress.tasks[self.train_progress_bar_id] if self.progress else None
        self.seen.append(task.description if task else "")


def run(module, tmp_path) -> Recording:
    bar = Recording()
    data = DataLoader(TensorDataset(torch.ones(4, 2)), batch_size=2)
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=3,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=[bar],
        default_root_dir=tmp_path,
    )
    trainer.fit(module, data)
    return bar


def test_the_bar_shows_generator_iterations_and_the_epoch(tmp_path):
    bar = run(Counting(max_g_steps=3), tmp_path)
    assert bar.seen[0] == "G iter 0/3 (epoch 0)"  # at the start of the first epoch
    assert bar.seen[-1] == "G iter 3/3 (epoch 1)"
    assert "G iter 2/3 (epoch 0)" in bar.seen


def test_modules_that_are_not_generator_tasks_keep_the_stock_description(tmp_path):
    module = Counting()
    del module.max_g_steps  # no G budget: not a GeneratorTask
    bar = run(module, tmp_path)
    assert bar.seen and all(text.startswith("Epoch") for text in bar.seen)
