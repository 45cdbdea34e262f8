"""The GPU kit: every GPU measurement of the project in one run, within a time budget.

Runs the benchmarks as separate processes, most important first, each under its own
timeout (and the run's budget), so a slow or failing step costs only its own result.
After every step the combined JSON (``gpu_kit.json``) and the markdown summary
(``gpu_kit.md``) are rewritten, and each step's output goes to ``logs/<step>.log``.
Started by ``benchmarks/gpu.sh`` (which installs the missing wheels and checks CUDA);
``--cpu-smoke`` runs every step with tiny sizes on the CPU to prove the plumbing.

    python -m benchmarks.gpu_kit --out DIR [--cpu-smoke] [--budget-s 330]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from benchmarks import gpu_report

MIN_STEP_S = 15  # a step with less of the budget left is skipped, not started
TRAIN_SPEED = Path(__file__).with_name("train_speed.py")


@dataclass
class Step:
    name: str
    title: str
    argv: list[str]  # after ``python``; ``{out}`` is the step's JSON file
    timeout_s: float
    skip: str | None = None  # why it is not run
    env: dict[str, str] = field(default_factory=dict)  # added to the environment


def has_compile_flag() -> bool:
    """``train_speed --compile`` is being added by another change; until then, skip."""
    return re.search(r"add_argument\(\s*['\"]--compile['\"]", TRAIN_SPEED.read_text()) is not None


def steps(smoke: bool, smoke_compile: bool = False) -> list[Step]:
    """The paper's sizes on CUDA, or tiny ones on the CPU (``smoke``)."""
    device = "cpu" if smoke else "cuda"
    train = ["-m", "benchmarks.train_speed", "--device", device, "--out", "{out}"]
    if smoke:
        train += ["--resolutions", "32", "--ch", "4", "--batch", "4", "--num-classes", "10"]
        train += ["--iters", "3", "--warmup", "1", "--rounds", "1"]
    else:  # the paper's 128 px network; compile warms up in the first iterations
        train += ["--resolutions", "128", "--ch", "64", "--batch", "64", "--num-classes", "1000"]
        train += ["--iters", "14", "--warmup", "4", "--rounds", "1"]
    bf16, fp32 = ["--precision", "bf16-mixed"], ["--precision", "32-true"]
    no_compile = None if has_compile_flag() else "train_speed has no --compile flag yet"
    norm = ["-m", "benchmarks.norm_speed", "--device", device, "--out", "{out}"]
    norm += ["--resolutions", "32", "64", "--repeats", "3", "--budget-s", "0.1"] if smoke else []
    norm += [] if smoke else ["--budget-s", "1"]  # 64..1024 px, AN / SA / IN / BN
    fit = ["-m", "benchmarks.gpu_fit", "--out", "{out}", "--keep-metrics", "{dir}/fit_metrics.csv"]
    fit += ["--smoke"] if smoke else []
    data = ["-m", "benchmarks.data_speed", "--device", device, "--out", "{out}", *bf16]
    if smoke:
        data += ["--images", "128", "--batch-size", "32", "--epochs", "1", "--repeats", "1"]
        data += ["--workers", "1", "--ch", "4", "--train-batch", "2", "--train-iters", "2"]
        data += ["--train-warmup", "1"]
    else:
        data += ["--images", "2048", "--epochs", "1", "--repeats", "2", "--workers", "1", "4"]
        data += ["--train-batch", "64"]
    scale = 4 if smoke else 1  # the CPU is slower at the tiny sizes than the GPU at full
    # Inductor takes ~5 min per tiny model on a 2-core CPU: the smoke checks the flag and
    # the outputs with compilation off, unless asked to compile (``--smoke-compile``).
    compile_env = {"TORCH_COMPILE_DISABLE": "1"} if smoke and not smoke_compile else {}
    three, compiled = ["--norms", "an", "bn", "sa"], [*bf16, "--compile"]
    return [
        Step(
            "train_bf16",
            "train_speed bf16-mixed, AN / bn / SA",
            [*train, *bf16, *three],
            90 * scale,
        ),
        Step(
            "train_fp32",
            "train_speed fp32 (32-true), AN / bn / SA",
            [*train, *fp32, *three],
            90 * scale,
        ),
        Step("norm_speed", "norm_speed, the paper's module table", norm, 60 * scale),
        Step("fit", "an_lightning.fit, imagenet.yaml model, bf16", fit, 120 * scale),
        Step(
            "train_compile_an",
            "train_speed bf16-mixed + compile, AN",
            [*train, *compiled, "--norms", "an"],
            180 * scale,
            no_compile,
            compile_env,
        ),
        Step("data_speed", "data_speed, loaders vs one iteration", data, 75 * scale),
        Step(
            "train_compile_bn_sa",
            "train_speed bf16-mixed + compile, bn / SA",
            [*train, *compiled, "--norms", "bn", "sa"],
            240 * scale,
            no_compile,
            compile_env,
        ),
    ]


