"""The run-directory lock, between real processes: forked children (quick: torch is
already imported) and, where it matters that nothing is shared, fresh interpreters."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import json
import multiprocessing
import os
import select
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from an_lightning.cli import lock as lock_module
from an_lightning.cli.errors import HINT
from an_lightning.cli.lock import FIX, RunLock, RunLocked, launcher_rank, lock_run_dir
from an_lightning.cli.run_dir import RunError

CTX = multiprocessing.get_context("fork")
HOST = socket.gethostname()
REPO = Path(__file__).resolve().parents[1]
ENV_VARS = (
    "RANK",
    "LOCAL_RANK",
    "NODE_RANK",
    "GROUP_RANK",
    "WORLD_SIZE",
    "SLURM_PROCID",
    "SLURM_NNODES",
    "SLURM_JOB_ID",
    "SLURM_ARRAY_TASK_ID",
    "AN_LIGHTNING_NO_LOCK",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No launcher or SLURM variables of whoever runs the tests (forked children inherit)."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def _child(run_dir, env, go, kwargs, drop, conn):
    os.environ.update(env)
    if go is not None:
        conn.send(("ready", os.getpid()))
        go.wait(10)
    start = time.monotonic()
    try:
        lock = RunLock(run_dir, **kwargs).acquire() if not drop else lock_run_dir(run_dir)
    except RunLocked as err:
        conn.send(("locked", str(err), time.monotonic() - start))
        return
    except BaseException as err:
        conn.send(("error", f"{type(err).__name__}: {err}", time.monotonic() - start))
        return
    held = lock.held
    if drop:
        del lock
        gc.collect()
    conn.send(("acquired" if held else "not held", os.getpid(), time.monotonic() - start))
    conn.poll(30)  # hold until told, or killed
    if not drop:
        lock.release()


class Child:
    """A forked process that tries to lock ``run_dir`` and reports how that went."""

    def __init__(self, run_dir, env=None, go=None, drop=False, **kwargs):
        self.conn, theirs = CTX.Pipe()
        self.proc = CTX.Process(
            target=_child, args=(str(run_dir), env or {}, go, kwargs, drop, theirs), daemon=True
        )
        self.proc.start()
        self.pid = self.proc.pid

    def result(self, timeout: float = 10.0) -> tuple:
        assert self.conn.poll(timeout), "the child reported nothing"
        return self.conn.recv()

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.proc.join(5)
        assert self.proc.exitcode == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc.is_alive():
            with contextlib.suppress(BrokenPipeError):  # it exited since the check
                self.conn.send("release")
            self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)


@pytest.fixture
def children():
    started: list[Child] = []

    def start(*args, **kwargs) -> Child:
        started.append(Child(*args, **kwargs))
        return started[-1]

    yield start
    for child in started:
        child.stop()


def _acquired(child: Child) -> Child:
    kind, pid, _ = child.result()
    assert (kind, pid) == ("acquired", child.pid)
    return child


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / ".lock").read_text())


def _since(record: dict) -> str:
    return f"{datetime.fromisoformat(record['started']).astimezone():%Y-%m-%d %H:%M:%S}"


def _dead_pid() -> int:
    proc = CTX.Process(target=int)
    proc.start()
    proc.join()
    return proc.pid


HOLDER = """
import sys, time
from an_lightning.cli.lock import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(60)
"""

CONTENDER = """
import sys
from an_lightning.cli.errors import command_errors
from an_lightning.cli.lock import RunLock
with command_errors():
    RunLock(sys.argv[1], requeue_wait_s=60).acquire()
