"""The GPU kit (benchmarks/gpu.sh): its CPU smoke run end to end, its refusal without
CUDA, the wheel list and installer, and the target verdicts."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from benchmarks import gpu_kit, gpu_report, gpu_wheels

ROOT = Path(__file__).resolve().parents[1]
STEPS = [s.name for s in gpu_kit.steps(smoke=True)]
COMPILE_STEPS = {"train_compile_an", "train_compile_bn_sa"}


def kit(*args: str, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", **(env or {})}
    environ.pop("OUT", None)  # the device runner's folder must not leak into a test
    return subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu.sh"), *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_smoke")
    proc = kit("--cpu-smoke", "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, json.loads((out / "gpu_kit.json").read_text())


@pytest.mark.slow
def test_smoke_writes_json_and_markdown_with_every_step(smoke):
    out, results = smoke
    assert results["mode"] == "cpu-smoke"
    assert list(results["steps"]) == STEPS
    assert {"torch", "gpu", "python"} <= set(results["machine"])
    md = (out / "gpu_kit.md").read_text()
    for name in STEPS:
        assert f"| {name}: " in md
        assert (out / results["steps"][name]["log"]).is_file()
    for section in ("## Targets", "## Training iteration", "## Modules", "## Loader vs"):
        assert section in md
    assert "## 4 training iterations" in md
    assert md.count("| PASS |") + md.count("| FAIL |") >= 3  # both targets and the fit check


@pytest.mark.slow
@pytest.mark.parametrize("name", STEPS)
def test_smoke_step_ran_and_wrote_its_result(smoke, name):
    out, results = smoke
    step = results["steps"][name]
    if name in COMPILE_STEPS and not gpu_kit.has_compile_flag():
        assert step["status"].startswith("skipped: train_speed has no --compile")
        pytest.skip("benchmarks/train_speed.py has no --compile flag yet: step skipped")
    assert step["status"] == "ok", (out / step["log"]).read_text()[-3000:]
    assert step["result"] == json.loads((out / f"{name}.json").read_text())
    if name.startswith("train_"):
        norms = {r["norm"] for r in step["result"]["rows"]}
        assert norms == (
            {"bn", "sa"}
            if name == "train_compile_bn_sa"
            else {"an"}
            if name == "train_compile_an"
            else {"an", "bn", "sa"}
        )
    if name == "fit":
        assert step["result"]["passed"] and step["result"]["checkpoint"] == "g_iter=0000004.ckpt"
        assert (out / "fit_metrics.csv").is_file()


@pytest.mark.slow
def test_smoke_targets_are_evaluated(smoke):
    _, results = smoke
    t = results["targets"]
    for key in ("an_vs_bn_bf16", "compile_vs_fp32_an"):
        if key == "compile_vs_fp32_an" and not gpu_kit.has_compile_flag():
            assert t[key]["result"].startswith("n/a")
            continue
        assert t[key]["result"] in ("PASS", "FAIL") and t[key]["value"] > 0
    assert t["fit_finite"]["result"] == "PASS"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_refuses_without_cuda_and_writes_nothing(tmp_path):
    proc = kit("--out", str(tmp_path / "out"), timeout=120)
    assert proc.returncode == 2
    assert "no CUDA device" in proc.stderr and "--cpu-smoke" in proc.stderr
    assert not (tmp_path / "out").exists()


def fake_results(an: float, bn: float, fp32: float, compiled: float | None) -> dict:
    def train(norms: dict[str, float]) -> dict:
        rows = [
            {
                "norm": n,
                "resolution": 128,
                "batch": 64,
                "lightning_img_s": v,
                "plain_img_s": v,
                "overhead_pct": 0.0,
            }
            for n, v in norms.items()
        ]
        return {"status": "ok", "result": {"rows": rows}}

    steps = {"train_bf16": train({"an": an, "bn": bn}), "train_fp32": train({"an": fp32})}
    steps["train_compile_an"] = (
        train({"an": compiled}) if compiled else {"status": "timed out after 180 s", "result": None}
    )
    return {"steps": steps}


def test_targets_pass_and_fail_on_the_bounds():
    t = gpu_report.targets(fake_results(an=100, bn=110, fp32=50, compiled=80))
    assert t["an_vs_bn_bf16"]["result"] == "PASS" and t["an_vs_bn_bf16"]["value"] == 1.1
    assert t["compile_vs_fp32_an"]["result"] == "PASS" and t["compile_vs_fp32_an"]["value"] == 1.6
    t = gpu_report.targets(fake_results(an=80, bn=100, fp32=60, compiled=80))
    assert t["an_vs_bn_bf16"]["result"] == "FAIL"  # AN takes 1.25x the bn iteration
    assert t["compile_vs_fp32_an"]["result"] == "FAIL"  # 1.33x
    t = gpu_report.targets(fake_results(an=80, bn=100, fp32=60, compiled=None))
    assert (
        t["compile_vs_fp32_an"]["result"]
        == "n/a (train_fp32: ok; train_compile_an: timed out after 180 s)"
    )
    assert t["fit_finite"]["result"] == "n/a (not run)"


def test_wheel_list_is_what_the_gpu_machine_lacks_pinned_here():
    import importlib.metadata as md

    reqs = dict(line.split("==") for line in gpu_wheels.requirements())
    names = {gpu_wheels.canonical(n) for n in reqs}
    needed = {
        "jsonargparse",
        "docstring-parser",
        "typeshed-client",
        "webdataset",
        "braceexpand",
        "kornia",
        "kornia-rs",
        "rich",
        "sweeps",
        "jsonref",
        "jsonschema",
        "wandb",
    }
    assert needed <= names
    assert not names & {
        "torch",
        "lightning",
        "torchmetrics",
        "numpy",
        "pillow",
        "pyyaml",
        "scikit-learn",
        "scikit-image",
        "typing-extensions",
    }
    assert all(md.version(n) == v for n, v in reqs.items())


def make_wheel(folder: Path, also: str = "", name: str = "gpukit_fake", version: str = "1.0"):
    """A one-module wheel and a requirements.txt naming it (and ``also``)."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": "VALUE = 42\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{f},,\n" for f in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)
    (folder / "requirements.txt").write_text(f"{name}=={version}\n{also}")


@pytest.mark.parametrize("isolated", [False, True], ids=["pip", "unzip-without-pip"])
def test_install_puts_only_the_missing_wheels_into_the_target(tmp_path, isolated):
    # numpy is installed here, so it is not missing (with -S nothing is found: not listed).
    make_wheel(tmp_path / "wheels", also="" if isolated else "numpy==0.0.1\n")
    target = tmp_path / "site"
    # -S: no site-packages, so no pip either: the installer unzips the wheel itself.
    flags = ["-S"] if isolated else []
    cmd = [sys.executable, *flags, "-m", "benchmarks.gpu_wheels", "install"]
    proc = subprocess.run(
        [*cmd, str(tmp_path / "wheels"), str(target)], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert (target / "gpukit_fake.py").read_text() == "VALUE = 42\n"
    if not isolated:
        assert "gpukit_fake==1.0" in proc.stdout and "numpy" not in proc.stdout
        assert not any(p.name.startswith("numpy") for p in target.iterdir())


def test_install_without_the_wheels_folder_says_how_to_make_it(tmp_path):
    assert gpu_wheels.main(["install", str(tmp_path / "none"), str(tmp_path / "site")]) == 2
    assert not (tmp_path / "site").exists()