def machine() -> dict:
    cuda = torch.cuda.is_available()
    return {
        "gpu": torch.cuda.get_device_name() if cuda else None,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def run_step(step: Step, out: Path, timeout: float) -> dict:
    """Run one step in its own process group (killed whole on timeout); its JSON, if any."""
    result_file, log = out / f"{step.name}.json", out / "logs" / f"{step.name}.log"
    argv = [a.format(out=result_file, dir=out) for a in step.argv]
    record = {
        "title": step.title,
        "env": step.env,
        "command": " ".join(["python", *argv]),
        "log": str(log.relative_to(out)),
    }
    result_file.unlink(missing_ok=True)
    start = time.perf_counter()
    with log.open("w") as f:
        proc = subprocess.Popen(
            [sys.executable, *argv],
            stdout=f,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **step.env},
        )
        try:
            rc = proc.wait(timeout=timeout)
            status = "ok" if rc == 0 else f"failed (exit {rc})"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            status = f"timed out after {timeout:.0f} s"
    record["seconds"] = time.perf_counter() - start
    record["status"] = status
    try:
        record["result"] = json.loads(result_file.read_text()) if result_file.is_file() else None
    except ValueError as err:  # cut off mid-write: the step's result is lost, not the run
        record["result"], record["status"] = None, f"{status}; unreadable JSON ({err})"
    return record


def write(results: dict, out: Path, started: float) -> None:
    """Rewrite both summaries; a report that cannot be made never loses the JSON."""
    results["elapsed_s"] = time.perf_counter() - started
    try:
        results["targets"] = gpu_report.targets(results)
        text = gpu_report.markdown(results)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as err:
        failed = f"the summary failed ({type(err).__name__}: {err}); see gpu_kit.json"
        text = f"# GPU kit results\n\n{failed}\n"
    (out / "gpu_kit.json").write_text(json.dumps(results, indent=1))
    (out / "gpu_kit.md").write_text(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for JSON, markdown, logs")
    p.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on the CPU")
    p.add_argument("--budget-s", type=float, default=None, help="default: 330 (GPU), 900 (smoke)")
    p.add_argument(
        "--smoke-compile", action="store_true", help="compile in the smoke too (minutes on a CPU)"
    )
    p.add_argument("--only", nargs="+", help="run only these steps (the others: skipped)")
    args = p.parse_args(argv)
    budget = args.budget_s or (900.0 if args.cpu_smoke else 330.0)
    plan = steps(args.cpu_smoke, args.smoke_compile)
    unknown = set(args.only or []) - {s.name for s in plan}
    if unknown:
        p.error(f"unknown --only step(s) {sorted(unknown)}; steps: {[s.name for s in plan]}")
    (args.out / "logs").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = {
        "kit": "benchmarks/gpu.sh",
        "mode": "cpu-smoke" if args.cpu_smoke else "gpu",
        "machine": machine(),
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "budget_s": budget,
        "steps": {
            s.name: {"title": s.title, "status": "not run yet", "log": f"logs/{s.name}.log"}
            for s in plan
        },
    }
    write(results, args.out, started)
    for step in plan:
        left = budget - (time.perf_counter() - started)
        if args.only and step.name not in args.only:
            step.skip = "not in --only"
        elif step.skip is None and left < MIN_STEP_S:
            step.skip = f"budget spent ({left:.0f} s left)"
        if step.skip:
            results["steps"][step.name] |= {
                "status": f"skipped: {step.skip}",
                "seconds": None,
                "result": None,
            }
        else:
            print(f"[{time.perf_counter() - started:5.0f} s] {step.name}: {step.title}", flush=True)
            results["steps"][step.name] = run_step(step, args.out, min(step.timeout_s, left))
        print(f"        {step.name}: {results['steps'][step.name]['status']}", flush=True)
        write(results, args.out, started)
    print("\n" + (args.out / "gpu_kit.md").read_text())
    print(f"wrote {args.out / 'gpu_kit.json'} and {args.out / 'gpu_kit.md'}")
    broken = [n for n, s in results["steps"].items() if s["status"].startswith(("failed", "timed"))]
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
