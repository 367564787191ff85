"""Parity of the C++ runtime with the Python runtime on a whole MVTec-layout test split.

    python benchmarks/cpp_parity.py MODEL.onnx [MODEL.onnx ...] --data ../shared/data/mvtec_ad/bottle

Every test image is decoded once and given, as the same numpy frame, to `edgead_cpp.Detector` (C++, OpenVINO f32)
and to `edgead_runtime.Detector` (Python, ONNX Runtime). Prints per model: images, max |diff| of the prepared
frame (uint8), of the normalized score and of the normalized map at frame size, identical labels, and the image
AUROC of each side's raw score. Needs `pip install ./cpp_bindings`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import edgead_cpp
import numpy as np

from edgead_runtime.datasets import find_test_split
from edgead_runtime.detector import Detector
from edgead_runtime.metrics import auroc
from edgead_runtime.preprocess import prepare_frame, read_image


def parity(model: Path, data: Path) -> dict[str, float]:
    samples = find_test_split(data)
    cpp = edgead_cpp.Detector(str(model), "openvino")
    frame_diff, score_diff, map_diff, same = 0, 0.0, 0.0, 0
    labels, py_raw, cpp_raw = [], [], []
    with Detector(model, backend="onnxruntime") as py:
        size = py.metadata.size
        for s in samples:
            frame = read_image(s.path)
            diff = np.abs(prepare_frame(frame, size).astype(int) - edgead_cpp.prepare_frame(frame, size).astype(int))
            frame_diff = max(frame_diff, int(diff.max()))
            a, b = py.predict(frame), cpp.predict(frame)
            score_diff = max(score_diff, abs(a.score - b.score))
            map_diff = max(map_diff, float(np.abs(a.anomaly_map - b.anomaly_map).max()))
            same += a.is_anomalous == b.is_anomalous
            labels.append(s.label)
            py_raw.append(a.raw_score)
            cpp_raw.append(b.raw_score)
    y = np.array(labels)
    return {
        "images": len(samples),
        "frame_max_diff": frame_diff,
        "score_max_diff": score_diff,
        "map_max_diff": map_diff,
        "same_labels": same,
        "auroc_python": auroc(y, np.array(py_raw)),
        "auroc_cpp": auroc(y, np.array(cpp_raw)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    print("| model | images | frame max diff | score max diff | map max diff | same labels | AUROC py | AUROC C++ |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for model in args.models:
        r = parity(model, args.data)
        print(
            f"| {model.name} | {r['images']} | {r['frame_max_diff']} | {r['score_max_diff']:.2e} | "
            f"{r['map_max_diff']:.2e} | {r['same_labels']}/{r['images']} | {r['auroc_python']:.4f} | "
            f"{r['auroc_cpp']:.4f} |"
        )


if __name__ == "__main__":
    main()
