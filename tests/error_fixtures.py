"""The one-line error contract of the commands (``cli/errors.py``), checked in this
process and as a real ``python -m`` command (imported by the tests, not collected)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def one_error_line(stderr: str) -> str:
    """The ``error:`` line that must be all of ``stderr`` (no traceback, no usage)."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def refuses(main: Callable, argv: list, capsys: pytest.CaptureFixture) -> str:
    """``main(argv)`` in this process must exit with status 2 and one error line."""
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    return one_error_line(err)


def command_refuses(module: str, *args, not_created: Iterable[Path] = ()) -> str:
    """``python -m module args`` must exit with status 2, one error line, nothing made."""
    env = {k: v for k, v in os.environ.items() if k != "AN_LIGHTNING_DEBUG"}
    env.update(PYTHONPATH=str(ROOT), OMP_WAIT_POLICY="PASSIVE")
    cmd = [sys.executable, "-m", module, *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2, done.stderr[-3000:]
    for path in not_created:
        assert not Path(path).exists(), f"{path} was created"
    return one_error_line(done.stderr)


def fake_checkpoint(path: Path, class_path: str) -> Path:
    """A file that names ``class_path`` as its task but holds no model config."""
    import torch

    torch.save({"state_dict": {}, "hyper_parameters": {"_class_path": class_path}}, path)
    return path
