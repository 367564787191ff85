"""Where a graph spends its time: ONNX Runtime's per-operator profile, summed by operator type.

    python benchmarks/profile_ops.py MODEL.onnx [--batch 1] [--iters 50]

Runs the graph on a real-looking frame (a bottle image if ../shared/data is present, else noise)
with ORT profiling on, and prints each operator type's share of the kernel time. Use it to say
which part of a graph dominates (e.g. PatchCore: backbone convolutions vs the kNN GEMM).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgead_runtime.backends import open_backend
from edgead_runtime.preprocess import load_frame

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared/data/mvtec_ad/bottle/test/broken_large/000.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iters", type=int, default=50)
    args = parser.parse_args()
    with open_backend(args.model) as backend:  # reads and checks the metadata
        size = backend.metadata.size
    if SAMPLE.is_file():
        frame = load_frame(SAMPLE, size)
    else:
        frame = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    batch = np.repeat(frame[None], args.batch, axis=0)
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = f"/tmp/edgead-profile-{os.getpid()}"
    session = ort.InferenceSession(str(args.model), options, providers=["CPUExecutionProvider"])
    for _ in range(5):
        session.run(None, {"image": batch})
    Path(session.end_profiling()).unlink()  # drop the warm-up
    session = ort.InferenceSession(str(args.model), options, providers=["CPUExecutionProvider"])
    for _ in range(args.iters):
        session.run(None, {"image": batch})
    profile_path = session.end_profiling()
    totals: collections.Counter[str] = collections.Counter()
    for event in json.loads(Path(profile_path).read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            totals[event["args"]["op_name"]] += event["dur"]
    Path(profile_path).unlink()
    all_us = sum(totals.values())
    per_run_ms = all_us / args.iters / 1e3
    print(f"{args.model}: batch {args.batch}, {args.iters} runs, {per_run_ms:.2f} ms kernel time per run")
    for op, us in totals.most_common(10):
        print(f"  {op:<20} {us / args.iters / 1e3:7.2f} ms  {100 * us / all_us:5.1f} %")


if __name__ == "__main__":
    main()
