"""Real processes started together, for the tests of files several jobs write at once
(imported by the tests, not collected)."""

from __future__ import annotations

from collections.abc import Callable, Sequence


def run_together(ctx, target: Callable, arg_sets: Sequence[tuple], timeout: float) -> list:
    """Start ``target(*args)`` for every ``args`` in ``ctx`` (a multiprocessing context)
    at once and return their exit codes; one still running after ``timeout`` seconds is
    killed (code -9), so a hang fails the test instead of blocking pytest."""
    jobs = [ctx.Process(target=target, args=args, daemon=True) for args in arg_sets]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=timeout)
        job.kill()
        job.join()
    return [job.exitcode for job in jobs]