"""


def _interpreter(code: str, run_dir: Path, env: dict, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return subprocess.Popen(
        [sys.executable, "-c", code, str(run_dir)], env=env, text=True, cwd=REPO, **kwargs
    )


def test_second_process_fails_at_once_naming_the_holder(tmp_path):
    run_dir = tmp_path / "runs" / "demo"
    slurm = {"SLURM_JOB_ID": "5678", "SLURM_ARRAY_TASK_ID": "3"}
    holder = _interpreter(HOLDER, run_dir, slurm, stdout=subprocess.PIPE)
    try:
        assert select.select([holder.stdout], [], [], 60)[0], "the holder did not start"
        assert holder.stdout.readline() == "locked\n"
        record = _record(run_dir)
        assert {k: v for k, v in record.items() if k != "started"} == {
            "host": HOST,
            "pid": holder.pid,
            "slurm_job_id": "5678",
            "slurm_array_task_id": "3",
        }
        expected = (
            f"{run_dir} is in use by pid {holder.pid} on host {HOST} "
            f"(SLURM job 5678, array task 3) since {_since(record)}: {FIX}"
        )
        # Another SLURM job (a long requeue_wait_s must not apply) through the command-line
        # error path: one line, exit status 2, at once.
        start = time.monotonic()
        contender = _interpreter(
            CONTENDER, run_dir, {"SLURM_JOB_ID": "9999"}, stderr=subprocess.PIPE
        )
        _, stderr = contender.communicate(timeout=60)
        assert contender.returncode == 2
        assert stderr == f"error: {expected} {HINT}\n"
        assert time.monotonic() - start < 30  # an interpreter start, not requeue_wait_s=60
        assert holder.poll() is None
    finally:
        holder.kill()
        holder.wait()


def test_second_process_fails_at_once_forked(tmp_path, children):
    holder = _acquired(children(tmp_path, {"SLURM_JOB_ID": "5678"}))
    kind, message, elapsed = children(tmp_path, requeue_wait_s=20).result()
    assert kind == "locked"
    since = _since(_record(tmp_path))
    assert message == (
        f"{tmp_path} is in use by pid {holder.pid} on host {HOST} (SLURM job 5678) "
        f"since {since}: {FIX}"
    )
    assert elapsed < 0.5


def test_simultaneous_start_exactly_one_wins(tmp_path, children):
    """Rounds on one directory; killed winners leave stale records for the next round."""
    for round_ in range(4):
        go = CTX.Event()
        pair = [children(tmp_path, go=go), children(tmp_path, go=go)]
        for child in pair:
            assert child.result() == ("ready", child.pid)
        go.set()
        results = {child.pid: child.result() for child in pair}
        kinds = sorted(kind for kind, *_ in results.values())
        assert kinds == ["acquired", "locked"], results
        winner = next(c for c in pair if results[c.pid][0] == "acquired")
        loser = next(c for c in pair if c is not winner)
        record = _record(tmp_path)
        assert record["pid"] == winner.pid
        assert results[loser.pid][1] == (
            f"{tmp_path} is in use by pid {winner.pid} on host {HOST} since {_since(record)}: {FIX}"
        )
        if round_ % 2 == 0:
            winner.kill()  # leaves its record: stale, of a dead process
        else:
            winner.stop()  # release(): an empty lock file
        loser.stop()


def test_loser_waits_for_the_winners_record_not_a_stale_one(tmp_path, children):
    """A stale record of a dead local holder is not reported while the winner writes."""
    (tmp_path / ".lock").write_text(
        json.dumps({"host": HOST, "pid": _dead_pid(), "started": "2026-01-01T00:00:00+00:00"})
    )
    fd = os.open(tmp_path / ".lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the winner, before it writes
        loser = children(tmp_path)
        time.sleep(0.3)
        assert not loser.conn.poll(0)  # still waiting for a record
        winner = lock_module._holder_record()
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(winner).encode(), 0)
        kind, message, elapsed = loser.result()
        assert kind == "locked"
        assert message == (
            f"{tmp_path} is in use by pid {os.getpid()} on host {HOST} "
            f"since {_since(winner)}: {FIX}"
        )
        assert 0.2 <= elapsed < 1.0  # its clock starts just after the fork
    finally:
        os.close(fd)


def test_loser_gives_up_on_a_record_that_never_comes(tmp_path, children):
    fd = os.open(tmp_path / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        kind, message, elapsed = children(tmp_path).result()
        assert kind == "locked"
        assert message == (
            f"{tmp_path} is in use by another process (it has not written its details "
            f"into the lock file): {FIX}"
        )
        assert 1.0 <= elapsed < 2.0
    finally:
        os.close(fd)


def test_kill_9_of_the_holder_frees_the_directory_at_once(tmp_path, children):
    holder = _acquired(children(tmp_path))
    assert children(tmp_path).result()[0] == "locked"
    holder.kill()
    successor = children(tmp_path)
    kind, pid, elapsed = successor.result()
    assert (kind, pid) == ("acquired", successor.pid)
    assert elapsed < 0.5
    assert _record(tmp_path)["pid"] == successor.pid


def test_requeued_job_waits_for_its_predecessor(tmp_path, children, capfd):
    slurm = {"SLURM_JOB_ID": "4242", "SLURM_ARRAY_TASK_ID": "7"}
    predecessor = _acquired(children(tmp_path, slurm))
    successor = children(tmp_path, slurm, requeue_wait_s=20, poll_s=0.05)
    time.sleep(0.5)
    assert not successor.conn.poll(0)  # waiting, not failed
    predecessor.kill()
    killed = time.monotonic()
    kind, pid, elapsed = successor.result()
    assert (kind, pid) == ("acquired", successor.pid)
    assert time.monotonic() - killed < 1.0  # polled every 0.05 s, not requeue_wait_s=20
    assert elapsed >= 0.4  # its clock starts just after the fork
    assert _record(tmp_path)["pid"] == successor.pid
    err = capfd.readouterr().err
    assert err.count("this SLURM job's previous run: waiting up to 20 s") == 1
    assert f"locked by pid {predecessor.pid} on host {HOST} (SLURM job 4242, array task 7)" in err


def test_requeued_job_gives_up_after_requeue_wait_s(tmp_path, children):
    predecessor = _acquired(children(tmp_path, {"SLURM_JOB_ID": "4242"}))
    kind, message, elapsed = children(
        tmp_path, {"SLURM_JOB_ID": "4242"}, requeue_wait_s=0.4, poll_s=0.05
    ).result()
    assert kind == "locked"
    assert message == (
        f"{tmp_path} is still in use by pid {predecessor.pid} on host {HOST} (SLURM job 4242) "
        f"since {_since(_record(tmp_path))}, this SLURM job's previous run, after waiting "
        f"0.4 s for it: {FIX}"
    )
    assert 0.4 <= elapsed < 1.5


@pytest.mark.parametrize(
    ("holder", "contender"),
    [
        ({"SLURM_JOB_ID": "4242", "SLURM_ARRAY_TASK_ID": "1"}, {"SLURM_JOB_ID": "4242"}),
        (
            {"SLURM_JOB_ID": "4242", "SLURM_ARRAY_TASK_ID": "1"},
            {"SLURM_JOB_ID": "4242", "SLURM_ARRAY_TASK_ID": "2"},
        ),
        ({"SLURM_JOB_ID": "4242"}, {}),
        ({}, {}),
    ],
)
def test_other_jobs_do_not_wait(tmp_path, children, holder, contender):
    _acquired(children(tmp_path, holder))
    kind, _, elapsed = children(tmp_path, contender, requeue_wait_s=20).result()
    assert kind == "locked"
    assert elapsed < 0.5


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LOCAL_RANK": "1", "NODE_RANK": "0", "WORLD_SIZE": "2"}, "not held"),
        ({"SLURM_PROCID": "1", "LOCAL_RANK": "1", "SLURM_JOB_ID": "1"}, "not held"),
        ({"RANK": "3", "LOCAL_RANK": "3"}, "not held"),
        ({"NODE_RANK": "1"}, "not held"),
        ({"LOCAL_RANK": "0", "NODE_RANK": "0", "WORLD_SIZE": "2"}, "locked"),  # rank 0
        ({"SLURM_PROCID": "0", "LOCAL_RANK": "0"}, "locked"),
    ],
)
def test_only_rank_0_takes_the_lock(tmp_path, children, env, expected):
    holder = _acquired(children(tmp_path))
    kind, *_ = children(tmp_path, env, requeue_wait_s=20).result()
    assert kind == expected
    assert _record(tmp_path)["pid"] == holder.pid


def test_other_ranks_touch_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("NODE_RANK", "0")
    lock = RunLock(tmp_path / "new").acquire()
    assert not lock.held
    assert not (tmp_path / "new").exists()
    lock.release()


@pytest.mark.parametrize(
    ("env", "rank"),
    [
        ({}, 0),
        ({"RANK": "5", "LOCAL_RANK": "1", "SLURM_PROCID": "1"}, 5),  # torchrun under srun
        ({"RANK": "0", "LOCAL_RANK": "0"}, 0),
        ({"SLURM_PROCID": "3"}, 3),  # srun, one task per GPU
        ({"SLURM_PROCID": "5", "LOCAL_RANK": "1"}, 5),  # ... with LOCAL_RANK exported
        ({"LOCAL_RANK": "2", "NODE_RANK": "0", "WORLD_SIZE": "4"}, 2),  # Lightning's launcher
        ({"LOCAL_RANK": "2", "NODE_RANK": "0", "SLURM_PROCID": "0"}, 2),  # ... in `srun bash`
        ({"LOCAL_RANK": "1", "NODE_RANK": "1", "WORLD_SIZE": "8", "SLURM_NNODES": "2"}, 5),
        ({"LOCAL_RANK": "1", "NODE_RANK": "1", "WORLD_SIZE": "8"}, 3),  # lower bound: 1 * 2 + 1
        ({"NODE_RANK": "2"}, 2),  # Lightning's main process on node 2, before launching
        ({"GROUP_RANK": "1", "LOCAL_RANK": "0"}, 1),
        ({"LOCAL_RANK": "1"}, 1),  # LOCAL_RANK=1 python fit.py ... (manual launch)
        ({"RANK": ""}, 0),
    ],
)
def test_launcher_rank(monkeypatch, env, rank):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert launcher_rank() == rank


def test_launcher_rank_rejects_garbage(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "one")
    with pytest.raises(RunError, match=r"^environment variable LOCAL_RANK='one' is not a rank$"):
        launcher_rank()


def test_in_process_lifecycle(tmp_path, children):
    run_dir = tmp_path / "a" / "b"
    with RunLock(run_dir) as lock:
        assert lock.held
        assert run_dir.is_dir()
        record = _record(run_dir)
        assert (record["pid"], record["host"], record["slurm_job_id"]) == (os.getpid(), HOST, None)
        with pytest.raises(RunLocked, match=f"^{run_dir} is in use by pid {os.getpid()} "):
            RunLock(run_dir).acquire()  # flock is per open file, so one process can contend
        assert children(run_dir).result()[0] == "locked"
        assert lock.acquire() is lock  # already held: nothing happens
    assert not lock.held
    assert (run_dir / ".lock").read_text() == ""  # kept, without a holder
    lock.release()  # twice is fine
    _acquired(children(run_dir))


def test_dropped_handle_keeps_the_lock(tmp_path, children):
    """The lock is for the process's life, not the handle's: `lock_run_dir(d)` alone works."""
    holder = children(tmp_path, drop=True)
    assert holder.result()[:2] == ("acquired", holder.pid)
    assert children(tmp_path).result()[0] == "locked"


@pytest.mark.parametrize("code", [errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK, errno.EINVAL])
def test_filesystem_without_locks(tmp_path, monkeypatch, code):
    def flock(fd, op):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(lock_module.fcntl, "flock", flock)
    lock = RunLock(tmp_path)
    with pytest.raises(RunError) as caught:
        lock.acquire()
    assert type(caught.value) is RunError
    assert str(caught.value) == (
        f"the filesystem of {tmp_path} does not support file locks (flock: "
        f"{os.strerror(code)}), so nothing stops a second job from training in it: pass "
        "--run_dir on another filesystem (Lustre: mount with -o flock) or set "
        "AN_LIGHTNING_NO_LOCK=1 to run without the lock at your own risk"
    )
    assert not lock.held


def test_no_lock_env_skips_the_lock_with_a_warning(tmp_path, monkeypatch, capfd, children):
    monkeypatch.setenv("AN_LIGHTNING_NO_LOCK", "1")
    lock = RunLock(tmp_path).acquire()
    assert not lock.held
    assert capfd.readouterr().err == (
        f"warning: AN_LIGHTNING_NO_LOCK is set: {tmp_path} is not locked, so a second job "
        "on it would train in it too\n"
    )
    monkeypatch.delenv("AN_LIGHTNING_NO_LOCK")
    _acquired(children(tmp_path))  # nothing was held


def test_unwritable_run_dir(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(RunError) as caught:
        RunLock(tmp_path / "file" / "run").acquire()
    assert str(caught.value) == (
        f"cannot create the lock file {tmp_path}/file/run/.lock: Not a directory; "
        "fix that path or pass --run_dir to train elsewhere"
    )


def test_a_killed_holders_record_is_replaced_whole(tmp_path):
    stale = {"host": "elsewhere", "pid": 1, "started": "2026-01-01T00:00:00+00:00"}
    (tmp_path / ".lock").write_text(json.dumps({**stale, "note": "x" * 500}))
    with RunLock(tmp_path):
        record = _record(tmp_path)
    assert sorted(record) == ["host", "pid", "slurm_array_task_id", "slurm_job_id", "started"]
    assert (record["host"], record["pid"]) == (HOST, os.getpid())
