"""One job per run directory: an exclusive lock on ``<run_dir>/.lock``.

Re-running a command resumes its run, so two copies started on one run directory
would both train and both write its checkpoints and logs. The first job to start
holds ``fcntl.flock`` on the hidden ``.lock`` file for as long as it runs; a second
one fails at once, told who holds it. The kernel drops the lock when its process
dies, however it dies, so a killed or preempted job never blocks the job SLURM
requeues in its place (on NFS a dead node's lock lingers until its lease expires:
the requeued job waits for it). The file is never deleted: a second job could
then lock a new file of the same name while the first still holds the old one.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from ..files import NO_LOCKS
from .run_dir import RunError

LOCK_NAME = ".lock"
NO_LOCK_ENV = "AN_LIGHTNING_NO_LOCK"
RECORD_WAIT_S = 1.0  # how long a loser waits for the winner of a simultaneous start to write
FIX = "wait for it to finish, stop it, or pass --run_dir to train in a new run directory"


class RunLocked(RunError):
    """Another job holds the run directory; the message names it and the fix, on one line."""


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise RunError(f"environment variable {name}={value!r} is not a rank") from None


def launcher_rank() -> int:
    """This process's global rank, from what its launcher put in the environment.

    All processes of one job (one per GPU, maybe on several nodes) are one holder of
    the run directory, so only rank 0 takes the lock: any other rank would find it
    held by its own job. This runs before any process group exists, so the rank
    comes from the environment:

    - ``RANK`` (torchrun, also when srun starts torchrun on each node): the global rank.
    - ``SLURM_PROCID`` without ``NODE_RANK`` (srun, one task per GPU): the global rank;
      a ``LOCAL_RANK`` exported by the job script is then the rank within the node.
    - Lightning's launcher re-runs the command line in children with ``LOCAL_RANK``
      and ``NODE_RANK`` set (children inherit a ``SLURM_PROCID`` of 0 in an interactive
      SLURM shell): ``NODE_RANK * per node + LOCAL_RANK``. On node 0 that is
      ``LOCAL_RANK``; elsewhere processes per node is ``WORLD_SIZE // SLURM_NNODES``
      when both are set, else unknown and taken as ``LOCAL_RANK + 1``, a lower bound:
      the result is then not the exact rank, but it is above 0, which is what counts.
    - 0 when none is set: a single process.
    """
    rank = _env_int("RANK")
    if rank is not None:
        return rank
    node = _env_int("NODE_RANK")
    if node is None:
        node = _env_int("GROUP_RANK")  # Lightning's fallback for NODE_RANK (torchelastic)
    procid = _env_int("SLURM_PROCID")
    if procid is not None and node is None:
        return procid
    local = _env_int("LOCAL_RANK") or 0
    if not node:
        return local
    world, nodes = _env_int("WORLD_SIZE"), _env_int("SLURM_NNODES")
    per_node = world // nodes if world and nodes else local + 1
    return node * per_node + local


def _holder_record() -> dict[str, Any]:
    """Who this process is, as written into the lock file for a job that finds it held."""
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID") or None,
        "slurm_array_task_id": os.environ.get("SLURM_ARRAY_TASK_ID") or None,
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def _same_job(holder: dict[str, Any] | None, own: dict[str, Any]) -> bool:
    """True when the holder is this SLURM job (and array task): its requeued predecessor."""
    return (
        holder is not None
        and own["slurm_job_id"] is not None
        and holder.get("slurm_job_id") == own["slurm_job_id"]
        and holder.get("slurm_array_task_id") == own["slurm_array_task_id"]
    )


def _pid_gone(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, owned by someone else
    return False


def _parse(raw: bytes) -> dict[str, Any] | None:
    """The holder record in ``raw``, or None if empty, torn, or left by a dead local process.

    The winner of a simultaneous start writes its record just after taking the lock, so
    until then a loser reads nothing, or the record of an earlier holder that was
    killed (the file is never deleted) — recognisable when it was on this host.
    """
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(record, dict) or not record.get("host") or "pid" not in record:
        return None
    if record["host"] == socket.gethostname() and _pid_gone(record["pid"]):
        return None
    return record


def _describe(holder: dict[str, Any] | None) -> str:
    """``pid 1234 on host nodeA (SLURM job 5678) since 2026-12-01 21:40:03``."""
    if holder is None:
        return "another process (it has not written its details into the lock file)"
    text = f"pid {holder['pid']} on host {holder['host']}"
    if holder.get("slurm_job_id"):
        task = holder.get("slurm_array_task_id")
        text += f" (SLURM job {holder['slurm_job_id']}" + (f", array task {task})" if task else ")")
    try:
        started = datetime.fromisoformat(str(holder["started"])).astimezone()
        text += f" since {started:%Y-%m-%d %H:%M:%S}"
    except (KeyError, ValueError):
        pass
    return text


class RunLock:
    """The exclusive lock of one run directory, held by rank 0 of a job for its whole life.

    ``RunLock(run_dir).acquire()`` (or ``with RunLock(run_dir):``) raises ``RunLocked``
    when another job holds it. Other ranks get a handle that holds nothing. The lock
    lives on a raw descriptor that nothing closes but ``release()`` or the process's
    end, so it stays held even when the handle is dropped. Exec'd children (Lightning's
    launcher) do not inherit it; forked ones (data-loader workers) share it until they
    exit.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        *,
        requeue_wait_s: float = 180.0,
        poll_s: float = 1.0,
        rank: int | None = None,
    ) -> None:
        """``requeue_wait_s``: how long a requeued SLURM job waits for its predecessor's
        lock (a dead NFS client's lock lasts until its lease, about 90 s, expires);
        ``rank``: this process's global rank, by default ``launcher_rank()``."""
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self.requeue_wait_s = requeue_wait_s
        self.poll_s = poll_s
        self.rank = launcher_rank() if rank is None else rank
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this process holds the lock (never for ranks other than 0)."""
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Take the lock (rank 0 only), creating the run directory; ``RunLocked`` if held."""
        if self.rank != 0 or self.held:
            return self
        if os.environ.get(NO_LOCK_ENV, "") not in ("", "0"):
            print(
                f"warning: {NO_LOCK_ENV} is set: {self.run_dir} is not locked, so a second "
                "job on it would train in it too",
                file=sys.stderr,
                flush=True,
            )
            return self
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise RunError(
                f"cannot create the lock file {self.path}: {err.strerror}; "
                "fix that path or pass --run_dir to train elsewhere"
            ) from None
        try:
            self._lock(fd)
            own = _holder_record()
            data = json.dumps(own).encode() + b"\n"
            os.ftruncate(fd, 0)
            written = 0
            while written < len(data):
                written += os.pwrite(fd, data[written:], written)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def _lock(self, fd: int) -> None:
        """flock ``fd``; on contention wait only for this SLURM job's own predecessor."""
        own = _holder_record()
        deadline = time.monotonic() + self.requeue_wait_s
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            except OSError as err:
                if err.errno not in NO_LOCKS:
                    raise
                raise RunError(
                    f"the filesystem of {self.run_dir} does not support file locks "
                    f"(flock: {err.strerror}), so nothing stops a second job from training "
                    "in it: pass --run_dir on another filesystem (Lustre: mount with -o flock) "
                    f"or set {NO_LOCK_ENV}=1 to run without the lock at your own risk"
                ) from None
            holder = self._read_holder(fd)
            if not _same_job(holder, own):
                raise RunLocked(f"{self.run_dir} is in use by {_describe(holder)}: {FIX}")
            if time.monotonic() >= deadline:
                raise RunLocked(
                    f"{self.run_dir} is still in use by {_describe(holder)}, this SLURM job's "
                    f"previous run, after waiting {self.requeue_wait_s:g} s for it: {FIX}"
                )
            if not announced:
                print(
                    f"{self.run_dir} is locked by {_describe(holder)}, this SLURM job's "
                    f"previous run: waiting up to {self.requeue_wait_s:g} s for it to be released",
                    file=sys.stderr,
                    flush=True,
                )
                announced = True
            time.sleep(min(self.poll_s, max(0.0, deadline - time.monotonic())))

    def _read_holder(self, fd: int) -> dict[str, Any] | None:
        """The holder's record, waiting up to ``RECORD_WAIT_S`` for it to be written."""
        deadline = time.monotonic() + RECORD_WAIT_S
        while True:
            record = _parse(os.pread(fd, 65536, 0))
            if record is not None or time.monotonic() >= deadline:
                return record
            time.sleep(0.02)

    def release(self) -> None:
        """Drop the lock (its file stays: see the module docstring). Safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # no record of a holder that is gone
            fcntl.flock(fd, fcntl.LOCK_UN)  # also for forked children sharing the descriptor
        finally:
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def lock_run_dir(run_dir: str | os.PathLike[str], *, requeue_wait_s: float = 180.0) -> RunLock:
    """Lock ``run_dir`` for the rest of this process (rank 0 only), or raise ``RunLocked``."""
    return RunLock(run_dir, requeue_wait_s=requeue_wait_s).acquire()
