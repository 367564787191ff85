"""``edgead evaluate``: metrics of an exported model, computed through the runtime.

A command over an exported file (not an export step): it reads the test split with ``edgead.train.data`` and
scores with ``edgead.train.metrics``; torch is imported only for ``--compare-torch``.

Frames go through the runtime's preprocessing and the exported graph on a runtime backend, just as
in deployment. With a run directory the torch model scores the same frames too, and the largest
differences and both sets of metrics are reported side by side.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from edgead.train.data import find_dataset, load_frames, load_masks
from edgead.train.metrics import at_threshold, evaluate, format_metrics_table
from edgead_runtime.detector import Detector
from edgead_runtime.errors import EdgeadError
from edgead_runtime.files import write_json
from edgead_runtime.metadata import OUTPUT_NAMES


def evaluate_model(
    model_path: Path,
    data: Path,
    batch: int = 8,
    backend: str = "auto",
    compare_run: Path | None = None,
    json_out: Path | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """``device``: where the torch model of ``compare_run`` runs (the exported model runs on ``backend``)."""
    if compare_run is not None:
        from edgead.train.device import resolve_device

        resolve_device(device)  # a missing GPU fails now, not after scoring the test split
    dataset = find_dataset(data)
    if not dataset.test:
        raise EdgeadError(f"'{data}' has no labelled test split (test/<type>/); evaluate needs the MVTec layout")
    with Detector(model_path, backend) as detector:
        size, threshold = detector.metadata.size, detector.threshold  # the threshold a deployment applies
        frames, _ = load_frames([s.path for s in dataset.test], size, desc="test images")
        outputs, seconds = _run_detector(detector, frames, batch)
    labels = np.array([s.label for s in dataset.test])
    masks, index = load_masks(dataset.test, size)
    maps = outputs["raw_anomaly_map"][index]
    if not masks.any():  # image labels only
        masks = maps = None
    metrics = evaluate(labels, outputs["raw_score"], masks, maps)
    deployed = at_threshold(labels, outputs["score"], threshold)
    report: dict[str, Any] = {
        "model": str(model_path),
        "data": str(data),
        "backend": backend,
        "images": len(frames),
        "metrics": metrics,
        "deployed_threshold": deployed,
        "graph_ms_per_image": 1e3 * seconds / len(frames),
    }
    print(f"{model_path} on {data} ({len(frames)} test images, via edgead-runtime {backend})")
    print(format_metrics_table(metrics))
    print(format_verdicts(deployed))
    if compare_run is not None:
        report["torch"] = _compare_torch(compare_run, frames, outputs, labels, masks, index, batch, device)
    if json_out is not None:
        write_json(json_out, report)  # atomic: never half a file, never through a planted symlink
        print(f"wrote {json_out}")
    return report


def format_verdicts(v: dict[str, float]) -> str:
    """The confusion matrix at the deployed threshold, as a deployment's operator reads it."""
    return (
        f"at the deployed threshold {v['threshold']:g} (normalized score): {v['tp']} anomalous flagged, "
        f"{v['fn']} missed, {v['fp']} good flagged, {v['tn']} good passed; precision {v['precision']:.4f}, "
        f"recall {v['recall']:.4f}, F1 {v['f1']:.4f}"
    )


def _run_detector(detector: Detector, frames: np.ndarray, batch: int) -> tuple[dict[str, np.ndarray], float]:
    out: dict[str, list] = {name: [] for name in OUTPUT_NAMES}
    seconds = 0.0
    for start in tqdm(range(0, len(frames), batch), desc="scoring", unit="batch"):
        t0 = time.perf_counter()
        results = detector.predict_batch(list(frames[start : start + batch]))
        seconds += time.perf_counter() - t0
        for r in results:
            for name in OUTPUT_NAMES:
                out[name].append(getattr(r, name))
    return {name: np.asarray(values, dtype=np.float32) for name, values in out.items()}, seconds


def _compare_torch(
    run_dir: Path,
    frames: np.ndarray,
    onnx_out: dict[str, np.ndarray],
    labels: np.ndarray,
    masks: np.ndarray | None,
    index: np.ndarray,
    batch: int,
    device: str,
) -> dict[str, Any]:
    from edgead.export.parity import max_differences
    from edgead.train.device import prepare, resolve_device
    from edgead.train.fit import run_graph
    from edgead.train.run_dir import load_run

    target = resolve_device(device)
    _, graph, _ = load_run(run_dir)
    graph.to(target)
    print(f"torch on {prepare(target)}")
    torch_out = run_graph(graph, frames, batch, desc="torch")
    diffs, relative = max_differences(torch_out, onnx_out)
    torch_maps = None if masks is None else torch_out["raw_anomaly_map"][index]
    torch_metrics = evaluate(labels, torch_out["raw_score"], masks, torch_maps)
    print(
        f"torch vs runtime on {len(frames)} frames, max |diff|: "
        + ", ".join(f"{name} {value:.2e} (rel {relative[name]:.1e})" for name, value in diffs.items())
    )
    print("torch metrics:  " + ", ".join(f"{k} {v:.4f}" for k, v in torch_metrics.items()))
    return {"max_abs_diff": diffs, "max_relative_diff": relative, "metrics": torch_metrics}
