"""A throwaway single-node SLURM cluster on localhost (environment.md, "SLURM").

slurmctld and slurmd run as root with ``auth/none`` and all state, spool, pid and
log files in one temporary folder; ``stop()`` ends both daemons by their pids
(and any job step left behind), so nothing outlives the test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

BINARIES = ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None]


class Cluster:
    def __init__(self, folder: Path, cpus: int = 2) -> None:
        self.folder, self.host = folder, socket.gethostname()
        self.conf = folder / "slurm.conf"
        for sub in ("state", "spool"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=antest",
                    f"SlurmctldHost={self.host}(127.0.0.1)",
                    "AuthType=auth/none",
                    "CredType=cred/none",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core",
                    "MpiDefault=none",
                    "ReturnToService=2",
                    "JobAcctGatherType=jobacct_gather/none",
                    "AccountingStorageType=accounting_storage/none",
                    "SchedulerParameters=sched_interval=1",
                    "KillWait=10",
                    "MinJobAge=300",
                    f"StateSaveLocation={folder / 'state'}",
                    f"SlurmdSpoolDir={folder / 'spool'}",
                    f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
                    f"SlurmdPidFile={folder / 'slurmd.pid'}",
                    f"SlurmctldLogFile={folder / 'slurmctld.log'}",
                    f"SlurmdLogFile={folder / 'slurmd.log'}",
                    f"SlurmctldPort={free_port()}",
                    f"SlurmdPort={free_port()}",
                    f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=16000",
                    f"PartitionName=test Nodes={self.host} Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.daemons: list[subprocess.Popen] = []

    def start(self, timeout: float = 60) -> None:
        for daemon in ("slurmctld", "slurmd"):
            log = open(self.folder / f"{daemon}.stdout", "w")  # noqa: SIM115 (lives with the daemon)
            self.daemons.append(
                subprocess.Popen(
                    [daemon, "-D", "-f", str(self.conf)],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run("sinfo", "-h", "-o", "%t", check=False).stdout.strip()
            if state in ("idle", "mix", "alloc"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"slurm node not idle after {timeout} s: {self.logs()}")

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, check=check)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.folder.glob("*.log"))
        )

    def stop(self) -> None:
        """Cancel jobs, end both daemons by pid, then anything still in their sessions."""
        self.run("scancel", "--user=root", check=False)
        for proc in reversed(self.daemons):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        # slurmstepd (and the job processes under it) start their own sessions: find
        # them by the parent chain from our daemons' pids and end them.
        for pid in descendants_of({p.pid for p in self.daemons} | stepd_pids(self.folder)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def stepd_pids(folder: Path) -> set[int]:
    """slurmstepd processes reading our config (their parent slurmd may be gone)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if "slurmstepd" in cmdline and str(folder).encode() in environ:
            found.add(int(proc.name))
    return found


def descendants_of(roots: set[int]) -> list[int]:
    """Every process whose parent chain reaches one of ``roots`` (roots included)."""
    parent: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                parent[int(proc.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    out = []
    for pid in parent:
        p = pid
        while p > 1:
            if p in roots:
                out.append(pid)
                break
            p = parent.get(p, 0)
    return out
