"""The interface callbacks and commands rely on: declared once, checked before training."""

import inspect

import lightning as L
import pytest
import torch
from torch import Tensor

from an_lightning import fit
from an_lightning.callbacks import TrainingFID
from an_lightning.cli.final_checkpoint import FinalCheckpoint
from an_lightning.models import Discriminator, Generator, GlobalLocalCritic, InpaintGenerator
from an_lightning.models.init_args import RecordsInitArgs
from an_lightning.models.spec import NormSpec
from an_lightning.tasks import AdversarialTask, ClassConditionalGAN, Inpainting
from an_lightning.tasks.interface import (
    ClassConditionalTask,
    GeneratorTask,
    check_callbacks,
    provides,
    require,
)


def gan() -> ClassConditionalGAN:
    g = Generator(resolution=32, num_classes=10, ch=4, z_dim=8, extra={})
    return ClassConditionalGAN(g, Discriminator(resolution=32, num_classes=10, ch=4, extra={}))


def inpainting() -> Inpainting:
    g = InpaintGenerator(NormSpec("in"), width=0.125)
    return Inpainting(g, GlobalLocalCritic(image_size=64, width=0.125))


def test_the_tasks_satisfy_the_interfaces_they_claim():
    assert provides(gan(), ClassConditionalTask)
    task = inpainting()
    assert provides(task, GeneratorTask) and not provides(task, ClassConditionalTask)
    assert task.max_g_steps == task.hparams.max_g_steps == 100_000


def test_submodules_count_though_a_static_lookup_misses_them():
    """Python 3.12's ``isinstance`` on a runtime-checkable Protocol looks members up
    statically and misses ``nn.Module`` submodules: ``fit`` refused every real task
    there. The interfaces are checked with ``hasattr``, and ``isinstance`` is refused
    so that no check can come to depend on the Python version."""
    task = gan()
    with pytest.raises(AttributeError):
        inspect.getattr_static(task, "generator")  # in _modules, not in the instance dict
    assert provides(task, GeneratorTask)
    require(task, GeneratorTask, "fit")
    with pytest.raises(TypeError, match="runtime_checkable"):
        isinstance(task, GeneratorTask)


def test_require_names_what_is_missing_and_the_fix():
    require(gan(), ClassConditionalTask, "TrainingFID")  # satisfied: no error
    with pytest.raises(
        TypeError, match=r"TrainingFID needs a ClassConditionalTask.*lacks num_classes"
    ):
        require(inpainting(), ClassConditionalTask, "TrainingFID")
    with pytest.raises(TypeError, match="object lacks g_iter, generator, g_ema, max_g_steps"):
        require(object(), GeneratorTask, "fit")


def test_callbacks_declare_what_they_read():
    check_callbacks(gan(), [TrainingFID(), FinalCheckpoint(".")])
    check_callbacks(inpainting(), [FinalCheckpoint(".")])
    with pytest.raises(TypeError, match="TrainingFID"):
        check_callbacks(inpainting(), [TrainingFID()])


def test_fit_refuses_a_callback_the_task_cannot_feed(tmp_path, capsys):
    run = tmp_path / "run"
    argv = [
        "experiments/inpaint_demo.yaml",
        f"--run_dir={run}",
        "--trainer.callbacks+=an_lightning.callbacks.TrainingFID",
    ]
    with pytest.raises(SystemExit) as exc:
        fit.main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err, err
    assert "TrainingFID needs a ClassConditionalTask" in err.strip().splitlines()[-1]
    assert not run.exists()


class Net(RecordsInitArgs, torch.nn.Linear):
    """A network whose checkpoint config can be rebuilt (it records its arguments)."""

    def __init__(self, width: int = 2) -> None:
        super().__init__(width, width)


class Toy(AdversarialTask):
    """A task that writes only its losses: the base runs the iteration."""

    generator_reads_data = True

    @property
    def image_size(self) -> int:
        return 4

    def discriminator_loss(self, batch: tuple[Tensor, ...]):
        fake = self.generator(batch[0]).detach()
        d_real, d_fake = self.discriminator(batch[0]).mean(), self.discriminator(fake).mean()
        return d_fake - d_real, {"d/real": d_real}

    def generator_loss(self, batch: tuple[Tensor, ...]):
        size = torch.tensor(float(batch[0].shape[0]))
        return -self.discriminator(self.generator(batch[0])).mean(), {"g/size": size}


def test_a_task_without_its_losses_cannot_be_built():
    class NoLosses(AdversarialTask):
        pass

    net = torch.nn.Linear(2, 2)
    with pytest.raises(TypeError, match="abstract"):
        NoLosses(net, net)


def test_the_batch_is_split_into_one_chunk_per_step():
    net = Net()
    assert not ClassConditionalGAN.generator_reads_data  # its G step draws only latents
    task = Toy(net, net, n_dis=3)
    assert task.chunks_per_batch == 4 and gan().chunks_per_batch == 1
    chunks = task.split_batch((torch.arange(8.0)[:, None], torch.arange(8)))
    assert [tuple(c[1].tolist()) for c in chunks] == [(0, 1), (2, 3), (4, 5), (6, 7)]
    with pytest.raises(ValueError, match="cannot feed n_dis=3 D steps and a generator step"):
        task.split_batch((torch.zeros(3, 2),))


def test_a_task_that_writes_only_its_losses_trains(tmp_path):
    task = Toy(Net(), Net(), n_dis=2, max_g_steps=3, ema_start=3, g_lr=0.1)
    logged = []
    task.send_to_loggers = logged.append  # what the loggers would receive
    trainer = L.Trainer(
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
        default_root_dir=tmp_path,
    )
    before = task.generator.weight.detach().clone()
    data = torch.utils.data.TensorDataset(torch.randn(24, 2))
    trainer.fit(task, torch.utils.data.DataLoader(data, batch_size=6))
    assert task.g_iter == 3 and trainer.global_step == 3 * task.optimizer_steps
    assert not torch.equal(task.generator.weight, before)
    assert torch.equal(task.g_ema.module.weight, task.generator.weight)  # a copy up to ema_start
    assert list(logged[-1]) == ["loss/d", "loss/g", "g/size", "d/real", "lr/g", "lr/d"]
    assert float(logged[-1]["g/size"]) == 2  # 6 images: 2 D chunks and a G chunk of 2
