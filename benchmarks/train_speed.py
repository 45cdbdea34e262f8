"""Training throughput: the Lightning GAN task vs the same iteration as a plain loop.

One iteration = one D step (G forward without grad, D on real and fake, hinge
loss, Adam) + one G step (G and D forward, hinge loss + AN orthogonality, Adam)
+ the G EMA update, at batch B. The extra layer (G and D, in the block whose
output is 1/4 of the image size) is ``bn``, ``sa`` or ``an``: AN and BN inside
that block after its first conv (the paper's placement, docs/method.md), SA after
it (SA-GAN's). Lightning must stay within 5%.

``--compile`` compiles G and D (the task's ``compile`` option; in the plain loop the
same ``norms.attentive.compile_network`` with static shapes), ``--channels-last`` puts
them and the batch in channels_last (the task's ``channels_last``). The first
iteration, which compiles, is reported on its own (``*_first_s``) and, like every
warm-up iteration, left out of the rates.

    python -m benchmarks.train_speed [--resolutions 32 128] [--device cuda --precision bf16]
        [--compile] [--channels-last]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import lightning as L
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, Dataset

from an_lightning.models import Discriminator, Generator, LayerSpec
from an_lightning.norms import regularization_loss, set_generator
from an_lightning.norms.attentive import compile_network
from an_lightning.tasks import ClassConditionalGAN
from an_lightning.tasks.losses import hinge_d, hinge_g

NUM_CLASSES = 10
LOG_EVERY = 50  # Lightning's default log_every_n_steps


def build_nets(
    res: int, norm: str, ch: int, num_classes: int = NUM_CLASSES
) -> tuple[Generator, Discriminator]:
    """G and D with the extra layer in the block whose output is 1/4 of the image size
    (``sa`` after it, as SA-GAN; others in it, as AN); at 128 px, ch 64, 1000 classes
    and ``an`` this is the paper's network (experiments/imagenet.yaml)."""
    placement = "after_block" if norm == "sa" else "in_block"
    extra = {res // 4: LayerSpec(norm, placement=placement)}
    g = Generator(resolution=res, num_classes=num_classes, ch=ch, extra=extra)
    d = Discriminator(resolution=res, num_classes=num_classes, ch=ch, extra=extra)
    return g, d


def orth(net: torch.nn.Module) -> torch.Tensor | float:
    """The task's lambda_orth * regularizer (0 for nets without AN)."""
    loss = regularization_loss(net)
    return 0.0 if loss is None else 2e-4 * loss


class RepeatedBatch(Dataset):
    """The same random batch, ``length`` times: no data loading in the measurement."""

    def __init__(self, batch: tuple[torch.Tensor, torch.Tensor], length: int) -> None:
        self.batch, self.length = batch, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int):
        return self.batch


def prepare(net: torch.nn.Module, args) -> torch.nn.Module:
    """What the task's ``channels_last`` and ``compile`` options do to a network."""
    if getattr(args, "channels_last", False):
        net = net.to(memory_format=torch.channels_last)
    if getattr(args, "compile", False):
        compile_network(net, mode=getattr(args, "compile_mode", None), dynamic=False)
    return net


