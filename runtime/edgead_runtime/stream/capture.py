"""The capture stage: one ``Feed`` per source, each read by the shared frame loop (``sources.FrameLoop``) on its
own thread into its own queue, with its own policy and counters.

A file that ends is the end of that source; a live source that stops giving frames is an outage, logged
and retried (``--backoff FIRST MAX``, ``--max-reconnects``), never a crash; a corrupt frame is counted
and skipped. Whatever one source does, the others' threads and queues go on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import FrameMismatchError
from ..sources import FrameLoop, LoopPolicy, Source
from .prometheus import Metrics
from .queues import FrameQueue
from .specs import Roi, SourceSpec

if TYPE_CHECKING:
    from .pipeline import StreamConfig

Log = Callable[[str], None]


@dataclass
class Captured:
    feed: Feed
    index: int
    name: str
    timestamp: float
    start: float  # perf_counter at capture, for the event's age
    frame: np.ndarray


class Feed:
    """One source of a run: its frame loop, its queue (drop-oldest if live, lossless if not), its ROI, and how
    its capture ended (``reason``, ``error``)."""

    def __init__(
        self,
        spec: SourceSpec,
        source: Source,
        config: StreamConfig,
        metrics: Metrics,
        cond: threading.Condition,
        stop: threading.Event,
        log: Log,
        warn: Log,
    ) -> None:
        self.name, self.source, self.metrics, self.warn = str(spec.name), source, metrics, warn
        self.roi: Roi | None = spec.roi if spec.roi is not None else config.roi
        self.max_frames = config.max_frames
        policy = LoopPolicy(
            loop=spec.loop if spec.loop is not None else config.loop,
            max_reconnects=spec.max_reconnects if spec.max_reconnects is not None else config.max_reconnects,
            backoff=spec.backoff or config.backoff,
            stall_timeout=config.stall_timeout,
        )
        self.loop = FrameLoop(
            source,
            policy,
            stop,
            log,
            warn,
            on_up=lambda up: metrics.set(self.name, source_up=up),
            on_reconnect=lambda: metrics.add("reconnects", source=self.name),
        )
        self.queue: FrameQueue[Captured] = FrameQueue(config.queue_size, drop_oldest=source.live, cond=cond)
        self.reason: str | None = None
        self.error: BaseException | None = None
        self._roi_fitted = False

    @property
    def fps(self) -> float | None:
        return self.loop.fps

    def capture(self) -> str:
        """Read the source into the queue until it ends, ``max_frames``, or the queue is closed; say why it
        stopped."""
        index = 0
        for item in self.loop:
            if item.frame is None:
                self.metrics.add("corrupt", source=self.name)
                self.warn(f"skipped corrupt frame {item.name}: {item.error}")
                continue
            dropped = self.queue.put(Captured(self, index, item.name, time.time(), time.perf_counter(), item.frame))
            if dropped < 0:
                return "stop requested"
            self.metrics.add("captured", source=self.name)
            self.metrics.set(self.name, last_frame=time.monotonic())
            self.metrics.add("dropped", dropped, source=self.name)
            self.metrics.set(self.name, queue_depth=len(self.queue))
            index += 1
            if self.max_frames is not None and index >= self.max_frames:
                return f"{index} frames (--max-frames)"
        return "stop requested" if self.loop.stop.is_set() else "end of source"

    def crop(self, captured: Captured) -> np.ndarray | None:
        """The ROI crop; None (skipped and counted) for a frame it does not fit, once an earlier frame did: a
        camera that comes back at another resolution. If the first frame does not fit, the ROI is wrong: an error."""
        if self.roi is None:
            return captured.frame
        x, y, w, h = self.roi
        height, width = captured.frame.shape[:2]
        if x + w > width or y + h > height:
            if self._roi_fitted:
                return None
            raise FrameMismatchError(
                f"--roi {x},{y},{w},{h} reaches outside the {width}x{height} frame {captured.name}"
            )
        self._roi_fitted = True
        return captured.frame[y : y + h, x : x + w]
