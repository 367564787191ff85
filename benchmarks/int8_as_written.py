"""An int8 graph's accuracy two ways on this machine: ONNX Runtime as deployed, and with its Q/DQ computed as written.

    python benchmarks/int8_as_written.py MODEL.int8.onnx --data MVTEC_CATEGORY [--json OUT]

ONNX Runtime's default optimizations fuse each QuantizeLinear/DequantizeLinear pair around a Conv into an integer
kernel; on x86 CPUs without VNNI that kernel's int16 pair sums saturate (docs/precision.md). With basic
optimizations only, every Q/DQ is computed as written: values are rounded to int8 exactly as TensorRT rounds them,
and the products accumulate without saturating, as TensorRT's int32 accumulators do. That second figure is
what an int8 engine should score; the first is what this CPU gives with onnxruntime. Same test images, masks and
metrics as ``edgead evaluate``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from edgead.export.onnx_files import onnx_metadata
from edgead.export.parity import onnxruntime_outputs
from edgead.train.data import find_dataset, load_frames, load_masks
from edgead.train.metrics import evaluate, format_metrics_table
from edgead_runtime.backends.onnxruntime import int8_saturates_here
from edgead_runtime.metadata import ModelMetadata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    size = ModelMetadata.from_json(onnx_metadata(args.model), str(args.model)).size
    dataset = find_dataset(args.data)
    frames, _ = load_frames([s.path for s in dataset.test], size, desc="test images")
    labels = np.array([s.label for s in dataset.test])
    masks, index = load_masks(dataset.test, size)
    report = {"model": str(args.model), "images": len(frames), "cpu_without_vnni": int8_saturates_here()}
    for name, as_written in (("onnxruntime_default", False), ("qdq_as_written", True)):
        outputs = onnxruntime_outputs(args.model, frames, simulate_quantization=as_written, batch=8)
        scores, maps = outputs["raw_score"], outputs["raw_anomaly_map"]
        report[name] = evaluate(labels, scores.reshape(-1), masks, maps.reshape(len(frames), *size)[index])
        print(f"{name}:\n{format_metrics_table(report[name])}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