class IterationTimer(L.Callback):
    """Wall time of every training batch (synchronised on CUDA)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self._start)


def time_lightning(res, norm, args, batch) -> list[float]:
    """Wall time of every iteration (the first ones included: see ``main``)."""
    torch.manual_seed(0)
    g, d = build_nets(res, norm, args.ch, args.num_classes)
    options = {
        "compile": getattr(args, "compile", False),
        "compile_mode": getattr(args, "compile_mode", None),
        "channels_last": getattr(args, "channels_last", False),
    }
    task = ClassConditionalGAN(g, d, max_g_steps=args.iters, sample_every=0, ema_start=0, **options)
    task.on_train_end = lambda: None  # no sample grid: not part of an iteration
    timer = IterationTimer()
    trainer = L.Trainer(
        accelerator=args.device,
        devices=1,
        precision=args.precision,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    loader = DataLoader(RepeatedBatch(batch, args.iters), batch_size=None)
    trainer.fit(task, loader)
    return timer.times


def time_plain(res, norm, args, batch) -> list[float]:
    """The same iteration as ClassConditionalGAN.training_step, without Lightning
    (every iteration's wall time, the first ones included)."""
    torch.manual_seed(0)
    device = torch.device(args.device)
    g, d = build_nets(res, norm, args.ch, args.num_classes)
    g, d = g.to(device), d.to(device)
    ema = AveragedModel(g, multi_avg_fn=get_ema_multi_avg_fn(0.9999), use_buffers=False)
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-4, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(d.parameters(), lr=4e-4, betas=(0.0, 0.9))
    gen = torch.Generator(device=device).manual_seed(0)
    set_generator(g, torch.Generator().manual_seed(1))
    set_generator(d, torch.Generator().manual_seed(1))
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(args.precision)
    real, labels = (t.to(device) for t in batch)
    if getattr(args, "channels_last", False):
        real = real.contiguous(memory_format=torch.channels_last)
        ema.to(memory_format=torch.channels_last)
    g, d = prepare(g, args), prepare(d, args)
    times = []
    for it in range(1, args.iters + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            g.requires_grad_(False)
            with torch.no_grad():
                z = torch.randn(real.shape[0], g.z_dim, device=device, generator=gen)
                y = torch.randint(g.num_classes, (real.shape[0],), device=device, generator=gen)
                fake = g(z, y)
            loss_d = hinge_d(d(real, labels), d(fake, y)) + orth(d)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        g.requires_grad_(True)
        d.requires_grad_(False)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            z = torch.randn(real.shape[0], g.z_dim, device=device, generator=gen)
            y = torch.randint(g.num_classes, (real.shape[0],), device=device, generator=gen)
            loss_g = hinge_g(d(g(z, y), y)) + orth(g)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        d.requires_grad_(True)
        ema.update_parameters(g)
        if it % LOG_EVERY == 0:  # what the task's logging costs: host syncs
            float(loss_d), float(loss_g)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def random_batch(size: int, res: int, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic float [-1, 1] images and labels: what the task gets after the transfer."""
    return torch.rand(size, 3, res, res) * 2 - 1, torch.randint(num_classes, (size,))


def iteration_rate(
    batch: int,
    iters: int,
    warmup: int = 1,
    *,
    res: int = 128,
    norm: str = "an",
    ch: int = 64,
    num_classes: int = 1000,
    device: str = "cpu",
    precision: str = "32-true",
) -> dict:
    """Images/s one ``ClassConditionalGAN`` training iteration (through Lightning)
    consumes at ``batch``: the median of ``iters - warmup`` timed iterations. The defaults
    are the paper's 128 px network; with n_dis = 1 an iteration takes ``batch`` images."""
    args = argparse.Namespace(
        ch=ch,
        num_classes=num_classes,
        iters=iters,
        warmup=warmup,
        device=device,
        precision=precision,
    )
    times = time_lightning(res, norm, args, random_batch(batch, res, num_classes))[warmup:]
    seconds = statistics.median(times)
    return {
        "resolution": res,
        "norm": norm,
        "ch": ch,
        "num_classes": num_classes,
        "batch": batch,
        "device": device,
        "precision": precision,
        "timed_iters": len(times),
        "s_per_iter": seconds,
        "images_per_s": batch / seconds,
    }


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--resolutions", type=int, nargs="+", default=[32, 128])
    p.add_argument("--norms", nargs="+", default=["bn", "sa", "an"])
    p.add_argument("--ch", type=int, default=64, help="width multiplier (64 in the paper)")
    p.add_argument("--num-classes", type=int, default=NUM_CLASSES, help="1000 in the paper")
    p.add_argument("--batch", type=int, nargs="+", default=None, help="per resolution")
    p.add_argument("--iters", type=int, default=12)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2, help="interleaved Lightning/plain rounds")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", default="32-true", help="e.g. bf16-mixed on a GPU")
    p.add_argument("--compile", action="store_true", help="torch.compile G and D")
    p.add_argument("--compile-mode", default=None, help="torch.compile mode (default: its own)")
    p.add_argument("--channels-last", action="store_true", help="G, D and batches in channels_last")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/train_speed.json"))
    args = p.parse_args(argv)
    default_batch = {32: 64, 64: 32, 128: 8} if args.device == "cpu" else {32: 256, 128: 256}
    args.batches = args.batch or [default_batch.get(r, 16) for r in args.resolutions]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = []
    for res, bsz in zip(args.resolutions, args.batches, strict=True):
        batch = random_batch(bsz, res, args.num_classes)
        for norm in args.norms:
            light, plain, firsts = [], [], {"lightning": [], "plain": []}
            for _ in range(args.rounds):  # interleaved, so drift in machine load hits both
                for kind, timer, kept in (
                    ("lightning", time_lightning, light),
                    ("plain", time_plain, plain),
                ):
                    times = timer(res, norm, args, batch)
                    firsts[kind].append(times[0])
                    kept += times[args.warmup :]
            t_l, t_p = statistics.median(light), statistics.median(plain)
            rows.append(
                {
                    "resolution": res,
                    "norm": norm,
                    "batch": bsz,
                    "lightning_img_s": bsz / t_l,
                    "plain_img_s": bsz / t_p,
                    "overhead_pct": 100 * (t_l / t_p - 1),
                    # The first iteration of the first round: compilation, when --compile.
                    "lightning_first_s": firsts["lightning"][0],
                    "plain_first_s": firsts["plain"][0],
                }
            )
            r = rows[-1]
            print(
                f"{res:>4}px {norm:<3} B={bsz:<4} lightning {r['lightning_img_s']:8.1f} img/s  "
                f"plain {r['plain_img_s']:8.1f} img/s  overhead {r['overhead_pct']:+.1f}%  "
                f"first iteration {r['lightning_first_s']:.1f} s / {r['plain_first_s']:.1f} s",
                flush=True,
            )
    table = [
        "| res | extra norm | batch | Lightning img/s | plain img/s | overhead "
        "| first iteration s (Lightning / plain) |"
    ]
    table.append("|---|---|---|---|---|---|---|")
    for r in rows:
        table.append(
            f"| {r['resolution']} | {r['norm']} | {r['batch']} | {r['lightning_img_s']:.1f} | "
            f"{r['plain_img_s']:.1f} | {r['overhead_pct']:+.1f}% | "
            f"{r['lightning_first_s']:.1f} / {r['plain_first_s']:.1f} |"
        )
    print("\n" + "\n".join(table))
    met = all(r["overhead_pct"] <= 5 for r in rows)
    print(f"\nLightning within 5% of the plain loop everywhere: {'yes' if met else 'NO'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    args.out.write_text(json.dumps({"config": config, "rows": rows, "met": met}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
