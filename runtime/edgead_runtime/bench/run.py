"""The run: open every target, time stages and batches interleaved, add accuracy and memory, return the report."""

from __future__ import annotations

import datetime
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..backends.base import Backend
from ..errors import EdgeadError
from ..metadata import OUTPUT_NAMES
from ..system import machine_info, peak_rss_mb
from .accuracy import accuracy as measure_accuracy
from .frames import synthetic_file
from .memory import measure_memory
from .targets import Target, parse_targets, reference_indices
from .timing import LatencyStats, time_interleaved, time_interleaved_samples

SCHEMA = "edgead-bench/2"  # bump when a field changes meaning or goes away; adding fields keeps it


def bench(
    targets: Sequence[Target],
    batch_sizes: Sequence[int] = (1, 8),
    warmup: int = 10,
    iters: int = 100,
    source: str | Path | None = None,
    accuracy: str | Path | None = None,
    memory: bool = True,
    block: int = 10,
    backend_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Time every target in one interleaved run; add per-target memory and accuracy; return the report."""
    from tqdm import tqdm

    from ..preprocess import read_image

    if not targets:
        raise EdgeadError("nothing to benchmark; give at least one model file")
    if not batch_sizes or min(batch_sizes) < 1:
        raise EdgeadError(f"batch sizes must be >= 1, got {list(batch_sizes)}")
    options = dict(backend_options or {})
    backends: list[Backend] = []
    with tempfile.TemporaryDirectory(prefix="edgead-bench-") as tmp:
        try:
            open_ms = []
            for target in targets:
                start = time.perf_counter()
                backends.append(target.open(options))
                open_ms.append((time.perf_counter() - start) * 1e3)
            frame_path = Path(source) if source is not None else synthetic_file(backends[0], Path(tmp))
            frame = read_image(frame_path)
            (decode,) = time_interleaved([lambda: read_image(frame_path)], warmup, iters, block)
            reports = [_describe(t, b) for t, b in zip(targets, backends, strict=True)]
            for report, ms in zip(reports, open_ms, strict=True):
                report["startup"] = {"open_ms": ms}
            refs = reference_indices(targets)
            for report, ref in zip(reports, refs, strict=True):
                report["reference"] = targets[ref].label
            steps = tqdm(total=1 + len(batch_sizes) + bool(accuracy), desc="bench", unit="step")
            try:
                prepared = _time_stages(backends, reports, frame, warmup, iters, block)
                steps.update()
                for n in batch_sizes:
                    steps.set_postfix_str(f"batch {n}")
                    _time_batch(backends, reports, refs, prepared, n, warmup, iters, block)
                    steps.update()
                if accuracy is not None:
                    steps.set_postfix_str("accuracy")
                    measure_accuracy(backends, reports, refs, Path(accuracy))
                    steps.update()
            finally:
                steps.close()
        finally:
            for b in backends:
                b.close()
    decode_ms = decode.p50_ms
    for report in reports:
        report["pipeline_fps"] = _pipeline_fps(report, decode_ms)
        report["memory"] = measure_memory(report, options, max(batch_sizes)) if memory else None
    return {
        "schema": SCHEMA,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {
            "batch_sizes": list(batch_sizes),
            "warmup": warmup,
            "iters": iters,
            "block": block,
            "interleaved": len(targets) > 1,
            "source": str(source) if source is not None else None,
            "frame_size": list(frame.shape[:2]),
            "backend_options": options,
            "accuracy_data": str(accuracy) if accuracy is not None else None,
            "memory": memory,
        },
        "decode": asdict(decode),
        "targets": reports,
        "process_peak_rss_mb": peak_rss_mb(),
    }


def bench_model(
    paths: Sequence[str | Path],
    batch_sizes: Sequence[int] = (1, 8),
    warmup: int = 10,
    iters: int = 100,
    source: str | Path | None = None,
    backend: str = "auto",
    **backend_options: Any,
) -> dict[str, Any]:
    """Model files on one backend, no memory probe: the short form (``edgead demo`` uses it)."""
    targets = parse_targets(paths, backend=backend)
    return bench(targets, batch_sizes, warmup, iters, source, memory=False, backend_options=backend_options)


def _describe(target: Target, backend: Backend) -> dict[str, Any]:
    meta = backend.metadata
    return {
        "label": target.label,
        "path": str(target.path),
        "backend": backend.name,
        "precision": target.precision,
        "engine": backend.describe(),
        "model": meta.model,
        "backbone": meta.backbone,
        "part": meta.part,
        "input_size": list(meta.size),
        "batches": [],
    }


def _time_stages(
    backends: list[Backend], reports: list[dict[str, Any]], frame: np.ndarray, warmup: int, iters: int, block: int
) -> list[np.ndarray]:
    """Preprocess and postprocess of one frame per target (interleaved); returns each target's input frame."""
    from ..detector import make_result
    from ..preprocess import prepare_frame

    prepared = [prepare_frame(frame, b.metadata.size) for b in backends]
    for backend, x, report in zip(backends, prepared, reports, strict=True):  # before any warm-up: cold
        backend.run(x[None])
        report["startup"]["first_call_ms"] = backend.last_run_s * 1e3  # the backend times its own call
    pre = time_interleaved([lambda b=b: prepare_frame(frame, b.metadata.size) for b in backends], warmup, iters, block)
    full = [i for i, b in enumerate(backends) if set(OUTPUT_NAMES) <= set(b.output_names)]
    outputs = {i: backends[i].run(prepared[i][None]) for i in full}
    calls = [
        lambda out=outputs[i], b=backends[i]: make_result(out, 0, frame.shape[:2], b.metadata.threshold) for i in full
    ]
    post = dict(zip(full, time_interleaved(calls, warmup, iters, block), strict=True)) if calls else {}
    for i, report in enumerate(reports):
        report["preprocess"] = asdict(pre[i])
        report["postprocess"] = asdict(post[i]) if i in post else None  # a backbone graph has no map to resize
    return prepared


def _time_batch(
    backends: list[Backend],
    reports: list[dict[str, Any]],
    refs: list[int],
    prepared: list[np.ndarray],
    n: int,
    warmup: int,
    iters: int,
    block: int,
) -> None:
    inputs = [np.ascontiguousarray(np.repeat(p[None], n, axis=0)) for p in prepared]
    calls = [lambda b=b, x=x: b.run(x) for b, x in zip(backends, inputs, strict=True)]
    own_times = [lambda b=b: b.last_run_s for b in backends]  # each backend times its own graph call
    samples = time_interleaved_samples(calls, warmup, iters, block, own_times)
    stats = [LatencyStats.from_seconds(s) for s in samples]
    for report, s, times, ref in zip(reports, stats, samples, refs, strict=True):
        fps = n * 1e3 / s.mean_ms
        report["batches"].append(
            {
                "batch": n,
                **asdict(s),
                "fps": fps,
                "ratio_to_reference": s.p50_ms / stats[ref].p50_ms,
                "fps_ratio_to_reference": fps / (n * 1e3 / stats[ref].mean_ms),
                "samples_ms": [round(t * 1e3, 4) for t in times],
            }
        )


def _pipeline_fps(report: dict[str, Any], decode_ms: float) -> float | None:
    """Frames/s if decode, preprocess, graph (per frame, smallest batch) and postprocess ran back to back."""
    if report["postprocess"] is None:
        return None
    smallest = min(report["batches"], key=lambda g: g["batch"])
    per_frame = decode_ms + report["preprocess"]["p50_ms"] + smallest["p50_ms"] / smallest["batch"]
    return 1e3 / (per_frame + report["postprocess"]["p50_ms"])
