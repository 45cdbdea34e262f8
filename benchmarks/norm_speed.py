"""Module timing of the AN paper (batch 1, C = 32, n = 16) on this machine.

Times forward and forward+backward of AN, self-attention, IN and BN (or any
registered norm, e.g. ``--norms an_official``) at 64..1024 pixels, with the
median of repeated runs and the peak memory each call adds. Self-attention
grows with (HW)^2: a size whose predicted time exceeds ``--limit-s`` is marked
"too slow" instead of run, and a CUDA out-of-memory is caught and marked, so
the benchmark never hangs.

    python -m benchmarks.norm_speed [--quick] [--device cuda] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from an_lightning.norms import build_norm

# Paper, supplementary: ms per call on an RTX 2080, batch 1, C = 32, n = 16.
PAPER_2080_MS = {
    "an": {128: 0.73, 256: 2.24, 512: 9.46, 1024: 37.68},
    "sa": {128: 5.21, 256: 79.42, 512: "out of memory", 1024: "out of memory"},
}
MODES = ("fwd", "fwd+bwd")


@dataclass
class Row:
    norm: str
    resolution: int
    mode: str
    status: str  # "ok", "too slow (...)", "out of memory"
    median_ms: float | None = None
    runs: int = 0
    peak_mb: float | None = None


class PeakMemory:
    """Extra memory a block of code needs at its peak, on CPU or CUDA.

    CPU: the kernel's resident-set high-water mark (VmHWM), reset through
    /proc/self/clear_refs. glibc would serve tensors from memory it kept after
    earlier frees (more so with the MALLOC_* settings the Makefile exports), which
    hides them from the RSS, so inside the block every allocation above 128 KiB
    gets its own mmap, and the heap is trimmed first.
    """

    _M_MMAP_THRESHOLD = -3  # mallopt parameter number in glibc's malloc.h

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.mb: float | None = None
        self.libc = ctypes.CDLL("libc.so.6") if device.type == "cpu" else None

    @staticmethod
    def _rss_mb(field: str) -> float:
        status = Path("/proc/self/status").read_text()
        return int(re.search(rf"{field}:\s+(\d+)", status).group(1)) / 1024

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        elif Path("/proc/self/clear_refs").exists():
            self.libc.mallopt(self._M_MMAP_THRESHOLD, 1 << 17)
            self.libc.malloc_trim(0)
            Path("/proc/self/clear_refs").write_text("5")
            self.base = self._rss_mb("VmRSS")
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.mb = (torch.cuda.max_memory_allocated() - self.base) / 2**20
        elif hasattr(self, "base"):
            self.mb = self._rss_mb("VmHWM") - self.base
            # Back to the fast setting for the timed runs (mallopt takes a C int).
            fast = int(os.environ.get("MALLOC_MMAP_THRESHOLD_", 1 << 25))
            self.libc.mallopt(self._M_MMAP_THRESHOLD, min(fast, 2**31 - 1))


def make_step(name: str, res: int, mode: str, args, device: torch.device) -> Callable[[], None]:
    """One call of the module, as the paper times it (training mode: AN samples)."""
    options = {"n": args.n} if name in ("an", "an_official") else {}
    module = build_norm(name, args.channels, **options).to(device).train()
    with torch.no_grad():  # rho/gamma start at 0; make the backward reach every branch
        for p in ("rho", "gamma"):
            if isinstance(getattr(module, p, None), torch.nn.Parameter):
                getattr(module, p).fill_(0.5)
    x = torch.randn(1, args.channels, res, res, device=device, requires_grad=mode == "fwd+bwd")

    def step() -> None:
        if mode == "fwd":
            with torch.no_grad():
                module(x)
        else:
            module(x).sum().backward()
            x.grad = None
            module.zero_grad(set_to_none=True)

    return step


def run_config(name: str, res: int, mode: str, args, device: torch.device) -> Row:
    step = make_step(name, res, mode, args, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times: list[float] = []
    try:
        step()  # warm-up: one-time allocations (kernel caches, thread arenas) happen here
        sync()
        with PeakMemory(device) as peak:
            step()
            sync()
        budget = time.perf_counter() + args.budget_s
        while len(times) < args.repeats and (len(times) < 3 or time.perf_counter() < budget):
            start = time.perf_counter()
            step()
            sync()
            times.append((time.perf_counter() - start) * 1000)
    except torch.OutOfMemoryError:
        torch.cuda.empty_cache()
        return Row(name, res, mode, "out of memory")
    return Row(name, res, mode, "ok", statistics.median(times), len(times), peak.mb)


def predicted_ms(rows: list[Row], name: str, mode: str, res: int) -> float | None:
    """Self-attention costs (HW)^2: extrapolate from the largest size measured."""
    done = [r for r in rows if r.norm == name and r.mode == mode and r.status == "ok"]
    if name != "sa" or not done:
        return None
    last = max(done, key=lambda r: r.resolution)
    return last.median_ms * (res / last.resolution) ** 4


def markdown(rows: list[Row], resolutions: list[int]) -> str:
    head = "| module | pass | " + " | ".join(f"{r}^2 ms (peak MB)" for r in resolutions) + " |"
    lines = [head, "|" + "---|" * (len(resolutions) + 2)]
    for name in dict.fromkeys(r.norm for r in rows):
        for mode in MODES:
            cells = []
            for res in resolutions:
                row = next(r for r in rows if (r.norm, r.resolution, r.mode) == (name, res, mode))
                ok = row.status == "ok"
                peak = f" ({row.peak_mb:.0f})" if row.peak_mb is not None else ""
                cells.append(f"{row.median_ms:.2f}{peak}" if ok else row.status)
            lines.append(f"| {name} | {mode} | " + " | ".join(cells) + " |")
    for name, paper in PAPER_2080_MS.items():
        cells = [str(paper.get(r, "-")) for r in resolutions]
        lines.append(f"| {name} (paper, 2080 GPU) | fwd | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(rows: list[Row]) -> dict:
    """The issue's CPU targets: AN fwd+bwd at 256 within 10x of IN; AN at 1024 < 1.5 GB."""
    get = {(r.norm, r.resolution, r.mode): r for r in rows}
    out = {}
    an, inorm = get.get(("an", 256, "fwd+bwd")), get.get(("in", 256, "fwd+bwd"))
    if an and inorm and an.status == inorm.status == "ok":
        ratio = an.median_ms / inorm.median_ms
        out["an_vs_in_256_fwd_bwd_ratio"] = {"value": ratio, "target": 10, "met": ratio <= 10}
    big = get.get(("an", 1024, "fwd+bwd"))
    if big and big.peak_mb is not None:
        out["an_1024_fwd_bwd_peak_mb"] = {
            "value": big.peak_mb,
            "target": 1536,
            "met": big.peak_mb < 1536,
        }
    return out


