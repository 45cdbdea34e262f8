"""The task base's compiled path and channels_last: same training as eager, same checkpoints.

A tiny class-conditional GAN with AN in G and D and spectral norm in D (ch 4, 32 px, the
smallest the networks allow), 2 generator iterations of n_dis = 2 on a fixed batch. On
2 CPU cores inductor needs minutes per network, so the compiled runs are shared, and the
recompile test hands torch.compile a counting backend that skips inductor.

Tolerances. Losses: the compiled kernels reorder float32 sums, so losses agree to ~1e-6
relative, not bit for bit; rtol 1e-4 leaves room for two iterations of drift and still
catches any change of what is computed (a wrong gradient or a stale spectral norm moves a
loss by 1e-2 or more). Weights: Adam's first steps are about lr * sign(grad), so an entry
whose gradient is near 0 may step the other way under a reordered sum, by up to 2 lr.
The test compares each network's update (trained minus initial weights) as a whole:
relative to its norm the difference stays under 2% (measured: below 0.1%), while a
wrong gradient changes the update by O(1).
"""

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from an_lightning.models import Discriminator, Generator, NormSpec
from an_lightning.tasks import ClassConditionalGAN

LOSS_RTOL = 1e-4
UPDATE_RTOL = 2e-2


def make_task(**options) -> ClassConditionalGAN:
    torch.manual_seed(0)
    extra = {16: NormSpec("an", {"n": 4})}
    g = Generator(resolution=32, num_classes=10, ch=4, z_dim=8, extra=extra)
    d = Discriminator(resolution=32, num_classes=10, ch=4, extra=extra)  # spectral norm
    options = {"n_dis": 2, "max_g_steps": 2, "sample_every": 0, "ema_start": 0, **options}
    task = ClassConditionalGAN(g, d, **options)
    task.on_train_end = lambda: None  # no sample grid
    return task


class Losses(L.Callback):
    """The logged D and G losses of every iteration."""

    def __init__(self) -> None:
        self.values: list[tuple[float, float]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        metrics = trainer.callback_metrics
        self.values.append((float(metrics["loss/d"]), float(metrics["loss/g"])))


def data() -> DataLoader:
    gen = torch.Generator().manual_seed(3)
    images = torch.rand(32, 3, 32, 32, generator=gen) * 2 - 1
    labels = torch.randint(10, (32,), generator=gen)
    return DataLoader(TensorDataset(images, labels), batch_size=8)  # 2 D chunks of 4


def train(task, root, ckpt_path=None) -> tuple[ClassConditionalGAN, list, L.Trainer]:
    losses = Losses()
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
        callbacks=[losses],
    )
    trainer.fit(task, data(), ckpt_path=ckpt_path)
    return task, losses.values, trainer


def initial_weights() -> dict[str, dict[str, torch.Tensor]]:
    task = make_task()
    return {n: clone_state(getattr(task, n)) for n in ("generator", "discriminator")}


