"""The old mask-set command names its new place in one line (exit 2, nothing written)."""

import subprocess
import sys


def test_the_old_command_names_the_new_one(tmp_path):
    out = tmp_path / "masks"
    cmd = [sys.executable, "-m", "an_lightning.data.mask_set", str(out), "--size", "16"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and not out.exists()
    lines = done.stderr.strip().splitlines()
    assert lines == [lines[-1]] and "python -m an_lightning.cli.mask_set" in lines[-1]
    assert "Traceback" not in done.stderr
