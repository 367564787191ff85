"""Interleaved timing of any callables: backends here, a torch forward on the training side."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

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


def time_interleaved_samples(
    calls: Sequence[Callable[[], object]],
    warmup: int = 10,
    iters: int = 100,
    block: int = 10,
    own_times: Sequence[Callable[[], float | None]] | None = None,
) -> list[list[float]]:
    """Per call, ``iters`` wall times in seconds after ``warmup`` untimed calls, alternating calls in blocks.

    Each round runs one call ``block`` times in a row, after one untimed call: engines that keep
    their worker threads spinning after a call (ONNX Runtime does, for latency) would otherwise
    slow down whichever engine runs next, and the comparison would measure that cross-talk.
    ``own_times``: per call, the time the call recorded itself (``Backend.last_run_s``), taken in place of
    the wall time around it.
    """
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    for call in calls:
        for _ in range(warmup):
            call()
    samples: list[list[float]] = [[] for _ in calls]
    clocks = list(own_times) if own_times is not None else [None] * len(calls)
    while len(samples[0]) < iters:
        for call, times, clock in zip(calls, samples, clocks, strict=True):
            call()  # untimed: lets the previous engine's threads go idle
            for _ in range(min(block, iters - len(times))):
                start = time.perf_counter()
                call()
                elapsed = time.perf_counter() - start
                own = clock() if clock is not None else None
                times.append(elapsed if own is None else own)
    return samples


def time_interleaved(
    calls: Sequence[Callable[[], object]], warmup: int = 10, iters: int = 100, block: int = 10
) -> list[LatencyStats]:
    """``time_interleaved_samples`` summarised per call."""
    return [LatencyStats.from_seconds(s) for s in time_interleaved_samples(calls, warmup, iters, block)]


def time_callable(
    fn: Callable[[T], object], make_input: Callable[[], T], warmup: int = 10, iters: int = 100
) -> LatencyStats:
    """Time ``fn(x)``; ``x = make_input()`` is built once, outside the timing."""
    x = make_input()
    return time_interleaved([lambda: fn(x)], warmup, iters)[0]
