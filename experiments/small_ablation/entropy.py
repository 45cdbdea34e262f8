"""Layout entropy over the small-ablation runs: python experiments/small_ablation/entropy.py

For each AN variant, the normalised entropy (entropy / log n; 1 is a uniform layout) of
every AN layer's soft layout, as ``LayoutEntropy`` logged it to ``metrics.csv``,
averaged over the seeds at a few generator steps (docs/method.md section 4).
"""

import csv
import statistics
import sys
from pathlib import Path

VARIANTS = ("an16", "an16_after", "an16_nossr", "an16_torchinit")
STEPS = (10, 100, 200, 300, 400, 500, 600)


def entropy_series(path: Path) -> dict[str, dict[int, float]]:
    """{layer: {g_iter: entropy}} of one run's metrics.csv."""
    series: dict[str, dict[int, float]] = {}
    for row in csv.DictReader(path.open()):
        for key, value in row.items():
            if key.startswith("layout/") and key.endswith("/entropy") and value:
                layer = key.removeprefix("layout/").removesuffix("/entropy")
                series.setdefault(layer, {})[int(float(row["g_iter"]))] = float(value)
    return series


def main(root: Path = Path("runs/small_ablation")) -> None:
    print("| variant | seeds | layer | " + " | ".join(f"step {s}" for s in STEPS) + " |")
    print("| --- | ---: | --- |" + " ---: |" * len(STEPS))
    for variant in VARIANTS:
        runs = [entropy_series(p) for p in sorted(root.glob(f"{variant}-s*/metrics.csv"))]
        layers = sorted({layer for run in runs for layer in run})
        for layer in layers:
            cells = []
            for step in STEPS:
                values = [run[layer][step] for run in runs if step in run.get(layer, {})]
                cells.append(f"{statistics.mean(values):.3f}" if values else "-")
            print(f"| {variant} | {len(runs)} | {layer} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:]))
