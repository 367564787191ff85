"""Peak RSS per target, each measured alone in a fresh process (``python -m edgead_runtime.bench --memory-probe``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..system import peak_rss_mb
from .frames import synthetic_frame
from .targets import Target


def measure_memory(report: dict[str, Any], options: dict[str, Any], batch: int) -> dict[str, Any]:
    """Peak RSS of the target alone, opened and run at ``batch`` in a fresh process: a per-model figure that
    an in-process number (shared with every other target) cannot give."""
    spec = {"path": report["path"], "backend": report["backend"], "precision": report["precision"]}
    spec |= {"options": options, "batch": batch}
    cmd = [sys.executable, "-m", "edgead_runtime.bench", "--memory-probe", json.dumps(spec)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return {"error": "the memory probe took over 600 s"}
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no output"]
        return {"error": f"the memory probe failed: {lines[-1]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory_probe(spec_json: str) -> dict[str, Any]:
    """The child side of ``measure_memory``: RSS high-water before opening, after opening, after running."""
    spec = json.loads(spec_json)
    baseline = peak_rss_mb()
    target = Target(Path(spec["path"]), spec["backend"], spec["precision"])
    with target.open(spec["options"]) as backend:
        opened = peak_rss_mb()
        height, width = backend.metadata.size
        batch = np.repeat(synthetic_frame(height, width)[None], spec["batch"], axis=0)
        for _ in range(3):
            backend.run(batch)
        peak = peak_rss_mb()
    if baseline is None or opened is None or peak is None:
        return {"error": "this OS does not report peak RSS"}
    return {
        "batch": spec["batch"],
        "baseline_mb": baseline,
        "after_open_mb": opened,
        "peak_mb": peak,
        "model_mb": peak - baseline,
        "isolated": True,
    }
