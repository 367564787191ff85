"""Latency of exported graphs, with preprocessing timed apart so the split is visible.

Models given together are timed round-robin in short blocks, so drift (turbo, thermals, other
load) hits them alike and their ratio is fair. ``time_callable`` and
``time_interleaved`` take any callable, so the training side times a torch forward the same way.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from . import __version__
from .backends import open_backend
from .preprocess import prepare_frame, read_image

T = TypeVar("T")


@dataclass(frozen=True)
class LatencyStats:
    """Per-call wall time in milliseconds over the timed iterations (warm-up excluded)."""

    iters: int
    mean_ms: float
    std_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @classmethod
    def from_seconds(cls, samples: Sequence[float]) -> LatencyStats:
        ms = np.asarray(samples, dtype=np.float64) * 1e3
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        std = statistics.stdev(ms) if len(ms) > 1 else 0.0
        return cls(len(ms), float(ms.mean()), float(std), float(p50), float(p90), float(p99))


def time_interleaved(
    calls: Sequence[Callable[[], object]], warmup: int = 10, iters: int = 100, block: int = 10
) -> list[LatencyStats]:
    """Time each call ``iters`` times after ``warmup`` untimed calls, alternating calls in blocks.

    Each round runs one call ``block`` times in a row, after one untimed call: engines that keep
    their worker threads spinning after a call (ONNX Runtime does, for latency) would otherwise
    slow down whichever engine runs next, and the comparison would measure that cross-talk.
    """
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    for call in calls:
        for _ in range(warmup):
            call()
    samples: list[list[float]] = [[] for _ in calls]
    while len(samples[0]) < iters:
        for call, times in zip(calls, samples, strict=True):
            call()  # untimed: lets the previous engine's threads go idle
            for _ in range(min(block, iters - len(times))):
                start = time.perf_counter()
                call()
                times.append(time.perf_counter() - start)
    return [LatencyStats.from_seconds(times) for times in samples]


def time_callable(
    fn: Callable[[T], object], make_input: Callable[[], T], warmup: int = 10, iters: int = 100
) -> LatencyStats:
    """Time ``fn(x)``; ``x = make_input()`` is built once, outside the timing."""
    x = make_input()
    return time_interleaved([lambda: fn(x)], warmup, iters)[0]


def machine_info() -> dict[str, Any]:
    """What a latency number depends on, recorded beside it."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": ort_version,
        "numpy": np.__version__,
        "edgead_runtime": __version__,
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
    """Benchmark model files; returns the report that ``format_report`` prints and ``--json`` writes.

    Preprocessing is ``prepare_frame`` on the ``source`` image, or on a synthetic frame of twice the
    model size; the graph runs on copies of that prepared frame at each batch size.
    """
    backends = [open_backend(path, backend, **backend_options) for path in paths]
    try:
        models: list[dict[str, Any]] = []
        batches = []
        source_frame = read_image(source) if source is not None else None
        for b in backends:
            size = b.metadata.size
            frame = source_frame if source_frame is not None else _synthetic_frame(2 * size[0], 2 * size[1])
            (pre,) = time_interleaved([lambda f=frame, s=size: prepare_frame(f, s)], warmup, iters)
            batches.append(prepare_frame(frame, size))
            models.append(
                {
                    "path": str(b.path),
                    "backend": b.name,
                    "model": b.metadata.model,
                    "backbone": b.metadata.backbone,
                    "part": b.metadata.part,
                    "input_size": list(size),
                    "preprocess": {"frame_size": list(frame.shape[:2]), **asdict(pre)},
                    "graph": [],
                }
            )
        for n in batch_sizes:
            inputs = [np.ascontiguousarray(np.repeat(p[None], n, axis=0)) for p in batches]
            calls = [lambda b=b, x=x: b.run(x) for b, x in zip(backends, inputs, strict=True)]
            stats = time_interleaved(calls, warmup, iters)
            for model, s in zip(models, stats, strict=True):
                model["graph"].append(
                    {
                        "batch": n,
                        **asdict(s),
                        "fps": n * 1e3 / s.mean_ms,
                        "ratio_to_first": s.p50_ms / stats[0].p50_ms,
                    }
                )
    finally:
        for b in backends:
            b.close()
    return {
        "machine": machine_info(),
        "settings": {
            "batch_sizes": list(batch_sizes),
            "warmup": warmup,
            "iters": iters,
            "source": str(source) if source is not None else None,
            "interleaved": len(models) > 1,
        },
        "models": models,
    }


def format_report(report: dict[str, Any]) -> str:
    """A table: one preprocessing row and one row per batch size for each model."""
    m = report["machine"]
    lines = [
        f"{m['cpu']}, {m['cores']} cores, python {m['python']}, onnxruntime {m['onnxruntime']}",
        f"{'model':<32} {'stage':<11} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'mean±std ms':>14} "
        f"{'img/s':>8} {'vs first':>8}",
    ]
    for model in report["models"]:
        name = Path(model["path"]).name[:32]
        pre = model["preprocess"]
        h, w = pre["frame_size"]
        lines.append(_row(name, f"pre {h}x{w}", pre, 1e3 / pre["mean_ms"], None))
        for g in model["graph"]:
            lines.append(_row("", f"batch {g['batch']}", g, g["fps"], g["ratio_to_first"]))
    return "\n".join(lines)


def _row(name: str, stage: str, s: dict[str, Any], per_s: float, ratio: float | None) -> str:
    spread = f"{s['mean_ms']:.2f}±{s['std_ms']:.2f}"
    vs = f"{ratio:.2f}x" if ratio is not None else ""
    return (
        f"{name:<32} {stage:<11} {s['p50_ms']:>8.2f} {s['p90_ms']:>8.2f} {s['p99_ms']:>8.2f} {spread:>14} "
        f"{per_s:>8.1f} {vs:>8}"
    )


def _synthetic_frame(height: int, width: int) -> np.ndarray:
    """Smooth gradients plus noise: a frame resize cannot shortcut, reproducible without data."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], axis=-1)
    noise = rng.integers(-20, 21, size=base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)
