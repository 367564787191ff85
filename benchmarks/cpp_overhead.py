"""Whole-path latency of the C++ runtime vs the Python runtime on the same engine, as a share of the graph time.

    python benchmarks/cpp_overhead.py MODEL.onnx [MODEL.onnx ...] --data ../shared/data/mvtec_ad/bottle \
        [--batch 1 8] [--iters 50] [--json out.json]

Per model and batch size, four calls are timed round-robin in one run (bench.time_interleaved_samples):
graph alone through Python's OpenVINO backend and through the C++ backend (prepared uint8 batch in), and the
whole path (decoded frames in, results with full-size maps out) through `edgead_runtime.Detector` and
`edgead_cpp.Detector`, all on OpenVINO f32 with the same thread settings. Overhead = whole / graph - 1.
The Python path is also split (prepare_frame, np.stack, backend.run, make_result) to say where it spends time.
Needs `pip install ./cpp_bindings`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import edgead_cpp
import numpy as np

from edgead_runtime.bench import LatencyStats, machine_info, time_interleaved_samples
from edgead_runtime.detector import Detector, make_result
from edgead_runtime.preprocess import list_images, prepare_frame, read_image


def measure(model: Path, frames: list[np.ndarray], batch: int, warmup: int, iters: int) -> dict[str, float]:
    py = Detector(model, backend="openvino")
    cpp = edgead_cpp.Detector(str(model), "openvino")
    native = edgead_cpp.Backend.open(str(model), "openvino")
    chunk = frames[:batch]
    prepared = np.stack([prepare_frame(f, py.metadata.size) for f in chunk])
    calls = {
        "graph_python": lambda: py.backend.run(prepared),
        "graph_cpp": lambda: native.run(prepared),
        "whole_python": lambda: py.predict_batch(chunk),
        "whole_cpp": lambda: cpp.predict_batch(chunk),
    }
    out = py.backend.run(prepared)
    parts = {  # the Python whole path, split
        "py_prepare": lambda: [prepare_frame(f, py.metadata.size) for f in chunk],
        "py_stack": lambda: np.stack([prepared[i] for i in range(batch)]),
        "py_postprocess": lambda: [make_result(out, i, f.shape[:2], py.threshold) for i, f in enumerate(chunk)],
    }
    names = list(calls) + list(parts)
    samples = time_interleaved_samples([*calls.values(), *parts.values()], warmup, iters, block=10)
    p50 = {n: LatencyStats.from_seconds(s).p50_ms for n, s in zip(names, samples, strict=True)}
    py.close()
    return p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, required=True, help="MVTec-layout folder; its test images are the frames")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    frames = [read_image(p) for p in list_images(args.data / "test" / "broken_large")[: max(args.batch)]]
    rows = []
    print("| model | batch | graph py ms | graph C++ ms | whole py ms | whole C++ ms | C++/py whole | "
          "py overhead | C++ overhead | py prepare / stack / post ms |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for model in args.models:
        for batch in args.batch:
            p = measure(model, frames, batch, args.warmup, args.iters)
            row = {"model": model.name, "batch": batch, **p}
            row["py_overhead"] = p["whole_python"] / p["graph_python"] - 1
            row["cpp_overhead"] = p["whole_cpp"] / p["graph_cpp"] - 1
            row["cpp_to_python_whole"] = p["whole_cpp"] / p["whole_python"]
            rows.append(row)
            print(
                f"| {model.name} | {batch} | {p['graph_python']:.2f} | {p['graph_cpp']:.2f} | {p['whole_python']:.2f} "
                f"| {p['whole_cpp']:.2f} | {row['cpp_to_python_whole']:.3f} | {row['py_overhead']:+.1%} | "
                f"{row['cpp_overhead']:+.1%} | {p['py_prepare']:.2f} / {p['py_stack']:.2f} / "
                f"{p['py_postprocess']:.2f} |",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine_info(), "iters": args.iters, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
