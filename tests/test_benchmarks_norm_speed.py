"""The module-timing benchmark runs end to end and reports honestly."""

import json

import torch

from an_lightning.norms import build_norm
from benchmarks import norm_speed


def test_small_run_writes_table_and_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = ["--resolutions", "8", "16", "32", "--norms", "an", "sa", "in", "--repeats", "2"]
    # A tiny limit: SA at 32 px is predicted from 16 px and must be skipped, not run.
    argv += ["--channels", "16", "--n", "4", "--limit-s", "0.000001", "--out", str(out)]
    assert norm_speed.main(argv) == 0
    result = json.loads(out.read_text())
    rows = {(r["norm"], r["resolution"], r["mode"]): r for r in result["rows"]}
    assert len(rows) == 3 * 3 * 2
    assert rows[("an", 32, "fwd+bwd")]["status"] == "ok"
    assert rows[("an", 32, "fwd+bwd")]["median_ms"] > 0
    assert rows[("sa", 8, "fwd")]["status"] == "ok"
    assert rows[("sa", 32, "fwd")]["status"].startswith("too slow")
    assert result["machine"]["torch"] == torch.__version__
    printed = capsys.readouterr().out
    assert "| an | fwd+bwd |" in printed and "too slow" in printed


def test_both_an_variants_get_the_entity_count(monkeypatch):
    built = {}

    def record(name, channels, **options):
        built[name] = options
        return build_norm(name, channels, **options)

    monkeypatch.setattr(norm_speed, "build_norm", record)
    args = norm_speed.parse_args(["--channels", "16", "--n", "4"])
    for name in ("an", "an_official", "in"):
        norm_speed.make_step(name, 8, "fwd+bwd", args, torch.device("cpu"))()
    assert built == {"an": {"n": 4}, "an_official": {"n": 4}, "in": {}}


def test_peak_memory_sees_an_allocation():
    with norm_speed.PeakMemory(torch.device("cpu")) as peak:
        block = torch.ones(50 * 2**20)  # 200 MB, touched
        del block
    assert 150 < peak.mb < 400


def test_targets_are_judged_from_rows():
    rows = [
        norm_speed.Row("an", 256, "fwd+bwd", "ok", 50.0, 3, 100.0),
        norm_speed.Row("in", 256, "fwd+bwd", "ok", 4.0, 3, 10.0),
        norm_speed.Row("an", 1024, "fwd+bwd", "ok", 900.0, 3, 1600.0),
    ]
    met = norm_speed.targets(rows)
    assert met["an_vs_in_256_fwd_bwd_ratio"]["value"] == 12.5
    assert not met["an_vs_in_256_fwd_bwd_ratio"]["met"]
    assert not met["an_1024_fwd_bwd_peak_mb"]["met"]
