"""The inpainting task: WGAN-GP pieces, and a few real training steps with resume."""

import math

import pytest
import torch
from inpaint_fixtures import run_fit, tiny_config
from torch import nn

from an_lightning.data.masks import load_eval_masks
from an_lightning.tasks.losses import gradient_penalty, wgan_d, wgan_g
from an_lightning.tasks.reconstruction import discount_weights, weighted_l1


def reference_penalty(critic, real, fake, t):
    """(||grad||_2 - 1)^2 averaged over samples, one autograd call per sample."""
    values = []
    for i in range(real.shape[0]):
        x = (t[i] * real[i] + (1 - t[i]) * fake[i]).detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x[None]).sum(), x)
        values.append((torch.sqrt((grad**2).sum()) - 1) ** 2)
    return torch.stack(values).mean()


def small_critic() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(4 * 7 * 7, 1)
    )


def test_gradient_penalty_matches_an_autograd_reference():
    critic = small_critic()
    real, fake = torch.randn(5, 3, 16, 16), torch.randn(5, 3, 16, 16)
    ours = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(3))
    t = torch.rand(5, 1, 1, 1, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(ours, reference_penalty(critic, real, fake, t), rtol=1e-5)


def test_gradient_penalty_in_closed_form_and_it_trains_the_critic():
    real, fake = torch.randn(3, 3, 4, 4), torch.randn(3, 3, 4, 4)
    scale = nn.Parameter(torch.tensor(2.0))

    def critic(x):  # gradient = scale everywhere: norm = scale * sqrt(48)
        return scale * x.flatten(1).sum(1)

    penalty = gradient_penalty(critic, real, fake)
    assert math.isclose(float(penalty), (2 * math.sqrt(48) - 1) ** 2, rel_tol=1e-5)
    penalty.backward()
    assert math.isclose(
        float(scale.grad), 2 * (2 * math.sqrt(48) - 1) * math.sqrt(48), rel_tol=1e-5
    )


def test_wgan_losses():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0])
    assert float(wgan_d(real, fake)) == -2.5 and float(wgan_g(fake)) == 0.5


def test_spatial_discount_weights():
    mask = torch.zeros(1, 1, 32, 32)
    mask[:, :, 8:24, 8:24] = 1
    assert torch.equal(discount_weights(mask, None), torch.ones_like(mask))
    w = discount_weights(mask, 0.9)
    assert torch.all(w[mask == 0] == 1)
    assert math.isclose(float(w[0, 0, 8, 15]), 0.9, rel_tol=0.05)  # next to the border
    assert float(w[0, 0, 15, 15]) < 0.9**6  # deep inside
    pred, target = torch.ones(1, 3, 32, 32), torch.zeros(1, 3, 32, 32)
    assert math.isclose(float(weighted_l1(pred, target, w)), float(w.mean()), rel_tol=1e-6)


def state(run) -> dict:
    return torch.load(run / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)


