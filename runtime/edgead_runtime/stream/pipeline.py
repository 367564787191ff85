"""Capture, inference and sinks on their own threads joined by bounded queues; one capture thread per source.

A live source (camera, URL, GStreamer) runs at its own pace: when inference falls behind, the
oldest waiting frame of that source is dropped and counted, so its newest frame is always the next one
scored. A file source is read losslessly (its reader waits for room). A source that drops out is
reopened with exponential backoff; a corrupt frame is counted and skipped. With several sources one
detector scores them all, batching frames across sources (up to ``batch``, waiting at most
``max_wait_ms`` for a batch to fill); a source that stalls or fails holds up only itself.
SIGINT/SIGTERM stop capture, then the queues drain and every sink is closed, so no frame already
captured loses its event.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..detector import Detector, Result
from ..errors import EdgeadError, FrameMismatchError
from ..opencv import describe_build
from ..outputs import run_id
from ..sources import Source, open_source
from ..system import memory_kb
from .capture import Captured, Feed
from .prometheus import Metrics, MetricsServer
from .queues import Batcher, FrameQueue
from .sinks import AnomalySaver, Event, EventLog, Sink, VideoSink, WindowSink
from .specs import Roi, SourceSpec, resolve_names
from .supervise import install_signal_handlers, supervise

Log = Callable[[str], None]
COUNTS = ("captured", "processed", "anomalies", "dropped", "corrupt", "reconnects")


def _info(message: str) -> None:
    print(message, flush=True)


def _warn(message: str) -> None:
    print(f"edgead-runtime: warning: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class StreamConfig:
    """One run of the stream service; the CLI flags map 1:1 onto these fields (see docs/stream.md).

    ``source`` is one spec, or several (specs or ``SourceSpec``s with their own name and policy); the other
    source fields (``live``, ``loop``, ``roi``, ``max_reconnects``, ``backoff``) are the default of each.
    """

    model: Path
    source: str | tuple[str | SourceSpec, ...]
    backend: str = "auto"
    backend_options: dict[str, Any] = field(default_factory=dict)
    threshold: float | None = None
    batch: int = 1
    max_wait_ms: float = 0.0  # longest wait for a batch to fill once its first frame is in; 0: take what is queued
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
    max_frames: int | None = None  # stop each source after this many captured frames
    stall_timeout: float | None = 10.0  # a live source with no frame for this long is dropped and reopened

    def specs(self) -> list[SourceSpec]:
        """Every source, named (unique, file-name safe)."""
        given = (self.source,) if isinstance(self.source, str) else self.source
        if not given:
            raise EdgeadError("no source given: pass --source SPEC (once or more) or --sources FILE")
        return resolve_names([s if isinstance(s, SourceSpec) else SourceSpec(s) for s in given])


@dataclass
class StreamSummary:
    """What a run did: the final counters, why it stopped, memory at start and end; per source with several."""

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
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> spec, counts, stop_reason, error


def _score(detector: Detector, crops: list[Any]) -> list[Result | None]:
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


def _build_sinks(
    config: StreamConfig, feeds: list[Feed], on_quit: Callable[[], None], run: str, metrics: Metrics, warn: Log
) -> list[tuple[str | None, Sink]]:
    """(source name or None for all, sink) in write order: the savers first, so the event log line names the
    saved files. With several sources each gets its own save folder (``DIR/NAME``), video (``FILE-NAME.avi``)
    and window; the event log is shared. ``run`` names this run's saved files and event lines; a write that
    fails is counted on /metrics (``edgead_outputs_lost_total{output=...}``)."""
    several = len(feeds) > 1

    def lost(output: str) -> Callable[[], None]:
        return lambda: metrics.output_lost(output)

    sinks: list[tuple[str | None, Sink]] = []
    try:
        for feed in feeds:
            if config.save_dir is not None:
                folder = config.save_dir / feed.name if several else config.save_dir
                sinks.append((feed.name, AnomalySaver(folder, run, warn, lost("saved"))))
            if config.video_out is not None:
                out = config.video_out
                path = out.with_name(f"{out.stem}-{feed.name}{out.suffix}") if several else out
                sinks.append((feed.name, VideoSink(path, lambda feed=feed: feed.fps, warn, lost("video"), run)))
            if config.show:
                sinks.append((feed.name, WindowSink(f"edgead: {feed.source.spec}", on_quit)))
        if config.events is not None:
            sinks.append((None, EventLog(config.events, run, warn, lost("events"))))
    except EdgeadError:
        _close_all(sinks)
        raise
    return sinks


def run_stream(
    config: StreamConfig, log: Log = _info, warn: Log = _warn, stop: threading.Event | None = None
) -> StreamSummary:
    """Run until every source ends (or ``max_frames`` each), SIGINT/SIGTERM, or ``stop`` is set (for embedding
    the service in another program); return what happened. A source that fails is reported in the summary
    and the others go on; if every source fails, its first error is raised."""
    if config.batch < 1 or config.queue_size < 1:
        raise EdgeadError(f"--batch and --queue-size must be >= 1, got {config.batch} and {config.queue_size}")
    if config.max_wait_ms < 0:
        raise EdgeadError(f"--max-wait-ms must be >= 0, got {config.max_wait_ms:g}")
    resolved: list[tuple[SourceSpec, Source]] = []
    for spec in config.specs():
        source = open_source(spec.source).with_live(spec.live if spec.live is not None else config.live)
        source.check_backends()
        resolved.append((spec, source))
    if any(source.uses_opencv_capture for _, source in resolved):
        log(describe_build())
    started = time.perf_counter()
    with Detector(config.model, config.backend, config.threshold, **config.backend_options) as detector:
        meta = detector.metadata
        log(
            f"model {config.model} ({meta.model}, {meta.backbone}, {meta.height}x{meta.width}) on "
            f"{detector.backend.name}, threshold {detector.threshold:g}, batch {config.batch}"
            + (f", {len(resolved)} sources" if len(resolved) > 1 else "")
        )
        run = _Run(config, resolved, detector, stop or threading.Event(), log, warn)
        memory_start = memory_kb()
        run.start()
        try:
            supervise(run, config.status_every, config.status_json)
        finally:
            run.finish()
        snap = run.metrics.snapshot()
    if run.errors:
        raise run.errors[0]
    failed = [feed.error for feed in run.feeds if feed.error is not None]
    if failed and len(failed) == len(run.feeds):
        raise failed[0]
    per_source = snap.get("sources", {run.feeds[0].name: snap})
    return StreamSummary(
        source="; ".join(feed.source.describe() for feed in run.feeds),
        stop_reason=run.stop_reason,
        counts={k: snap[k] for k in COUNTS},
        fps=snap["fps"],
        p50_ms=snap["p50_ms"],
        p99_ms=snap["p99_ms"],
        memory_start_kb=memory_start,
        memory_end_kb=memory_kb(),
        wall_s=time.perf_counter() - started,
        outputs=_outputs(run.sinks),
        metrics_url=run.server.url if run.server is not None else None,
        sources={
            feed.name: {
                "spec": feed.source.spec,
                "counts": {k: per_source[feed.name][k] for k in COUNTS},
                "stop_reason": feed.reason,
                "error": str(feed.error) if feed.error is not None else None,
            }
            for feed in run.feeds
        },
    )


class _Run:
    """The stage loops and what they share: a capture thread per source, one inference thread, one sink thread.
    Each stage closes its output queue(s) when it ends."""

    def __init__(
        self,
        config: StreamConfig,
        resolved: list[tuple[SourceSpec, Source]],
        detector: Detector,
        stop: threading.Event,
        log: Log,
        warn: Log,
    ) -> None:
        self.config, self.detector, self.stop, self.log, self.warn = config, detector, stop, log, warn
        names = tuple(str(spec.name) for spec, _ in resolved)
        labels = {"model": str(config.model), "backend": detector.backend.name}
        labels.update({"source": resolved[0][1].spec} if len(names) == 1 else {"sources": ",".join(names)})
        self.metrics = Metrics(labels=labels, sources=names)
        cond = threading.Condition()
        self.feeds = [Feed(spec, src, config, self.metrics, cond, stop, log, warn) for spec, src in resolved]
        self.batcher: Batcher[Captured] = Batcher([feed.queue for feed in self.feeds], cond)
        self.reasons: list[str] = []
        self.errors: list[BaseException] = []
        self._ended = 0
        self._lock = threading.Lock()
        self.run_id = run_id()
        self.sinks = _build_sinks(
            config, self.feeds, lambda: self.request_stop("window closed"), self.run_id, self.metrics, warn
        )
        self.server: MetricsServer | None = None
        try:
            if config.metrics_port is not None:
                self.server = MetricsServer(self.metrics, config.metrics_port, config.metrics_host)
                log(f"metrics on {self.server.url}")
        except EdgeadError:
            _close_all(self.sinks)
            raise
        self.events: FrameQueue[Event] = FrameQueue(config.queue_size, drop_oldest=False)
        self.capture_threads = [
            threading.Thread(target=self._capture_target(feed), name=f"edgead-capture-{feed.name}", daemon=True)
            for feed in self.feeds
        ]
        frames = [feed.queue for feed in self.feeds]
        self.stage_threads = [
            threading.Thread(
                target=self._guarded(self._infer, frames, self.events), name="edgead-inference", daemon=True
            ),
            threading.Thread(target=self._guarded(self._write, [self.events], None), name="edgead-sinks", daemon=True),
        ]
        self._restore_signals: Callable[[], None] = lambda: None

    @property
    def stop_reason(self) -> str:
        return self.reasons[0] if self.reasons else "stop requested"

    def request_stop(self, reason: str) -> None:
        if not self.reasons:
            self.reasons.append(reason)
        self.stop.set()

    def start(self) -> None:
        self._restore_signals = install_signal_handlers(self.request_stop, self.warn)
        for thread in self.capture_threads + self.stage_threads:
            thread.start()

    def finish(self) -> None:
        """Stop capture, let inference and the sinks drain and close, then stop serving metrics."""
        self.request_stop("stop requested" if self.stop.is_set() else "interrupted")  # keeps an earlier reason
        for feed in self.feeds:
            feed.queue.close()
        for thread in self.stage_threads:
            thread.join()
        self._restore_signals()  # only now: a signal while draining must not abort the drain
        for _, sink in self.sinks:
            if isinstance(sink, WindowSink):
                sink.destroy()
        if self.server is not None:
            self.server.close()

    def _capture_target(self, feed: Feed) -> Callable[[], None]:
        """A source's capture thread: its end or failure is its own; the run stops when the last source ends."""

        def target() -> None:
            try:
                feed.reason = feed.capture()
            except BaseException as exc:  # reported in the summary; raised if every source fails
                feed.reason, feed.error = "error", exc
                self.metrics.set(feed.name, source_up=False)
                if len(self.feeds) > 1:
                    self.warn(f"source '{feed.name}' failed, the others go on: {exc}")
            finally:
                feed.queue.close()  # inference drains what is left of this source
                with self._lock:
                    self._ended += 1
                    last = self._ended == len(self.feeds)
                if last and not self.stop.is_set():
                    self.request_stop(self._all_ended_reason())

        return target

    def _all_ended_reason(self) -> str:
        reasons = {feed.reason for feed in self.feeds}
        if len(reasons) == 1:
            return str(reasons.pop())
        return "every source ended (" + "; ".join(f"{feed.name}: {feed.reason}" for feed in self.feeds) + ")"

    def _infer(self) -> None:
        max_wait = self.config.max_wait_ms / 1e3
        while batch := self.batcher.get_many(self.config.batch, max_wait):
            for feed in self.feeds:
                self.metrics.set(feed.name, queue_depth=len(feed.queue))
            t0 = time.perf_counter()
            results = _score(self.detector, [c.feed.crop(c) for c in batch])
            latency = (time.perf_counter() - t0) / len(batch)
            done = time.perf_counter()
            for c, result in zip(batch, results, strict=True):
                name = c.feed.name
                if result is None:
                    self.metrics.add("corrupt", source=name)
                    roi = " and --roi" if c.feed.roi else ""
                    self.warn(
                        f"skipped frame {c.name}: not usable for this model{roi} ({c.frame.dtype}, {c.frame.shape})"
                    )
                    continue
                self.metrics.processed(latency, result.score, result.is_anomalous, source=name)
                age_ms = (done - c.start) * 1e3
                event = Event(c.index, c.name, c.timestamp, c.frame, c.feed.roi, result, latency * 1e3, age_ms, name)
                if self.events.put(event) < 0:
                    return

    def _write(self) -> None:
        try:
            while batch := self.events.get_many(16):
                for event in batch:
                    for name, sink in self.sinks:
                        if name is None or name == event.source_id:
                            sink.write(event)
        finally:
            _close_all(self.sinks)

    def _guarded(self, fn: Callable[[], None], inputs: list[FrameQueue], outputs: FrameQueue | None) -> Callable:
        def target() -> None:
            try:
                fn()
            except BaseException as exc:  # reported by the main thread after shutdown
                self.errors.append(exc)
                self.request_stop("error")
                for queue in inputs:
                    queue.close()  # unblock the producers feeding this stage
            finally:
                if outputs is not None:
                    outputs.close()  # the next stage drains what is left, then ends

        return target


def _close_all(sinks: list[tuple[str | None, Sink]]) -> None:
    """Close every sink even if one fails to, then raise the first failure."""
    failures = []
    for _, sink in sinks:
        try:
            sink.close()
        except Exception as exc:
            failures.append(exc)
    if failures:
        raise failures[0]


def _outputs(sinks: list[tuple[str | None, Sink]]) -> dict[str, Any]:
    """What was written: ``events``, and ``video`` and ``saved`` (with several sources: per source name under
    ``sources``)."""
    outputs: dict[str, Any] = {}
    several = len({name for name, _ in sinks if name is not None}) > 1
    for name, sink in sinks:
        place = outputs.setdefault("sources", {}).setdefault(str(name), {}) if several and name else outputs
        if isinstance(sink, EventLog):
            outputs["events"] = {"path": str(sink.path), "lines": sink.count, "lost": sink.lost, "run": sink.run}
        elif isinstance(sink, VideoSink):
            place["video"] = {"path": str(sink.path), "frames": sink.count, "fps": sink.fps_used, "lost": sink.lost}
        elif isinstance(sink, AnomalySaver):
            place["saved"] = {"path": str(sink.folder), "frames": sink.count, "lost": sink.lost}
    return outputs
