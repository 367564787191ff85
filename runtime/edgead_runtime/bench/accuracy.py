"""Image and pixel AUROC of each target on a labelled test split, with deltas to its reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..backends.base import Backend
from ..errors import EdgeadError
from ..metadata import OUTPUT_NAMES

ACCURACY_BATCH = 8


def accuracy(backends: list[Backend], reports: list[dict[str, Any]], refs: list[int], data: Path) -> None:
    """Image and pixel AUROC of each full graph on the labelled test split of ``data`` (MVTec layout)."""
    from ..datasets import find_test_split, load_mask
    from ..metrics import auroc
    from ..preprocess import load_frame

    samples = find_test_split(data)
    if not samples:
        raise EdgeadError(
            f"--accuracy '{data}' has no labelled test split (test/good, test/<defect>); use the MVTec layout"
        )
    labels = np.array([s.label for s in samples])
    index = np.array([i for i, s in enumerate(samples) if s.label == 0 or s.mask_path is not None], dtype=int)
    loaded: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  # per input size: frames, masks
    for backend, report in zip(backends, reports, strict=True):
        if not set(OUTPUT_NAMES) <= set(backend.output_names):
            report["accuracy"] = None
            continue
        size = backend.metadata.size
        if size not in loaded:
            frames = np.stack([load_frame(s.path, size) for s in samples])
            masks = np.stack([load_mask(samples[i].mask_path, size) for i in index])
            loaded[size] = frames, masks
        frames, masks = loaded[size]
        scores, maps = [], []
        for start in range(0, len(frames), ACCURACY_BATCH):
            out = backend.run(frames[start : start + ACCURACY_BATCH])
            scores.append(out["raw_score"])
            maps.append(out["raw_anomaly_map"])
        score, amap = np.concatenate(scores), np.concatenate(maps)
        result: dict[str, Any] = {
            "images": len(samples),
            "anomalous": int(labels.sum()),
            "image_auroc": auroc(labels, score),
            "pixel_images": int(len(index)) if masks.any() else 0,
            "pixel_auroc": auroc(masks, amap[index]) if masks.any() else None,
        }
        report["accuracy"] = result
    for report, ref in zip(reports, refs, strict=True):  # references come first, so they are scored by now
        result, base = report["accuracy"], reports[ref]["accuracy"]
        if result is None:
            continue
        result["image_auroc_delta_to_reference"] = result["image_auroc"] - base["image_auroc"] if base else None
        both = base is not None and result["pixel_auroc"] is not None and base["pixel_auroc"] is not None
        result["pixel_auroc_delta_to_reference"] = result["pixel_auroc"] - base["pixel_auroc"] if both else None