def test_training_validates_writes_panels_and_resumes_bit_exact(tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    run_fit(tmp_path, "whole", tiny_config(whole, max_g_steps=4))
    first = state(whole)
    assert first["g_iter"] == 4 and first["global_step"] == 4 * 3  # 2 critic + 1 G step
    assert "rank_generators" in first
    header = (whole / "metrics.csv").read_text().splitlines()[0].split(",")
    for column in ("loss/l1", "d/gp", "val/psnr_rect", "val/ssim_thick", "val/mae_thin"):
        assert column in header
    assert sorted(p.name for p in (whole / "samples").glob("inpaint_*.png")) == [
        "inpaint_0000002.png",
        "inpaint_0000004.png",
    ]
    assert len(list((tmp_path / "eval_masks/medium").glob("*.png"))) == 4

    run_fit(tmp_path, "split", tiny_config(split, max_g_steps=2))
    run_fit(tmp_path, "split", tiny_config(split, max_g_steps=4))
    resumed = state(split)
    assert resumed["g_iter"] == 4
    for key, value in first["state_dict"].items():  # masks, penalty draws, data: all resumed
        assert torch.equal(value, resumed["state_dict"][key]), key


def test_batches_too_small_for_the_critic_steps_fail_clearly(tmp_path, capsys):
    config = tiny_config(tmp_path / "run", n_dis=6)  # 7 chunks from batches of 6
    with pytest.raises(SystemExit) as exc:
        run_fit(tmp_path, "small", config)
    assert exc.value.code == 2 and "multiple of 7" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_bad_presets_and_label_norms_are_refused_before_training(tmp_path, capsys):
    bad = tiny_config(tmp_path / "run", eval_presets=["square"])
    with pytest.raises(SystemExit) as exc:
        run_fit(tmp_path, "bad", bad)
    assert exc.value.code == 2 and "eval_presets" in capsys.readouterr().err
    bad = tiny_config(tmp_path / "run", eval_mask_count=0)
    with pytest.raises(SystemExit) as exc:
        run_fit(tmp_path, "bad", bad)
    assert exc.value.code == 2 and "eval_mask_count must be 1" in capsys.readouterr().err
    cbn = tiny_config(tmp_path / "run")
    cbn["model"]["init_args"]["generator"]["init_args"]["norm"] = {"name": "cbn"}
    with pytest.raises(SystemExit) as exc:
        run_fit(tmp_path, "cbn", cbn)
    assert exc.value.code == 2 and "class labels" in capsys.readouterr().err


def test_critic_loss_crops_once_and_matches_cropping_per_critic(monkeypatch):
    """One ``hole_boxes`` per D step (the crops are reused for the local penalty), and the
    loss is bit for bit the one of cropping real and fake again for the penalty."""
    from an_lightning.models import GlobalLocalCritic, InpaintGenerator
    from an_lightning.models.inpaint import critics as critics_module
    from an_lightning.tasks import Inpainting

    torch.manual_seed(0)
    d = GlobalLocalCritic(image_size=32, width=0.125)
    task = Inpainting(InpaintGenerator(width=0.125), d)
    real, fake = torch.rand(3, 3, 32, 32) * 2 - 1, torch.rand(3, 3, 32, 32) * 2 - 1
    mask = torch.zeros(3, 1, 32, 32)
    mask[0, :, 2:10, 20:30], mask[1, :, 16:32, 0:8], mask[2, :, 8:24, 8:24] = 1, 1, 1

    def reference():  # the critic scored, then both batches cropped again per penalty
        scores = d(torch.cat([real, fake]), torch.cat([mask, mask]))
        loss = sum(wgan_d(*s.chunk(2)) for s in scores)
        penalty = gradient_penalty(d.global_critic, real, fake) + gradient_penalty(
            d.local_critic, d.patches(real, mask), d.patches(fake, mask)
        )
        return loss + 10.0 * penalty, penalty

    torch.manual_seed(1)
    expected = reference()
    calls = []
    original = critics_module.hole_boxes
    monkeypatch.setattr(critics_module, "hole_boxes", lambda m: calls.append(1) or original(m))
    torch.manual_seed(1)
    loss, _, _, penalty = task.critic_loss(real, fake, mask)
    assert len(calls) == 1
    assert torch.equal(loss, expected[0]) and torch.equal(penalty, expected[1])


def test_a_bad_shared_mask_folder_is_refused_before_training(tmp_path, capsys):
    shared = tmp_path / "eval_masks"  # tiny_config's eval_masks
    load_eval_masks(shared, 32, 3, presets=("thin",))  # 3 masks; the run wants 4
    with pytest.raises(SystemExit) as exc:
        run_fit(tmp_path, "run", tiny_config(tmp_path / "run"))
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"{shared / 'thin'} holds 3 masks, expected 4" in err
    assert "point eval_masks at another folder" in err
    assert not (tmp_path / "run").exists()