def machine(device: torch.device) -> dict:
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(device),
    }
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        info["cpu"] = found.group(1) if found else platform.processor()
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--resolutions", type=int, nargs="+", default=[64, 128, 256, 512, 1024])
    p.add_argument("--norms", nargs="+", default=["an", "sa", "in", "bn"])
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--n", type=int, default=16, help="AN entities")
    p.add_argument("--repeats", type=int, default=20, help="timed runs per config (at most)")
    p.add_argument("--budget-s", type=float, default=5.0, help="time per config after 3 runs")
    p.add_argument("--limit-s", type=float, default=30.0, help="skip configs predicted slower")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--quick", action="store_true", help="64..256 px, 3 repeats (the demo)")
    p.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/norm_speed.json"))
    args = p.parse_args(argv)
    if args.quick:
        args.resolutions, args.repeats, args.budget_s = [64, 128, 256], 3, 1.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    rows: list[Row] = []
    for name in args.norms:
        for res in sorted(args.resolutions):
            for mode in MODES:
                guess = predicted_ms(rows, name, mode, res)
                if guess is not None and guess > args.limit_s * 1000:
                    rows.append(Row(name, res, mode, f"too slow (~{guess / 1000:.0f} s)"))
                    continue
                rows.append(run_config(name, res, mode, args, device))
                r = rows[-1]
                shown = f"{r.median_ms:.2f} ms" if r.status == "ok" else r.status
                print(f"{name:>3} {res:>5}^2 {mode:<8} {shown}", flush=True)
    table = markdown(rows, sorted(args.resolutions))
    met = targets(rows)
    print("\n" + table + "\n")
    for key, t in met.items():
        print(f"{key}: {t['value']:.2f} (target {t['target']}): {'met' if t['met'] else 'MISSED'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": machine(device),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "rows": [asdict(r) for r in rows],
        "targets": met,
        "markdown": table,
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 1 if args.check and not all(t["met"] for t in met.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
