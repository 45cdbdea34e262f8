"""The class-conditional GAN task: counters, EMA, schedules, RNG state and samples."""

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from an_lightning.data.augment import DiffAugment
from an_lightning.data.digits_data import load_digits_uint8
from an_lightning.models import Discriminator, Generator, NormSpec
from an_lightning.tasks import ClassConditionalGAN
from an_lightning.tasks.losses import hinge_d, hinge_g
from an_lightning.tasks.optim import linear_decay
from an_lightning.tasks.rng import RankGenerators, restore_states


def nets(extra=None, classes=10):
    extra = {16: NormSpec("an", {"n": 4})} if extra is None else extra
    g = Generator(resolution=32, num_classes=classes, ch=4, z_dim=8, extra=extra)
    d = Discriminator(resolution=32, num_classes=classes, ch=4, extra=extra)
    return g, d


@pytest.fixture(scope="module")
def digits():
    """Real digits as the task sees them: float [-1, 1] images and labels."""
    images, labels = load_digits_uint8(32)
    return images[:96].float() / 127.5 - 1, labels[:96]


@pytest.fixture
def deterministic():
    """``deterministic=True`` for a Trainer, without leaving torch's flag set for later tests."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    yield {"deterministic": True}
    torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def train(task, digits, root, batch=16, shuffle=True, ckpt_path=None, **trainer_kw):
    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(*digits), batch_size=batch, shuffle=shuffle, drop_last=True)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
        **trainer_kw,
    )
    trainer.fit(task, loader, ckpt_path=ckpt_path)
    return trainer


def test_counts_generator_iterations_not_optimizer_steps(digits, tmp_path):
    task = ClassConditionalGAN(*nets(), n_dis=3, max_g_steps=4, sample_every=0)
    trainer = train(task, digits, tmp_path, batch=24)  # 3 D chunks of 8
    assert task.g_iter == 4
    assert trainer.global_step == 4 * (3 + 1)


def test_ema_copies_then_averages(digits, tmp_path):
    task = ClassConditionalGAN(*nets(), max_g_steps=2, ema_start=2, ema_decay=0.5)
    train(task, digits, tmp_path)
    g, ema = dict(task.generator.named_parameters()), dict(task.g_ema.module.named_parameters())
    assert all(torch.equal(g[k], ema[k]) for k in g)  # still copying at iteration 2
    task.hparams.max_g_steps = 4
    train(task, digits, tmp_path)
    assert not all(torch.equal(g[k], ema[k]) for k in g)
    assert all(not p.requires_grad for p in task.g_ema.parameters())


def test_linear_decay_reaches_zero_at_the_end(digits, tmp_path):
    assert [linear_decay(i, 2, 6) for i in (0, 2, 4, 6, 8)] == [1.0, 1.0, 0.5, 0.0, 0.0]
    assert linear_decay(5, None, 6) == 1.0
    task = ClassConditionalGAN(*nets(), max_g_steps=4, lr_decay_start=2, g_lr=1e-3, d_lr=2e-3)
    train(task, digits, tmp_path)
    g_opt, d_opt = task.optimizers()
    # The schedule is applied at the start of each iteration: the last one ran at 1/2.
    assert g_opt.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5)
    assert d_opt.param_groups[0]["lr"] == pytest.approx(2e-3 * 0.5)


def test_orthogonality_regularizer_only_where_an_sits():
    with_an = ClassConditionalGAN(*nets())
    assert float(with_an.regularization(with_an.generator)) > 0
    plain = ClassConditionalGAN(*nets(extra={}))
    assert plain.regularization(plain.generator) == 0.0
    off = ClassConditionalGAN(*nets(), lambda_orth=0.0)
    assert off.regularization(off.discriminator) == 0.0


def test_hinge_losses():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    assert hinge_d(real, fake).item() == pytest.approx((0 + 0.5) / 2 + (0 + 1) / 2)
    assert hinge_g(fake).item() == pytest.approx(1.0)


def test_checkpoint_holds_counter_and_random_states(digits, tmp_path):
    task = ClassConditionalGAN(*nets(), max_g_steps=3, sample_every=0)
    trainer = train(task, digits, tmp_path)
    path = tmp_path / "a.ckpt"
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    assert ckpt["g_iter"] == 3
    states = ckpt["rank_generators"]
    assert {k: v.shape[0] for k, v in states.items()} == {"latent": 1, "sampling": 1, "augment": 1}
    fresh = ClassConditionalGAN(*nets(), max_g_steps=3)
    fresh.on_load_checkpoint(ckpt)
    assert fresh.g_iter == 3
    z_next = task.latents(4)[0]
    fresh.trainer = None
    fresh.rng = type(task.rng)(0, 0, torch.device("cpu"))
    fresh.rng.load({k: v[0] for k, v in states.items()})
    assert torch.equal(fresh.latents(4)[0], z_next)  # the stream continues where it stopped


def test_sample_grid_rows_are_classes(digits, tmp_path):
    task = ClassConditionalGAN(
        *nets(), max_g_steps=2, sample_every=2, sample_classes=[3, 7], samples_per_class=5
    )
    train(task, digits, tmp_path)
    grid = task.sample_grid()
    assert grid.shape == (10, 3, 32, 32) and grid.min() >= -1 and grid.max() <= 1
    files = sorted(p.name for p in (tmp_path / "samples").iterdir())
    assert files == ["class_0003.png", "class_0007.png", "grid_0000002.png"]


def test_bad_arguments_are_named():
    g, d = nets()
    with pytest.raises(ValueError, match="n_dis"):
        ClassConditionalGAN(g, d, n_dis=0)
    with pytest.raises(ValueError, match="sample_classes"):
        ClassConditionalGAN(g, d, sample_classes=[10])
    with pytest.raises(ValueError, match="num_classes"):
        ClassConditionalGAN(g, nets(classes=5)[1])


def test_bf16_mixed_precision_and_diffaugment_train(digits, tmp_path):
    task = ClassConditionalGAN(*nets(), max_g_steps=2, sample_every=0, d_augment=DiffAugment())
    train(task, digits, tmp_path, precision="bf16-mixed")
    assert task.g_iter == 2
    assert all(torch.isfinite(p).all() for p in task.parameters())
    assert task.hparams.d_augment["class_path"] == "an_lightning.data.augment.DiffAugment"
    assert task.d_augment.generator is task.rng.augment  # the task's checkpointed stream
    assert not torch.equal(
        task.rng.augment.get_state(), RankGenerators(0, 0, torch.device("cpu")).augment.get_state()
    )
    x = digits[0][:4]
    assert not torch.equal(task.d_augment(x), x)  # the augmentation is really applied


def test_rank_generators_round_trip_with_the_augment_stream():
    gens = RankGenerators(7, 0, torch.device("cpu"))
    for g in gens.streams().values():
        torch.rand(3, generator=g)
    stacked = {k: v[None] for k, v in gens.state().items()}  # as gather_states stores them
    restored = RankGenerators(0, 0, torch.device("cpu"))
    assert restore_states(stacked, rank=0, world=1, gens=restored)
    for name, g in gens.streams().items():
        assert torch.equal(
            torch.rand(5, generator=g), torch.rand(5, generator=restored.streams()[name])
        )


def test_a_checkpoint_without_the_augment_stream_still_loads():
    old = RankGenerators(7, 0, torch.device("cpu"))
    torch.rand(3, generator=old.latent)
    stacked = {"latent": old.latent.get_state()[None], "sampling": old.sampling.get_state()[None]}
    restored = RankGenerators(7, 0, torch.device("cpu"))
    assert restore_states(stacked, rank=0, world=1, gens=restored)
    assert torch.equal(restored.latent.get_state(), old.latent.get_state())
    assert torch.equal(
        restored.augment.get_state(), RankGenerators(7, 0, torch.device("cpu")).augment.get_state()
    )


def diffaugment_run(digits, root, seed=0, max_g_steps=2, ckpt_path=None, **trainer_kw):
    """A tiny GAN with DiffAugment from fresh weights (init from torch.manual_seed(1))."""
    torch.manual_seed(1)
    task = ClassConditionalGAN(
        *nets(), max_g_steps=max_g_steps, sample_every=0, seed=seed, d_augment=DiffAugment()
    )
    train(task, digits, root, shuffle=False, ckpt_path=ckpt_path, **trainer_kw)
    return task


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_diffaugment_trainings_repeat_with_the_same_seed_only(digits, tmp_path, deterministic):
    first = diffaugment_run(digits, tmp_path / "a", **deterministic)
    again = diffaugment_run(digits, tmp_path / "b", **deterministic)
    other = diffaugment_run(digits, tmp_path / "c", seed=1, **deterministic)
    assert first.g_iter == again.g_iter == other.g_iter == 2
    assert same_weights(first, again)
    assert not same_weights(first, other)


def test_diffaugment_leaves_the_latent_and_sampling_streams_alone(digits, tmp_path):
    plain = ClassConditionalGAN(*nets(), max_g_steps=2, sample_every=0)
    train(plain, digits, tmp_path / "plain")
    augmented = diffaugment_run(digits, tmp_path / "aug")
    for name in ("latent", "sampling"):
        a, b = plain.rng.streams()[name], augmented.rng.streams()[name]
        assert torch.equal(a.get_state(), b.get_state()), name


def test_a_resumed_diffaugment_run_matches_an_uninterrupted_one(digits, tmp_path, deterministic):
    data = (digits[0][:32], digits[1][:32])  # two batches: a checkpoint at the epoch's end
    straight = diffaugment_run(data, tmp_path / "a", max_g_steps=4, **deterministic)
    half = diffaugment_run(data, tmp_path / "b", max_g_steps=2, **deterministic)
    path = tmp_path / "half.ckpt"
    half.trainer.save_checkpoint(path)
    # train() reseeds torch's global RNG: anything still drawing from it would differ here.
    resumed = diffaugment_run(data, tmp_path / "b", max_g_steps=4, ckpt_path=path, **deterministic)
    assert resumed.g_iter == straight.g_iter == 4
    assert same_weights(resumed, straight)


def test_diffaugment_records_its_arguments_and_old_checkpoints_load(digits, tmp_path):
    augment = DiffAugment("cutout, translation", translation=0.25)
    task = ClassConditionalGAN(*nets(), max_g_steps=1, sample_every=0, d_augment=augment)
    # What the removed network_config special case wrote, now the recorded init_args.
    old = {"policy": "cutout,translation", "translation": 0.25, "cutout": 0.5}
    assert task.hparams.d_augment["init_args"] == {**old, "policy": "cutout, translation"}
    train(task, (digits[0][:16], digits[1][:16]), tmp_path / "run")
    path = tmp_path / "old.ckpt"
    task.trainer.save_checkpoint(path)
    blob = torch.load(path, map_location="cpu", weights_only=False)
    blob["hyper_parameters"]["d_augment"]["init_args"] = old  # the pre-RecordsInitArgs form
    torch.save(blob, path)
    restored = ClassConditionalGAN.load_from_checkpoint(path, map_location="cpu")
    assert isinstance(restored.d_augment, DiffAugment)
    assert restored.d_augment.policy == ("cutout", "translation")
    assert restored.d_augment.init_args == old
    assert same_weights(restored.discriminator, task.discriminator)


def test_wandb_goes_offline_without_credentials(monkeypatch, tmp_path):
    from an_lightning.loggers import AutoWandbLogger, has_wandb_credentials

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert not has_wandb_credentials()
    assert AutoWandbLogger(save_dir=str(tmp_path))._offline
    (tmp_path / "netrc").write_text("machine api.wandb.ai\n  login user\n  password abc\n")
    assert has_wandb_credentials()
    assert not AutoWandbLogger(save_dir=str(tmp_path))._offline
