"""Put targets from other saved bench reports beside this run's: a C++ run (`edgead-cpp-bench --json`) next to
the Python one, in one report (``edgead-runtime bench MODEL --merge cpp.json``).

Both sides write the same schema (``edgead-bench/2``, docs/bench.md). A merged target keeps its own numbers;
its ratios are recomputed against this run's target on the same model file (else this run's first target),
so they compare two runs: quote them with that caveat, and prefer the `--compare cpp` row for the graph alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import EdgeadError
from .run import SCHEMA


def load_report(path: str | Path) -> dict[str, Any]:
    """A saved report; EdgeadError naming the file when it is not an edgead-bench/2 report."""
    path = Path(path)
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EdgeadError(f"--merge '{path}' is not a readable JSON report ({exc}); write one with --json") from exc
    if not isinstance(report, dict) or report.get("schema") != SCHEMA:
        got = report.get("schema") if isinstance(report, dict) else type(report).__name__
        raise EdgeadError(f"--merge '{path}' has schema {got!r}, not '{SCHEMA}'; rerun the bench that wrote it")
    return report


def merge_reports(report: dict[str, Any], others: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    """``report`` with each other report's targets appended (labels marked with their run), ratios recomputed."""
    targets = report["targets"]
    merged = []
    for path, other in others:
        for target in other["targets"]:
            same = [t for t in targets if Path(t["path"]).name == Path(target["path"]).name and "merged_from" not in t]
            ref = same[0] if same else targets[0]
            copy = {**target, "label": f"{target['label']} [{path.name}]", "merged_from": str(path)}
            copy["reference"] = ref["label"]
            copy["batches"] = [_rebase(g, ref) for g in target["batches"]]
            merged.append(copy)
        report.setdefault("merged", []).append(
            {"path": str(path), "created_utc": other.get("created_utc"), "machine": other.get("machine")}
        )
    report["targets"] = targets + merged
    return report


def _rebase(batch: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    """Ratios against ``ref`` at the same batch size (None where the reference did not time that batch)."""
    base = next((g for g in ref["batches"] if g["batch"] == batch["batch"]), None)
    return {
        **batch,
        "ratio_to_reference": batch["p50_ms"] / base["p50_ms"] if base else None,
        "fps_ratio_to_reference": batch["fps"] / base["fps"] if base else None,
    }
