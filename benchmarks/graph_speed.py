"""Latency of ONNX graphs side by side: ONNX Runtime (and OpenVINO) CPU, one interleaved run, ratios.

    python benchmarks/graph_speed.py NAME=MODEL.onnx ... [--batch 1 8] [--threads 2] [--openvino] [--json OUT]

Every graph x engine x batch is one target of ``edgead_runtime.bench.time_interleaved`` (blocks of calls
with a settling call between targets), so a loaded machine slows all of them alike and the ratios hold.
Graphs need not be edgead's: any single-input image graph gets the bottle frame in the layout it takes
(``profile_ops.graph_input``). Use it for whole graph vs backbone-only graph, before vs after a change. A graph
with a fixed batch dimension (anomalib 2.7's exports) is timed only at that batch: give one graph per batch.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import onnxruntime as ort
from profile_ops import graph_input

from edgead_runtime.bench import machine_info, time_interleaved


def fixed_batch(path: Path) -> int | None:
    """The batch size a graph's input is fixed to, or None when its batch dimension is symbolic."""
    dim = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()[0].shape[0]
    return dim if isinstance(dim, int) else None


def ort_target(path: Path, batch: int, threads: int):  # noqa: ANN201
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = graph_input(session, batch)
    return lambda: session.run(None, feed)


def openvino_target(path: Path, batch: int, threads: int):  # noqa: ANN201
    import openvino as ov

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])  # only to shape the input
    (x,) = graph_input(session, batch).values()
    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
    request = ov.Core().compile_model(str(path), "CPU", config).create_infer_request()
    return lambda: request.infer([x])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("graphs", nargs="+", help="NAME=MODEL.onnx; ratios are against the first")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--openvino", action="store_true", help="also time each graph on OpenVINO CPU (f32)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    graphs = dict(g.split("=", 1) for g in args.graphs)
    engines = {"onnxruntime": ort_target} | ({"openvino": openvino_target} if args.openvino else {})
    fixed = {name: fixed_batch(Path(path)) for name, path in graphs.items()}
    keys, calls = [], []
    for batch in args.batch:
        for engine, make in engines.items():
            for name, path in graphs.items():
                if fixed[name] not in (None, batch):
                    continue
                keys.append((engine, batch, name))
                calls.append(make(Path(path), batch, args.threads))
    stats = dict(zip(keys, time_interleaved(calls, 5, args.iters), strict=True))
    first = next(iter(graphs))
    rows = []
    for (engine, batch, name), s in stats.items():
        ratio = s.p50_ms / stats[(engine, batch, first)].p50_ms if (engine, batch, first) in stats else float("nan")
        rows.append({"engine": engine, "batch": batch, "graph": name, "ratio_to_first": ratio, **asdict(s)})
        print(f"{engine:<12} batch {batch:<3} {name:<24} p50 {s.p50_ms:8.2f} ms  {ratio:5.2f}x {first}")
    if args.json:
        report = {"machine": machine_info(), "graphs": graphs, "threads": args.threads, "rows": rows}
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
