"""Where a graph spends its time: ONNX Runtime's per-operator profile, summed by operator type.

    python benchmarks/profile_ops.py MODEL.onnx [--batch 1] [--iters 50] [--threads 2] [--nodes 10]

Runs the graph on a real-looking frame (a bottle image if ../shared/data is present, else noise)
with ORT profiling on, and prints each operator type's share of the kernel time (operators as ORT runs
them, after its graph optimizations: fused Conv+activation, NCHWc reorders, Gemm). Use it to say
which part of a graph dominates (e.g. PatchCore: backbone convolutions vs the kNN GEMM).

Any single-input image graph works, not only edgead's: a uint8 [N, H, W, 3] input gets BGR frames as
edgead's runtime sends them, a float [N, 3, H, W] input (e.g. anomalib's export) the same frames as
RGB in [0, 1]. ``--nodes N`` also lists the N most expensive single nodes.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgead_runtime.preprocess import load_frame

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared/data/mvtec_ad/bottle/test/broken_large/000.png"


def graph_input(session: ort.InferenceSession, batch: int) -> dict[str, np.ndarray]:
    """A batch of the sample frame in the layout and type the graph's one input takes."""
    (inp,) = session.get_inputs()
    nhwc = inp.type == "tensor(uint8)"
    height, width = inp.shape[1:3] if nhwc else inp.shape[2:4]
    if isinstance(inp.shape[0], int):
        batch = inp.shape[0]  # a graph exported with a fixed batch takes only that
    size = (int(height), int(width))
    if SAMPLE.is_file():
        frame = load_frame(SAMPLE, size)
    else:
        frame = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    frames = np.repeat(frame[None], batch, axis=0)
    if not nhwc:
        frames = np.ascontiguousarray(frames[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
    return {inp.name: frames}


def profile(model: Path, batch: int, iters: int, threads: int | None) -> tuple[dict[str, float], dict[str, float], int]:
    """Mean kernel ms per run by operator type and by node, and the batch the graph ran (a fixed one wins)."""
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.enable_profiling = True
    options.profile_file_prefix = f"/tmp/edgead-profile-{os.getpid()}"
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    feed = graph_input(session, batch)
    for _ in range(5):
        session.run(None, feed)
    Path(session.end_profiling()).unlink()  # drop the warm-up
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    for _ in range(iters):
        session.run(None, feed)
    profile_path = session.end_profiling()
    by_op: collections.Counter[str] = collections.Counter()
    by_node: collections.Counter[str] = collections.Counter()
    for event in json.loads(Path(profile_path).read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            by_op[event["args"]["op_name"]] += event["dur"] / iters / 1e3
            by_node[f"{event['args']['op_name']} {event['name'].removesuffix('_kernel_time')}"] += (
                event["dur"] / iters / 1e3
            )
    Path(profile_path).unlink()
    return dict(by_op), dict(by_node), len(next(iter(feed.values())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--threads", type=int, help="intra-op threads (default: ORT's, one per core)")
    parser.add_argument("--nodes", type=int, default=0, help="also list the N most expensive nodes")
    args = parser.parse_args()
    by_op, by_node, batch = profile(args.model, args.batch, args.iters, args.threads)
    total = sum(by_op.values())
    print(f"{args.model}: batch {batch}, {args.iters} runs, {total:.2f} ms kernel time per run")
    for op, ms in sorted(by_op.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {op:<20} {ms:7.2f} ms  {100 * ms / total:5.1f} %")
    for node, ms in sorted(by_node.items(), key=lambda kv: -kv[1])[: args.nodes]:
        print(f"  node {node:<60} {ms:7.3f} ms")


if __name__ == "__main__":
    main()
