"""Markdown table of the small-scale ablation: python experiments/small_ablation/table.py [ROOT]

Reads the evaluation records of every ``runs/small_ablation/<variant>-s<seed>`` and shows
FID of the raw generator (what the paper's table compares: it reports no EMA) and of the
EMA generator, each as mean, min-max over seeds and per seed, plus KID of the EMA. Per
run the newest value of each key counts; records from before the ``/raw``, ``/ema`` key
suffixes (``fid`` with ``generator``) are read as such.
"""

import json
import statistics
import sys
from pathlib import Path

VARIANTS = {
    "sngan": "SN-GAN baseline (cbn only)",
    "sa": "SA: self-attention at 16x16",
    "an16": "AN, n = 16, in the 16x16 block",
    "an16_after": "AN, n = 16, after the 16x16 block",
    "an16_nossr": "AN, n = 16, in the block, without SSR",
    "an16_torchinit": "AN, n = 16, in the block, PyTorch-default entity init",
}
SHARED = {"feature_network", "n_fid", "n_intra_fid_per_class", "reference", "generators"}


def run_results(path: Path) -> dict:
    """The newest value of every suffixed key over the records of one run."""
    merged: dict = {}
    for record in json.loads(path.read_text()):
        results = dict(record["results"])
        old = results.pop("generator", None)  # a record of one generator, unsuffixed keys
        if old is not None:
            results = {k if k in SHARED else f"{k}/{old}": v for k, v in results.items()}
        merged |= results
    return merged


def spread(values: list[float | None], scale: float = 1.0) -> tuple[str, str, str]:
    """Mean and min-max over the seeds that have a value, and every seed's value ("-"
    where a run has no record of that key, so per-seed columns line up)."""
    present = [v * scale for v in values if v is not None]
    if not present:
        return "-", "-", "-"
    per_seed = ", ".join("-" if v is None else f"{v * scale:.1f}" for v in values)
    return f"{statistics.mean(present):.1f}", f"{min(present):.1f}-{max(present):.1f}", per_seed


def main(root: Path = Path("runs/small_ablation")) -> None:
    print(
        "| model | seeds | FID raw (mean) | raw min-max | raw per seed | FID EMA (mean) "
        "| EMA min-max | EMA per seed | KID x 1000 EMA (mean) |"
    )
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: |")
    for variant, label in VARIANTS.items():
        runs = [
            run_results(p) for p in sorted(root.glob(f"{variant}-s*/checkpoints/last.eval.json"))
        ]
        if not runs:
            continue
        raw = spread([r.get("fid/raw") for r in runs])
        ema = spread([r.get("fid/ema") for r in runs])
        kid = spread([r.get("kid_mean/ema") for r in runs], 1000)[0]
        print(f"| {label} | {len(runs)} | {' | '.join(raw)} | {' | '.join(ema)} | {kid} |")


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:]))
