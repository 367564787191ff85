"""Capture, inference and sinks on three threads joined by bounded queues.

A live source (camera, URL, GStreamer) runs at its own pace: when inference falls behind, the
oldest waiting frame is dropped and counted, so the newest frame is always the next one scored.
A file source is read losslessly (the reader waits for room). A source that drops out is reopened
with exponential backoff; a corrupt frame is counted and skipped. SIGINT/SIGTERM stop capture,
then the queues drain and every sink is closed, so no frame already captured loses its event.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from ..detector import Detector, Result
from ..errors import EdgeadError, FrameMismatchError
from ..opencv import describe_build
from ..sources import Source, open_source
from ..system import memory_kb
from .capture import Capture
from .prometheus import Metrics, MetricsServer
from .sinks import AnomalySaver, Event, EventLog, Roi, Sink, VideoSink, WindowSink

T = TypeVar("T")
Log = Callable[[str], None]


def _info(message: str) -> None:
    print(message, flush=True)


def _warn(message: str) -> None:
    print(f"edgead-runtime: warning: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class StreamConfig:
    """One run of the stream service; the CLI flags map 1:1 onto these fields (see docs/stream.md)."""

    model: Path
    source: str
    backend: str = "auto"
    backend_options: dict[str, Any] = field(default_factory=dict)
    threshold: float | None = None
    batch: int = 1
    queue_size: int = 8
    roi: Roi | None = None
    live: bool | None = None  # None: from the source kind; True: treat a file like a camera
    loop: bool = False  # start a file source again at its end (demos, soak tests)
    events: Path | None = None
    save_dir: Path | None = None
    video_out: Path | None = None
    show: bool = False
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    status_every: float = 10.0  # seconds; 0 turns the status line off
    status_json: Path | None = None  # also append each status as a JSON line (an RSS/fps curve over time)
    max_reconnects: int | None = None  # consecutive failed reopen attempts before giving up; None: never
    backoff: tuple[float, float] = (0.5, 30.0)  # first and longest wait between reopen attempts, seconds
    max_frames: int | None = None  # stop after this many captured frames


@dataclass
class StreamSummary:
    """What a run did: the final counters, why it stopped, memory at start and end."""

    source: str
    stop_reason: str
    counts: dict[str, int]
    fps: float
    p50_ms: float | None
    p99_ms: float | None
    memory_start_kb: dict[str, int]
    memory_end_kb: dict[str, int]
    wall_s: float
    outputs: dict[str, Any]
    metrics_url: str | None = None


class FrameQueue(Generic[T]):
    """A bounded FIFO that either blocks the producer (lossless) or drops its oldest item (live).

    ``close()`` lets the consumer drain what is left and then see the end; a put after close is refused.
    """

    def __init__(self, maxsize: int, drop_oldest: bool) -> None:
        if maxsize < 1:
            raise ValueError(f"queue size must be >= 1, got {maxsize}")
        self.maxsize, self.drop_oldest = maxsize, drop_oldest
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self.closed = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> int:
        """Add ``item``; return how many old items were dropped to make room (0 or 1), or -1 if closed."""
        with self._cond:
            dropped = 0
            while len(self._items) >= self.maxsize and not self.closed:
                if self.drop_oldest:
                    self._items.popleft()
                    dropped += 1
                else:
                    self._cond.wait()
            if self.closed:
                return -1
            self._items.append(item)
            self._cond.notify_all()
            return dropped

    def get_many(self, n: int) -> list[T]:
        """Wait for at least one item, then take up to ``n`` without waiting more; [] once closed and empty."""
        with self._cond:
            while not self._items and not self.closed:
                self._cond.wait()
            taken = [self._items.popleft() for _ in range(min(n, len(self._items)))]
            self._cond.notify_all()
            return taken

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


@dataclass
class Captured:
    index: int
    name: str
    timestamp: float
    start: float  # perf_counter at capture, for the event's age
    frame: np.ndarray


def _crop(frame: np.ndarray, roi: Roi | None, name: str) -> np.ndarray:
    if roi is None:
        return frame
    x, y, w, h = roi
    height, width = frame.shape[:2]
    if x + w > width or y + h > height:
        raise FrameMismatchError(f"--roi {x},{y},{w},{h} reaches outside the {width}x{height} frame {name}")
    return frame[y : y + h, x : x + w]


def _score(detector: Detector, crops: list[np.ndarray | None]) -> list[Result | None]:
    """One batch call; if one odd frame (say float pixels, or None: no ROI crop) spoils it, frame by frame,
    None for the bad ones."""
    try:
        if all(crop is not None for crop in crops):
            return list(detector.predict_batch(crops))
    except FrameMismatchError:
        pass
    results: list[Result | None] = []
    for crop in crops:
        try:
            results.append(None if crop is None else detector.predict(crop))
        except FrameMismatchError:
            results.append(None)
    return results


def _build_sinks(config: StreamConfig, fps: Callable[[], float | None], on_quit: Callable[[], None]) -> list[Sink]:
    """In write order: the saver first, so the event log line names the saved files."""
    sinks: list[Sink] = []
    try:
        if config.save_dir is not None:
            sinks.append(AnomalySaver(config.save_dir))
        if config.video_out is not None:
            sinks.append(VideoSink(config.video_out, fps))
        if config.show:
            sinks.append(WindowSink(f"edgead: {config.source}", on_quit))
        if config.events is not None:
            sinks.append(EventLog(config.events))
    except EdgeadError:
        for sink in sinks:
            sink.close()
        raise
    return sinks


def run_stream(
    config: StreamConfig, log: Log = _info, warn: Log = _warn, stop: threading.Event | None = None
) -> StreamSummary:
    """Run until the source ends, ``max_frames`` are captured, SIGINT/SIGTERM, or ``stop`` is set (for
    embedding the service in another program); return what happened."""
    if config.batch < 1 or config.queue_size < 1:
        raise EdgeadError(f"--batch and --queue-size must be >= 1, got {config.batch} and {config.queue_size}")
    source = open_source(config.source).with_live(config.live)
    source.check_backends()
    if source.uses_opencv_capture:
        log(describe_build())
    started = time.perf_counter()
    with Detector(config.model, config.backend, config.threshold, **config.backend_options) as detector:
        meta = detector.metadata
        log(
            f"model {config.model} ({meta.model}, {meta.backbone}, {meta.height}x{meta.width}) on "
            f"{detector.backend.name}, threshold {detector.threshold:g}, batch {config.batch}"
        )
        run = _Run(config, source, detector, stop or threading.Event(), log, warn)
        memory_start = memory_kb()
        run.start()
        try:
            _supervise(run, config.status_every, config.status_json)
        finally:
            run.finish()
        snap = run.metrics.snapshot()
    if run.errors:
        raise run.errors[0]
    return StreamSummary(
        source=source.describe(),
        stop_reason=run.stop_reason,
        counts={k: snap[k] for k in ("captured", "processed", "anomalies", "dropped", "corrupt", "reconnects")},
        fps=snap["fps"],
        p50_ms=snap["p50_ms"],
        p99_ms=snap["p99_ms"],
        memory_start_kb=memory_start,
        memory_end_kb=memory_kb(),
        wall_s=time.perf_counter() - started,
        outputs=_outputs(run.sinks),
        metrics_url=run.server.url if run.server is not None else None,
    )


class _Run:
    """The three stage loops and what they share; each stage closes its output queue when it ends."""

    def __init__(
        self, config: StreamConfig, source: Source, detector: Detector, stop: threading.Event, log: Log, warn: Log
    ) -> None:
        self.config, self.detector, self.stop, self.log, self.warn = config, detector, stop, log, warn
        self.metrics = Metrics(
            labels={"model": str(config.model), "backend": detector.backend.name, "source": config.source}
        )
        self.capture = Capture(source, config, self.metrics, stop, log, warn)
        self.reasons: list[str] = []
        self.errors: list[BaseException] = []
        self.sinks = _build_sinks(config, lambda: self.capture.fps, lambda: self.request_stop("window closed"))
        self.server: MetricsServer | None = None
        try:
            if config.metrics_port is not None:
                self.server = MetricsServer(self.metrics, config.metrics_port, config.metrics_host)
                log(f"metrics on {self.server.url}")
        except EdgeadError:
            _close_all(self.sinks)
            raise
        self.frames: FrameQueue[Captured] = FrameQueue(config.queue_size, drop_oldest=source.live)
        self.events: FrameQueue[Event] = FrameQueue(config.queue_size, drop_oldest=False)
        self.threads = [
            threading.Thread(
                target=self._guarded(self._capture, None, self.frames), name="edgead-capture", daemon=True
            ),
            threading.Thread(
                target=self._guarded(self._infer, self.frames, self.events), name="edgead-inference", daemon=True
            ),
            threading.Thread(target=self._guarded(self._write, self.events, None), name="edgead-sinks", daemon=True),
        ]
        self._restore_signals: Callable[[], None] = lambda: None
        self._roi_fitted = False

    @property
    def stop_reason(self) -> str:
        return self.reasons[0] if self.reasons else "stop requested"

    def request_stop(self, reason: str) -> None:
        if not self.reasons:
            self.reasons.append(reason)
        self.stop.set()

    def start(self) -> None:
        self._restore_signals = _install_signal_handlers(self.request_stop, self.warn)
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        """Stop capture, let inference and the sinks drain and close, then stop serving metrics."""
        self.request_stop("stop requested" if self.stop.is_set() else "interrupted")  # keeps an earlier reason
        self.frames.close()
        for thread in self.threads[1:]:
            thread.join()
        self._restore_signals()  # only now: a signal while draining must not abort the drain
        for sink in self.sinks:
            if isinstance(sink, WindowSink):
                sink.destroy()
        if self.server is not None:
            self.server.close()

    def _capture(self) -> None:
        index, max_frames = 0, self.config.max_frames
        for name, frame in self.capture.frames():
            dropped = self.frames.put(Captured(index, name, time.time(), time.perf_counter(), frame))
            if dropped < 0:
                return
            self.metrics.add("captured")
            self.metrics.add("dropped", dropped)
            self.metrics.set(queue_depth=len(self.frames))
            index += 1
            if max_frames is not None and index >= max_frames:
                self.request_stop(f"{index} frames (--max-frames)")
                return
        if not self.stop.is_set():
            self.request_stop("end of source")

    def _infer(self) -> None:
        while batch := self.frames.get_many(self.config.batch):
            self.metrics.set(queue_depth=len(self.frames))
            t0 = time.perf_counter()
            results = _score(self.detector, [self._crop(c) for c in batch])
            latency = (time.perf_counter() - t0) / len(batch)
            done = time.perf_counter()
            for c, result in zip(batch, results, strict=True):
                if result is None:
                    self.metrics.add("corrupt")
                    roi = " and --roi" if self.config.roi else ""
                    self.warn(
                        f"skipped frame {c.name}: not usable for this model{roi} ({c.frame.dtype}, {c.frame.shape})"
                    )
                    continue
                self.metrics.processed(latency, result.score, result.is_anomalous)
                age_ms = (done - c.start) * 1e3
                event = Event(c.index, c.name, c.timestamp, c.frame, self.config.roi, result, latency * 1e3, age_ms)
                if self.events.put(event) < 0:
                    return

    def _crop(self, captured: Captured) -> np.ndarray | None:
        """The --roi crop; None (skipped and counted) for a frame it does not fit, once an earlier frame did: a
        camera that comes back at another resolution. If the first frame does not fit, --roi is wrong: an error."""
        try:
            crop = _crop(captured.frame, self.config.roi, captured.name)
        except FrameMismatchError:
            if not self._roi_fitted:
                raise
            return None
        self._roi_fitted = True
        return crop

    def _write(self) -> None:
        try:
            while batch := self.events.get_many(16):
                for event in batch:
                    for sink in self.sinks:
                        sink.write(event)
        finally:
            _close_all(self.sinks)

    def _guarded(self, fn: Callable[[], None], inputs: FrameQueue | None, outputs: FrameQueue | None) -> Callable:
        def target() -> None:
            try:
                fn()
            except BaseException as exc:  # reported by the main thread after shutdown
                self.errors.append(exc)
                self.request_stop("error")
                if inputs is not None:
                    inputs.close()  # unblock the producer feeding this stage
            finally:
                if outputs is not None:
                    outputs.close()  # the next stage drains what is left, then ends

        return target


def _close_all(sinks: list[Sink]) -> None:
    """Close every sink even if one fails to, then raise the first failure."""
    failures = []
    for sink in sinks:
        try:
            sink.close()
        except Exception as exc:
            failures.append(exc)
    if failures:
        raise failures[0]


def _outputs(sinks: list[Sink]) -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    for sink in sinks:
        if isinstance(sink, EventLog):
            outputs["events"] = {"path": str(sink.path), "lines": sink.count}
        elif isinstance(sink, VideoSink):
            outputs["video"] = {"path": str(sink.path), "frames": sink.count, "fps": sink.fps_used}
        elif isinstance(sink, AnomalySaver):
            outputs["saved"] = {"path": str(sink.folder), "frames": sink.count}
    return outputs


def _supervise(run: _Run, status_every: float, status_json: Path | None) -> None:
    """Wait for the pipeline to finish, printing the status line; abandon a capture stuck in a blocking read."""
    threads, frames, metrics = run.threads, run.frames, run.metrics
    capture_thread = threads[0]
    next_status = time.monotonic() + status_every
    stopping_since: float | None = None
    status_file = status_json.open("w", encoding="utf-8") if status_json is not None else None
    try:
        windows = [sink for sink in run.sinks if isinstance(sink, WindowSink)]
        while any(t.is_alive() for t in threads[1:]):
            threads[-1].join(timeout=0.01 if windows else 0.2)
            for window in windows:
                window.pump()
            now = time.monotonic()
            if status_every > 0 and now >= next_status:
                run.log(metrics.status_line())
                if status_file is not None:
                    status_file.write(json.dumps(metrics.snapshot()) + "\n")
                    status_file.flush()
                next_status = now + status_every
            if run.stop.is_set() and capture_thread.is_alive():
                stopping_since = stopping_since or now
                if now - stopping_since > 5.0 and not frames.closed:
                    run.warn("capture did not stop within 5 s (a blocking read); leaving it and draining the queue")
                    frames.close()
        if status_file is not None:
            status_file.write(json.dumps(metrics.snapshot()) + "\n")  # the final state, always
    finally:
        if status_file is not None:
            status_file.close()


def _install_signal_handlers(request_stop: Callable[[str], None], warn: Log) -> Callable[[], None]:
    """SIGINT/SIGTERM request a clean stop; a second one restores the defaults, so a third kills at once."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if handler.calls:  # type: ignore[attr-defined]
            warn(f"{name} again: still draining; send it once more to abort without flushing")
            for sig in previous:
                signal.signal(sig, signal.SIG_DFL)
            return
        handler.calls += 1  # type: ignore[attr-defined]
        warn(f"{name}: stopping capture, draining queued frames, closing sinks")
        request_stop(name)

    handler.calls = 0  # type: ignore[attr-defined]
    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
