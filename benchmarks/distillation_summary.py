"""The distillation models' README accuracy table, printed from the files benchmarks/distillation.sh records.

    python benchmarks/distillation_summary.py [RESULTS_DIR]        (default: benchmarks/results/distillation)

Every figure comes from a named file, so after a re-run the READMEs are refilled by copying rows.
A file that is missing prints as a row of "missing" rather than stopping the table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

MODELS = ("stfpm", "reverse_distillation", "stad")
DATASETS = ("bottle", "magnetic_tile", "magnetic_tile-stage3-128", "bottle-fast")
METRICS = ("image_auroc", "pixel_auroc", "aupro", "image_f1_max")


def read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def accuracy_rows(results: Path) -> list[str]:
    rows = [
        "| run (`benchmarks/results/distillation/<run>.*`) | image AUROC | pixel AUROC | AUPRO | image F1-max | "
        "epochs run (kept) | held-out loss (kept) | training s | torch vs ONNX max abs diff (score / map) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for model in MODELS:
        for dataset in DATASETS:
            run = f"{model}-{dataset}"
            evaluated, training = read(results / f"{run}.evaluate.json"), read(results / f"{run}.training.json")
            if evaluated is None or training is None:
                rows.append(f"| {run} | missing | | | | | | | |")
                continue
            metrics = evaluated["metrics"]
            diff = evaluated.get("torch", {}).get("max_abs_diff", {})
            best = training["best_epoch"]
            rows.append(
                f"| {run} | "
                + " | ".join(f"{metrics[k]:.4f}" for k in METRICS)
                + f" | {training['epochs_run']} ({best + 1}) | {training['val_loss'][best]:.4g} | "
                f"{training['seconds']:.0f} | {diff.get('score', float('nan')):.2g} / "
                f"{diff.get('anomaly_map', float('nan')):.2g} |"
            )
    return rows


def main() -> int:
    results = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/distillation")
    lines = ["## Accuracy through the exported graph (edgead evaluate), training", ""]
    lines += accuracy_rows(results)
    lines += ["", "Latency: `bench-all-families.md` (edgead-runtime bench of all six graphs, one interleaved run)."]
    machine = results / "machine.txt"
    if machine.is_file():
        lines += ["", "## Machine (machine.txt, latest invocation)", "", "```"]
        sections = machine.read_text().split("## ")
        lines += ["## " + sections[-1].rstrip(), "```"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
