"""The capture stage: frames from a source, with a live source reopened on exponential backoff.

A file that ends is the end of the run; a live source that stops giving frames is an outage, logged
and retried (``--backoff FIRST MAX``, ``--max-reconnects``), never a crash.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SourceError
from ..sources import Source, frame_count
from .metrics import Metrics

if TYPE_CHECKING:
    from .pipeline import StreamConfig

Log = Callable[[str], None]
# a file whose reads fail this often in a row is cut short there, not a run of corrupt frames
MAX_BAD_FRAMES_IN_A_ROW = 100


class Capture:
    """Frames from a source, reopening a live one with exponential backoff when it drops out."""

    def __init__(
        self, source: Source, config: StreamConfig, metrics: Metrics, stop: threading.Event, log: Log, warn: Log
    ) -> None:
        self.source, self.config, self.metrics, self.stop = source, config, metrics, stop
        self.log, self.warn = log, warn
        self.fps: float | None = None

    def frames(self) -> Iterator[tuple[str, np.ndarray]]:
        if self.source.kind == "images":
            self.log(f"source {self.source.describe()}")
            self.metrics.set(source_up=True)
            while not self.stop.is_set():
                for item in self.source:
                    if self.stop.is_set():
                        return
                    if item.frame is None or item.frame.size == 0:
                        self.metrics.add("corrupt")
                        self.warn(f"skipped corrupt frame {item.name}: {item.error or 'empty'}")
                        continue
                    yield item.name, item.frame
                if not self.config.loop:
                    return
            return
        yield from self._capture()

    def _capture(self) -> Iterator[tuple[str, np.ndarray]]:
        capture = self._open(first=True)
        position = 0  # index of the next frame of this file (of the live source), corrupt ones included
        bad_in_a_row = 0
        try:
            while capture is not None and not self.stop.is_set():
                ok, frame = capture.read()
                if not ok and self._undecodable(capture, position, bad_in_a_row):
                    position, bad_in_a_row = position + 1, bad_in_a_row + 1
                    continue
                if not ok:
                    capture.release()
                    capture = None
                    if self.source.kind == "video":  # a file ends, even one played as a camera (--live)
                        if not self.config.loop:
                            self.metrics.set(source_up=False)
                            return  # end of the file
                        capture = self.source.open_capture()  # --loop: from the start again
                        position = 0
                        continue
                    self.metrics.set(source_up=False)
                    self.warn(f"source '{self.source.spec}' dropped out after frame {position - 1}; reopening")
                    capture = self._open(first=False)
                    continue
                bad_in_a_row = 0
                position += 1
                if frame is None or frame.size == 0:
                    self.metrics.add("corrupt")
                    self.warn(f"skipped an empty frame from '{self.source.spec}'")
                    continue
                yield f"{self.source.prefix}#frame={position - 1}", frame
        finally:
            if capture is not None:
                capture.release()

    def _undecodable(self, capture: Any, position: int, bad_in_a_row: int) -> bool:
        """Whether the failed read of frame ``position`` of a file lies inside it (a corrupt frame, counted and
        skipped: cv2's next read goes on after it) rather than at its end. A camera's or stream's failed read is a
        dropout, never this."""
        if self.source.kind != "video" or position >= frame_count(capture):
            return False
        if bad_in_a_row >= MAX_BAD_FRAMES_IN_A_ROW:
            self.warn(
                f"'{self.source.spec}': {bad_in_a_row} undecodable frames in a row before frame {position}; "
                "treating the rest of the file as unreadable (is it truncated?)"
            )
            return False
        self.metrics.add("corrupt")
        self.warn(f"skipped undecodable frame {position} of '{self.source.spec}'")
        return True

    def _open(self, first: bool) -> Any:
        """An opened capture, or None when stopping or after --max-reconnects failed attempts in a row."""
        first_wait, longest = self.config.backoff
        attempt = 0
        while not self.stop.is_set():
            try:
                capture = self.source.open_capture()
            except SourceError as exc:
                if not self.source.live or self.source.kind == "video":
                    raise  # a file that will not open is a mistake, not an outage
                attempt += 1
                limit = self.config.max_reconnects
                if limit is not None and attempt > limit:
                    raise SourceError(
                        f"gave up on '{self.source.spec}' after {limit} failed reopen attempts "
                        "(raise --max-reconnects, or leave it out to retry forever)"
                    ) from exc
                wait = min(first_wait * 2 ** (attempt - 1), longest)
                self.warn(f"cannot open '{self.source.spec}' (attempt {attempt}); retrying in {wait:.1f} s")
                self.stop.wait(wait)
                continue
            if not first:
                self.metrics.add("reconnects")
                self.warn(f"source '{self.source.spec}' reopened after {attempt + 1} attempt(s)")
            self.log(f"source {self.source.describe(capture)}")
            if self.fps is None:
                self.fps = self.source.frame_rate(capture)
            self.metrics.set(source_up=True)
            return capture
        return None
