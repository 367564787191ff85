"""The capture stage: the shared frame loop (``sources.FrameLoop``) with the stream's flags and counters.

A file that ends is the end of the run; a live source that stops giving frames is an outage, logged
and retried (``--backoff FIRST MAX``, ``--max-reconnects``), never a crash; a corrupt frame is counted
and skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from ..sources import FrameLoop, LoopPolicy, Source
from .prometheus import Metrics

if TYPE_CHECKING:
    from .pipeline import StreamConfig

Log = Callable[[str], None]


class Capture:
    """Frames from a source, reopening a live one with exponential backoff when it drops out."""

    def __init__(
        self, source: Source, config: StreamConfig, metrics: Metrics, stop: threading.Event, log: Log, warn: Log
    ) -> None:
        self.source, self.metrics, self.warn = source, metrics, warn
        policy = LoopPolicy(loop=config.loop, max_reconnects=config.max_reconnects, backoff=config.backoff)
        self.loop = FrameLoop(
            source,
            policy,
            stop,
            log,
            warn,
            on_up=lambda up: metrics.set(source_up=up),
            on_reconnect=lambda: metrics.add("reconnects"),
        )

    @property
    def fps(self) -> float | None:
        return self.loop.fps

    def frames(self) -> Iterator[tuple[str, np.ndarray]]:
        for item in self.loop:
            if item.frame is None:
                self.metrics.add("corrupt")
                self.warn(f"skipped corrupt frame {item.name}: {item.error}")
                continue
            yield item.name, item.frame
