"""``edgead bench``: a run's torch eager forward and its exported graphs, timed round-robin in one run.

A command over a run and its exported files (not an export step); graph-only timing is ``edgead-runtime bench``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgead.train.device import prepare, resolve_device, synchronize
from edgead.train.run_dir import check_model_of_run, load_parity_frames, load_run
from edgead_runtime.backends import open_backend
from edgead_runtime.bench import machine_info, time_interleaved
from edgead_runtime.files import write_json


def bench_against_torch(
    run_dir: Path,
    models: list[Path],
    batch_sizes: list[int],
    warmup: int,
    iters: int,
    json_out: Path | None,
    device: str = "auto",
) -> dict[str, Any]:
    """``device``: where torch runs; on a GPU each timed call includes the frames' upload and waits for the result."""
    target = resolve_device(device)
    config, graph, calibration = load_run(run_dir)
    graph.to(target)
    torch_device = prepare(target)
    frame = load_parity_frames(run_dir)[0]
    backends = []
    try:
        for path in models:
            backends.append(open_backend(path))
            check_model_of_run(backends[-1].metadata, path, run_dir, config, calibration)
    except BaseException:
        for b in backends:
            b.close()
        raise
    names = ["torch eager", *(Path(p).name for p in models)]
    rows = []
    try:
        for n in batch_sizes:
            batch = np.ascontiguousarray(np.repeat(frame[None], n, axis=0))
            tensor = torch.from_numpy(batch)

            def torch_call(t: torch.Tensor = tensor) -> None:
                with torch.inference_mode():
                    graph(t.to(target))
                synchronize(target)

            calls = [torch_call, *(lambda b=b, x=batch: b.run(x) for b in backends)]
            for name, stats in zip(names, time_interleaved(calls, warmup, iters), strict=True):
                rows.append({"name": name, "batch": n, **asdict(stats), "fps": n * 1e3 / stats.mean_ms})
    finally:
        for b in backends:
            b.close()
    machine = machine_info()
    machine["torch"] = torch.__version__
    machine["torch_threads"] = torch.get_num_threads()
    machine["torch_device"] = torch_device
    print(f"{machine['cpu']}, {machine['cores']} cores, torch {torch.__version__} on {torch_device}")
    print(f"{'graph':<32} {'batch':>5} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'img/s':>8} {'vs torch':>9}")
    for row in rows:
        ref = next(r for r in rows if r["batch"] == row["batch"] and r["name"] == "torch eager")
        print(
            f"{row['name'][:32]:<32} {row['batch']:>5} {row['p50_ms']:>8.2f} {row['p90_ms']:>8.2f} "
            f"{row['p99_ms']:>8.2f} {row['fps']:>8.1f} {row['p50_ms'] / ref['p50_ms']:>8.2f}x"
        )
    report = {"machine": machine, "run": str(run_dir), "warmup": warmup, "iters": iters, "rows": rows}
    if json_out is not None:
        write_json(json_out, report)  # atomic: never half a file, never through a planted symlink
    return report
