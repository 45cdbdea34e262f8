"""The GPU kit's targets and markdown summary, from its combined results.

Reads only the dict ``gpu_kit`` writes (each step's own JSON under ``steps.<name>.result``),
so a partial run (a step failed, timed out or not reached) still gets a summary: what is
missing reads "n/a" with the reason.
"""

from __future__ import annotations

from benchmarks.norm_speed import PAPER_2080_MS

AN_VS_BN_MAX = 1.15  # AN iteration within 1.15x of the cBN-only model's, bf16-mixed
COMPILE_VS_FP32_MIN = 1.5  # bf16 + compile at least 1.5x faster than fp32 eager (AN)
TRAIN_STEPS = {  # step -> (precision label, compiled)
    "train_bf16": ("bf16-mixed", False),
    "train_fp32": ("32-true", False),
    "train_compile_an": ("bf16-mixed", True),
    "train_compile_bn_sa": ("bf16-mixed", True),
}


def train_rows(results: dict) -> list[dict]:
    """Every ``train_speed`` row of the run, labelled with its precision and compile."""
    rows = []
    for step, (precision, compiled) in TRAIN_STEPS.items():
        result = results["steps"].get(step, {}).get("result") or {}
        for row in result.get("rows", []):
            rows.append({**row, "precision": precision, "compile": compiled, "step": step})
    return rows


def img_s(rows: list[dict], norm: str, precision: str, compiled: bool) -> float | None:
    for r in rows:
        if (r["norm"], r["precision"], r["compile"]) == (norm, precision, compiled):
            return r["lightning_img_s"]
    return None


def target(value: float | None, bound: float, op: str, why_missing: str, what: str) -> dict:
    if value is None:
        return {"what": what, "value": None, "bound": bound, "op": op, "result": why_missing}
    met = value <= bound if op == "<=" else value >= bound
    return {
        "what": what,
        "value": value,
        "bound": bound,
        "op": op,
        "result": "PASS" if met else "FAIL",
    }


def targets(results: dict) -> dict:
    """The issue's two GPU targets, the 200-iteration check and data_speed's loader target."""
    rows = train_rows(results)
    steps = results["steps"]
    an, bn = img_s(rows, "an", "bf16-mixed", False), img_s(rows, "bn", "bf16-mixed", False)
    fp32, comp = img_s(rows, "an", "32-true", False), img_s(rows, "an", "bf16-mixed", True)
    out = {
        "an_vs_bn_bf16": target(
            bn / an if an and bn else None,
            AN_VS_BN_MAX,
            "<=",
            f"n/a ({steps.get('train_bf16', {}).get('status', 'not run')})",
            "AN iteration time / cBN-only (bn) iteration time, bf16-mixed eager",
        ),
        "compile_vs_fp32_an": target(
            comp / fp32 if comp and fp32 else None,
            COMPILE_VS_FP32_MIN,
            ">=",
            "n/a (train_fp32: {}; train_compile_an: {})".format(
                steps.get("train_fp32", {}).get("status", "not run"),
                steps.get("train_compile_an", {}).get("status", "not run"),
            ),
            "AN speed-up of bf16-mixed + torch.compile over fp32 eager",
        ),
    }
    fit = steps.get("fit", {})
    fit_result = fit.get("result")
    out["fit_finite"] = {
        "what": "fit: exit 0, last checkpoint written, every logged loss finite",
        "value": None,
        "bound": None,
        "op": "",
        "result": ("PASS" if fit_result["passed"] else "FAIL")
        if fit_result
        else f"n/a ({fit.get('status', 'not run')})",
    }
    data = steps.get("data_speed", {}).get("result") or {}
    training = data.get("training")
    out["loader_vs_step"] = target(
        training["ratio"] if training else None,
        data.get("target_ratio", 5.0),
        ">=",
        f"n/a ({steps.get('data_speed', {}).get('status', 'not run')})",
        "shard loader, 1 worker, images/s / one bf16 iteration's images/s (data_speed)",
    )
    return out


