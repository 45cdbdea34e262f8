"""A real SLURM cluster on localhost runs the CPU demo grid as an array, with preemptions.

Task 0 is killed and requeued by ``scontrol requeue`` (SIGTERM, no warning): it must
resume from its periodic checkpoint. Task 1 gets SIGUSR1 (what ``--signal=SIGUSR1@90``
sends before the time limit): it must save ``hpc_ckpt_1.ckpt`` at the end of a generator
iteration into task 1's own run directory and requeue it, and the requeued task must
resume from that file and keep saving periodic checkpoints. Every
task must end at the same generator iteration as an uninterrupted run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from slurm_cluster import Cluster, missing_binaries

ROOT = Path(__file__).resolve().parents[1]
STEPS, EVERY = 60, 10
OVERRIDES = [
    f"--model.init_args.max_g_steps={STEPS}",
    f"--checkpoint_every={EVERY}",
    "--model.init_args.sample_every=0",
    "--model.init_args.ema_start=5",
    "--data.init_args.batch_size=16",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.callbacks=null",  # the demo's FID and layout callbacks: minutes of Inception
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(missing_binaries()),
        reason=f"SLURM binaries missing ({', '.join(missing_binaries())}): "
        "apt-get install slurm-wlm (.ci/run does this)",
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="the test cluster's daemons run as root"),
]


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path / "slurm")
    try:
        c.start()
        yield c
    finally:
        c.stop()


def g_iter(ckpt: Path) -> int:
    return torch.load(ckpt, map_location="cpu", weights_only=False)["g_iter"]


def wait_for(what: str, check, timeout: float, cluster: Cluster):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    queue = cluster.run("squeue", "-a", check=False).stdout
    raise AssertionError(f"timed out waiting for {what}\n{queue}\n{cluster.logs()}")


def periodic(run: Path) -> list[int]:
    """G iterations of the periodic checkpoints in ``run`` (not last.ckpt)."""
    return sorted(int(p.stem.split("=")[1]) for p in run.glob("checkpoints/g_iter=*.ckpt"))


def task_state(cluster: Cluster, job: str, task: int) -> str:
    out = cluster.run("squeue", "-h", "-j", f"{job}_{task}", "-o", "%T", check=False).stdout
    return out.strip()


def test_array_tasks_survive_requeue_and_sigusr1(tmp_path, cluster):
    runs = tmp_path / "runs"
    env = {
        **cluster.env,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "MALLOC_MMAP_THRESHOLD_": "68719476736",
        "MALLOC_TRIM_THRESHOLD_": "68719476736",
        "OMP_NUM_THREADS": "1",  # one CPU per task on the test node
    }
    start = time.monotonic()
    cmd = [sys.executable, "-m", "an_lightning.sweep", "sweeps/demo_cpu.yaml", "--slurm"]
    cmd += ["--max-parallel", "2", "--runs-root", str(runs), "--", *OVERRIDES]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    job = re.search(r"Submitted batch job (\d+)", done.stdout).group(1)
    run = [runs / f"demo_cpu-{i}" for i in range(4)]

    # Task 0: killed and requeued without warning once it has a periodic checkpoint.
    wait_for("task 0's first checkpoint", lambda: periodic(run[0]), 600, cluster)
    assert task_state(cluster, job, 0) == "RUNNING"
    cluster.run("scontrol", "requeue", f"{job}_0")
    requeued_at = time.monotonic() - start

    # SLURM refuses to signal an array task while a sibling is being requeued.
    wait_for(
        "task 0 back in the queue", lambda: task_state(cluster, job, 0) == "PENDING", 120, cluster
    )

    # Task 1: SIGUSR1, as before a time limit; Lightning checkpoints and requeues.
    wait_for("task 1's first checkpoint", lambda: periodic(run[1]), 600, cluster)
    assert task_state(cluster, job, 1) == "RUNNING" and periodic(run[1])[-1] < STEPS
    cluster.run("scancel", "--signal=USR1", f"{job}_1")
    hpc = run[1] / "hpc_ckpt_1.ckpt"
    wait_for("task 1's SIGUSR1 checkpoint", hpc.is_file, 120, cluster)
    # Complete once visible (checkpoints are renamed into place), and taken at the end of
    # a generator iteration: n_dis 1 + 1 G step per iteration.
    hpc_state = torch.load(hpc, map_location="cpu", weights_only=False)
    hpc_iter = hpc_state["g_iter"]
    assert hpc_state["global_step"] == 2 * hpc_iter, (hpc_state["global_step"], hpc_iter)

    wait_for(
        "the array to finish",
        lambda: not cluster.run("squeue", "-h", "-j", job, check=False).stdout.strip(),
        900,
        cluster,
    )
    elapsed = time.monotonic() - start
    logs = {i: (runs / "slurm" / f"demo_cpu-{job}_{i}.out").read_text() for i in range(4)}
    for i in range(4):
        last = run[i] / "checkpoints/last.ckpt"
        assert last.is_file(), logs[i][-3000:]
        assert g_iter(last) == STEPS, logs[i][-3000:]
        assert periodic(run[i]) == [STEPS], (i, periodic(run[i]))  # the cadence survived
    # Each preempted task resumed (second config, a resume line past 0), the others did not.
    resumed = {
        i: re.findall(r"resuming from (\S+) at generator iteration (\d+)", logs[i])
        for i in range(4)
    }
    assert [bool(resumed[i]) for i in range(4)] == [True, True, False, False], resumed
    assert all(int(it) >= EVERY for found in resumed.values() for _, it in found), resumed
    assert (run[0] / "config.resume-1.yaml").is_file()
    assert (run[1] / "config.resume-1.yaml").is_file()
    assert "restart 1" in logs[0] and "restart 1" in logs[1]
    # The SIGUSR1 checkpoint went to task 1's own run directory and was the one resumed,
    # unless the task saved a later one before SLURM stopped it (seen once: SIGUSR1 at
    # g_iter 19, last.ckpt at 20 a moment later): the newest checkpoint wins.
    path, it = resumed[1][0]
    assert path == str(hpc) or int(it) >= hpc_iter, (resumed[1], hpc_iter)
    assert not hpc.exists()  # rotated away once a later periodic checkpoint was saved
    assert not [p for i in (0, 2, 3) for p in run[i].glob("hpc_ckpt_*")]
    assert not list(ROOT.glob("hpc_ckpt_*"))
    print(f"array of 4 with 2 preemptions: {elapsed:.0f} s (requeue at {requeued_at:.0f} s)")
