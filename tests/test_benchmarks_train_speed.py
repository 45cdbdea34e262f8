"""The training-throughput benchmark runs end to end; its flags reach the task and the loop."""

import json

import an_lightning.tasks.base
from benchmarks import train_speed

TINY = ["--resolutions", "32", "--norms", "an", "--ch", "4", "--batch", "4"]
TINY += ["--iters", "3", "--warmup", "1", "--rounds", "1", "--device", "cpu"]


def test_channels_last_run_writes_table_and_json(tmp_path, capsys):
    out = tmp_path / "speed.json"
    assert train_speed.main([*TINY, "--channels-last", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["config"]["channels_last"] and not result["config"]["compile"]
    (row,) = result["rows"]
    assert row["lightning_img_s"] > 0 and row["plain_img_s"] > 0
    assert row["lightning_first_s"] > 0 and row["plain_first_s"] > 0
    assert "| 32 | an | 4 |" in capsys.readouterr().out


def test_compile_flag_compiles_g_and_d_in_both_loops(tmp_path, monkeypatch):
    """--compile asks for the same compilation (static shapes, the mode) in the task and in
    the plain loop; recorded instead of run, since compiling takes minutes on a CPU."""
    calls = []

    def record(net, **kwargs):
        calls.append((type(net).__name__, kwargs))

    monkeypatch.setattr(an_lightning.tasks.base, "compile_network", record)
    monkeypatch.setattr(train_speed, "compile_network", record)
    argv = [*TINY, "--compile", "--compile-mode", "reduce-overhead"]
    assert train_speed.main([*argv, "--out", str(tmp_path / "speed.json")]) == 0
    expected = {"mode": "reduce-overhead", "dynamic": False}
    assert calls == [("Generator", expected), ("Discriminator", expected)] * 2