def fmt(value, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def norm_table(result: dict) -> list[str]:
    """AN, IN, SA (and BN) ms per size, with AN/IN and AN/SA beside the paper's AN/SA."""
    got = {(r["norm"], r["resolution"], r["mode"]): r for r in result["rows"]}
    sizes = sorted({r["resolution"] for r in result["rows"]})

    def ms(norm: str, res: int, mode: str):
        r = got.get((norm, res, mode))
        return None if r is None else (r["median_ms"] if r["status"] == "ok" else r["status"])

    def ratio(a, b):
        return a / b if isinstance(a, float) and isinstance(b, float) else None

    lines = [
        "| size | pass | AN ms | IN ms | BN ms | SA ms | AN/IN | AN/SA | paper AN ms | "
        "paper SA ms | paper AN/SA |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for res in sizes:
        for mode in ("fwd", "fwd+bwd"):
            an, inorm, bn, sa = (ms(n, res, mode) for n in ("an", "in", "bn", "sa"))
            paper = {k: v.get(res) if mode == "fwd" else None for k, v in PAPER_2080_MS.items()}
            cells = [
                *(fmt(v) if not isinstance(v, str) else v for v in (an, inorm, bn, sa)),
                fmt(ratio(an, inorm)),
                fmt(ratio(an, sa), ".3f"),
                *(str(paper[k]) if paper[k] is not None else "-" for k in ("an", "sa")),
                fmt(ratio(paper["an"], paper["sa"]), ".3f"),
            ]
            lines.append(f"| {res}^2 | {mode} | " + " | ".join(cells) + " |")
    return lines


def header(results: dict) -> list[str]:
    m = results["machine"]
    smoke = " (tiny sizes on the CPU: plumbing only, the numbers mean nothing)"
    return [
        "# GPU kit results",
        "",
        f"- mode: **{results['mode']}**" + (smoke if results["mode"] != "gpu" else ""),
        f"- GPU: {m.get('gpu') or 'none'}; torch {m['torch']} (CUDA {m.get('cuda') or '-'}); "
        f"Python {m['python']}; {m['cpus']} CPUs",
        f"- started {results['started']}; {results['elapsed_s']:.0f} s of a "
        f"{results['budget_s']:.0f} s budget",
    ]


def target_lines(results: dict) -> list[str]:
    lines = ["## Targets", "", "| target | value | bound | result |", "|---|---|---|---|"]
    for t in results["targets"].values():
        bound = f"{t['op']} {t['bound']:g}" if t["bound"] is not None else "-"
        lines.append(f"| {t['what']} | {fmt(t['value'])} | {bound} | {t['result']} |")
    lines += ["", "## Steps", "", "| step | status | seconds | log |", "|---|---|---|---|"]
    for name, s in results["steps"].items():
        seconds = fmt(s.get("seconds"), ".0f")
        env = "".join(f" ({k}={v})" for k, v in (s.get("env") or {}).items())
        lines.append(f"| {name}: {s['title']} | {s['status']}{env} | {seconds} | {s['log']} |")
    return lines


def train_lines(rows: list[dict]) -> list[str]:
    lines = [
        "## Training iteration (train_speed: Lightning vs the plain loop)",
        "",
        "| precision | compile | norm | res | batch | Lightning img/s | ms/iter | plain img/s "
        "| overhead |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ms = 1000 * r["batch"] / r["lightning_img_s"]
        lines.append(
            f"| {r['precision']} | {'yes' if r['compile'] else 'no'} | {r['norm']} | "
            f"{r['resolution']} | {r['batch']} | {r['lightning_img_s']:.1f} | {ms:.1f} | "
            f"{r['plain_img_s']:.1f} | {r['overhead_pct']:+.1f}% |"
        )
    return lines


def data_lines(data: dict) -> list[str]:
    lines = ["## Loader vs consumption (data_speed)", ""]
    lines += ["| loader | workers | images/s (min-max) |", "|---|---|---|"]
    for r in data["loaders"]:
        rate = f"{r['images_per_s']:.0f} ({r['min']:.0f}-{r['max']:.0f})"
        lines.append(f"| {r['loader']} | {r['workers']} | {rate} |")
    t = data.get("training")
    if t:
        lines += [
            "",
            f"One iteration ({t['device']}, {t['precision']}, batch {t['batch']}, ch {t['ch']}) "
            f"consumes {t['images_per_s']:.0f} images/s; the shard loader with 1 worker "
            f"delivers {t['ratio']:.2f}x that (target >= {data['target_ratio']:g}x).",
        ]
    return lines


def fit_lines(fit: dict) -> list[str]:
    last = ", ".join(f"{k} {v:.3f}" for k, v in (fit["last_losses"] or {}).items())
    return [
        f"## {fit['iters']} training iterations (an_lightning.fit, experiments/imagenet.yaml)",
        "",
        f"{fit['precision']}, batch {fit['batch']}, {fit['images']} generated images: exit "
        f"{fit['exit_code']}; checkpoint {fit['checkpoint']} "
        f"({fmt(fit['checkpoint_mb'], '.0f')} MB); {fit['loss_rows']} logged rows up to "
        f"generator iteration {fit['last_g_iter_logged']}; losses finite: "
        f"{fit['losses_finite']}; last: {last or '-'}; {fit['seconds']:.0f} s wall "
        "(start-up included).",
    ]


def markdown(results: dict) -> str:
    """The summary: machine, targets, steps, then each measurement that came back."""
    sections = [header(results), target_lines(results)]
    if rows := train_rows(results):
        sections.append(train_lines(rows))
    steps = results["steps"]
    if norm := steps.get("norm_speed", {}).get("result"):
        title = "## Modules (norm_speed: batch 1, C = 32, n = 16; paper: RTX 2080, fwd only)"
        sections.append([title, "", *norm_table(norm)])
    if data := steps.get("data_speed", {}).get("result"):
        sections.append(data_lines(data))
    if fit := steps.get("fit", {}).get("result"):
        sections.append(fit_lines(fit))
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"