def network_state(state: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    """The entries of the task's ``state`` that belong to its network ``name``, unprefixed."""
    return {k.removeprefix(f"{name}."): v for k, v in state.items() if k.startswith(f"{name}.")}


def clone_state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def assert_same_training(run, reference, start=None) -> None:
    """Same losses and, relative to the update from ``start`` (default: the initial
    weights), the same weights of G and D after 2 iterations (tolerances: see the top)."""
    (task, losses, _), (ref, ref_losses, _) = run, reference
    assert task.g_iter == ref.g_iter == 2
    torch.testing.assert_close(
        torch.tensor(losses), torch.tensor(ref_losses), rtol=LOSS_RTOL, atol=1e-6
    )
    start = initial_weights() if start is None else start
    for name in ("generator", "discriminator"):
        ours, theirs = getattr(task, name).state_dict(), getattr(ref, name).state_dict()
        updates, gaps = [], []
        for key, w0 in start[name].items():
            if w0.is_floating_point():
                updates.append((theirs[key] - w0).flatten())
                gaps.append((ours[key] - theirs[key]).flatten())
        err = torch.cat(gaps).norm() / torch.cat(updates).norm()
        assert err < UPDATE_RTOL, f"{name}: its update differs by {err:.2%}"


@pytest.fixture(scope="module")
def eager(tmp_path_factory):
    return train(make_task(), tmp_path_factory.mktemp("eager"))


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    return train(make_task(compile=True), tmp_path_factory.mktemp("compiled"))


def test_eager_training_moves_every_network(eager):
    """The comparisons below are not vacuous: both networks and both losses change."""
    task, losses, _ = eager
    assert len(losses) == 2 and losses[0] != losses[1]
    start = initial_weights()
    for name in ("generator", "discriminator"):
        state = getattr(task, name).state_dict()
        moved = [k for k, w0 in start[name].items() if not torch.equal(state[k], w0)]
        assert len(moved) > len(start[name]) // 2, name


@pytest.mark.slow
def test_compiled_training_matches_eager(compiled, eager):
    assert_same_training(compiled, eager)


def test_channels_last_training_matches_eager(eager, tmp_path):
    run = train(make_task(channels_last=True), tmp_path)
    task = run[0]
    conv = task.discriminator.blocks[0].conv1
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert_same_training(run, eager)


def test_options_keep_state_dict_keys_and_are_recorded():
    eager_task = make_task()
    task = make_task(compile=True, channels_last=True)
    task.configure_model()
    assert list(task.state_dict()) == list(eager_task.state_dict())
    assert not any("_orig_mod" in k for k in task.state_dict())
    assert task.hparams.compile and task.hparams.channels_last
    task.configure_model()  # Lightning calls the hook per stage: applied once
    assert task.networks_prepared


class CountingBackend:
    """A torch.compile backend (the public custom-backend API) that counts the graphs it
    is handed and runs them as captured, without inductor: seconds, not minutes."""

    def __init__(self) -> None:
        self.graphs = 0

    def __call__(self, gm: torch.fx.GraphModule, example_inputs) -> object:
        self.graphs += 1
        return gm.forward


def count_compiles(root, iterations: int) -> tuple[int, list]:
    """Graphs compiled for G and D together over a run of ``iterations``, and its losses."""
    torch.compiler.reset()  # graphs cached by earlier runs in this process would be reused
    backend = CountingBackend()
    task = make_task(compile=True, max_g_steps=iterations)
    task.compile_options["backend"] = backend  # read by configure_model
    _, losses, _ = train(task, root)
    return backend.graphs, losses


# One graph per network and autograd state: G without grad (D step) and with it (G step);
# D with trainable weights on detached images, and frozen (toggle_optimizer) on G's.
GRAPHS_PER_RUN = 4


def test_compiles_do_not_grow_with_training_length(eager, tmp_path):
    """Recompiles are bounded: a run twice as long compiles no more graphs (no graph
    breaks, no guard on state that changes per step), and the captured graphs with
    AN's draws made outside them train exactly as eager (same draws, same order)."""
    short, losses = count_compiles(tmp_path / "short", 2)
    long, _ = count_compiles(tmp_path / "long", 4)
    assert long == short <= GRAPHS_PER_RUN, (short, long)
    assert losses == eager[1]


def test_an_unknown_compile_mode_is_refused_at_construction():
    with pytest.raises(ValueError, match=r"compile_mode .fast. is not a torch\.compile mode"):
        make_task(compile=True, compile_mode="fast")


@pytest.mark.slow
def test_resume_from_a_compiled_checkpoint(compiled, tmp_path):
    """A compiled run's checkpoint has the eager keys, and it resumes, compiled, as it
    resumes eagerly (a checkpoint after 1 iteration, resumed to 2)."""
    _, _, trainer = train(make_task(compile=True, max_g_steps=1), tmp_path)
    ckpt = tmp_path / "one.ckpt"
    trainer.save_checkpoint(ckpt)
    saved = torch.load(ckpt, weights_only=False)["state_dict"]
    assert list(saved) == list(make_task().state_dict())

    resumed = train(make_task(compile=True), tmp_path, ckpt_path=ckpt)
    resumed_eager = train(make_task(), tmp_path, ckpt_path=ckpt)
    assert len(resumed[1]) == 1  # one more iteration, from g_iter 1
    start = {name: network_state(saved, name) for name in ("generator", "discriminator")}
    assert_same_training(resumed, resumed_eager, start)

    loaded = ClassConditionalGAN.load_from_checkpoint(ckpt)  # what evaluate and sample do
    assert loaded.g_iter == 1 and loaded.hparams.compile
    for key, value in saved.items():
        assert torch.equal(loaded.state_dict()[key], value), key
