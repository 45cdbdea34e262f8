"""Markdown table of the small-scale ablation: python experiments/small_ablation/table.py

Reads the newest evaluation record of every ``runs/small_ablation/<variant>-s<seed>``.
"""

import json
import statistics
import sys
from pathlib import Path

VARIANTS = {
    "sngan": "SN-GAN baseline (cbn only)",
    "sa": "SA: self-attention at 16x16",
    "an16": "AN, n = 16, at 16x16",
    "an16_nossr": "AN, n = 16, without SSR",
}


def main(root: Path = Path("runs/small_ablation")) -> None:
    print("| model | seeds | FID (mean) | FID per seed | KID x 1000 (mean) |")
    print("| --- | ---: | ---: | --- | ---: |")
    for variant, label in VARIANTS.items():
        fids, kids = [], []
        for record in sorted(root.glob(f"{variant}-s*/checkpoints/last.eval.json")):
            result = json.loads(record.read_text())[-1]["results"]
            fids.append(result["fid"])
            kids.append(result["kid_mean"] * 1000)
        if not fids:
            continue
        per_seed = ", ".join(f"{f:.1f}" for f in fids)
        print(
            f"| {label} | {len(fids)} | {statistics.mean(fids):.1f} | {per_seed} "
            f"| {statistics.mean(kids):.1f} |"
        )


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:]))
