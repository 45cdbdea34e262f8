"""SIGUSR1 under SLURM: the checkpoint is taken at the end of a generator iteration."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from fit_fixtures import tiny_config, write

from an_lightning.cli.requeue import next_hpc_path, slurm_job

TESTS = Path(__file__).resolve().parent
# What srun sets for one task: enough for Lightning's SLURMEnvironment.detect().
SLURM_TASK = {
    "SLURM_NTASKS": "1",
    "SLURM_PROCID": "0",
    "SLURM_LOCALID": "0",
    "SLURM_NODEID": "0",
    "SLURM_NNODES": "1",
    "SLURM_JOB_NAME": "requeue-test",
    "SLURM_NODELIST": "localhost",
}


def test_hpc_names_and_job_ids(tmp_path, monkeypatch):
    assert next_hpc_path(tmp_path) == tmp_path / "hpc_ckpt_1.ckpt"
    (tmp_path / "hpc_ckpt_1.ckpt").touch()
    (tmp_path / "hpc_ckpt_7.ckpt").touch()
    assert next_hpc_path(tmp_path) == tmp_path / "hpc_ckpt_8.ckpt"
    for name in ("SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_ID"):
        monkeypatch.delenv(name, raising=False)
    assert slurm_job() is None
    monkeypatch.setenv("SLURM_JOB_ID", "41")
    assert slurm_job() == "41"
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "40")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert slurm_job() == "40_3"


@pytest.mark.slow
def test_sigusr1_checkpoint_is_whole_iterations_and_resumes_bit_exact(tmp_path):
    """SIGUSR1 mid-run: hpc_ckpt_1.ckpt holds whole iterations (global_step = 3 x g_iter
    at n_dis 2); killed right after, the run resumes from it and ends bit-identical to an
    uninterrupted one."""
    base = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    for name in [k for k in base if k.startswith("SLURM_")]:
        del base[name]

    def config(name: str) -> Path:
        c = tiny_config(tmp_path / name, max_g_steps=30)
        c["checkpoint_every"] = 1000  # only the SIGUSR1 checkpoint to resume from
        c["trainer"]["log_every_n_steps"] = 2
        return write(tmp_path / f"{name}.yaml", c)

    def fit(path: Path, env: dict) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "an_lightning.fit", str(path)]
        return subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)

    whole = fit(config("whole"), base)
    assert whole.wait(600) == 0, whole.stderr.read()[-2000:]

    run = tmp_path / "signalled"
    proc = fit(config("signalled"), {**base, **SLURM_TASK})
    deadline = time.monotonic() + 120
    while not (run / "metrics.csv").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGUSR1)
    hpc = run / "hpc_ckpt_1.ckpt"
    while not hpc.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    saved = torch.load(hpc, map_location="cpu", weights_only=False)
    assert 0 < saved["g_iter"] < 30 and saved["global_step"] == 3 * saved["g_iter"]

    resumed = subprocess.run(
        [sys.executable, "-m", "an_lightning.fit", str(config("signalled"))],
        env=base,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming from {hpc} at generator iteration {saved['g_iter']}" in resumed.stdout
    a = torch.load(tmp_path / "whole/checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    b = torch.load(run / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert a["g_iter"] == b["g_iter"] == 30
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
