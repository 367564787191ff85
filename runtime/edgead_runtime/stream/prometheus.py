"""Counters a long-running stream keeps, rendered as a status line and as Prometheus text on ``/metrics``.

Everything is bounded: latencies and frame times sit in fixed-size windows, so memory stays flat
however long the service runs. The HTTP endpoint is the standard library's, bounded (idle timeout, connection
cap), to keep the runtime small.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from ..errors import SinkError
from ..system import memory_kb

WINDOW = 1024  # latencies kept for the percentiles
RATE_WINDOW_S = 10.0  # the fps is over the frames scored in the last 10 s: a stalled stream reads 0, not its last fps
# counter -> (Prometheus name, help)
COUNTERS = {
    "captured": ("edgead_frames_captured_total", "Frames read from the source"),
    "processed": ("edgead_frames_processed_total", "Frames scored by the model"),
    "anomalies": ("edgead_anomalies_total", "Frames scored at or above the threshold"),
    "dropped": ("edgead_frames_dropped_total", "Frames dropped (oldest first) because inference fell behind"),
    "corrupt": ("edgead_frames_corrupt_total", "Corrupt or empty frames counted and skipped"),
    "reconnects": ("edgead_reconnects_total", "Times the source was reopened after a dropout"),
}


@dataclass
class SourceCounts:
    """What one source did: its counters, whether it is open, its queue, its latest score."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    source_up: bool = False
    queue_depth: int = 0
    last_score: float | None = None
    last_frame: float | None = None  # time.monotonic() of the latest captured frame

    def values(self) -> dict[str, Any]:
        since = time.monotonic() - self.last_frame if self.last_frame is not None else None
        return {
            **self.counts,
            "source_up": self.source_up,
            "queue_depth": self.queue_depth,
            "last_score": self.last_score,
            "seconds_since_last_frame": since,
        }


@dataclass
class Metrics:
    """Thread-safe run counters; ``snapshot()`` is what the status line, /metrics and the summary show.

    Counters, ``source_up``, the queue depth and the last score are kept per source (``source=`` names one;
    None: the first); with several sources /metrics labels them ``source="NAME"`` and the snapshot has them
    under ``"sources"``. Latency and fps are the run's.
    """

    labels: dict[str, str] = field(default_factory=dict)
    sources: tuple[str, ...] = ("",)
    started: float = field(default_factory=time.monotonic)
    _per: dict[str, SourceCounts] = field(init=False)
    _last_score: float | None = None
    _latencies: deque = field(default_factory=lambda: deque(maxlen=WINDOW))
    _done_times: deque = field(default_factory=lambda: deque(maxlen=65536))  # scored, within RATE_WINDOW_S
    _latency_sum: float = 0.0
    _lost: dict[str, int] = field(default_factory=dict)  # output ("events", "saved", "video") -> writes lost
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._per = {name: SourceCounts() for name in self.sources}

    def _of(self, source: str | None) -> SourceCounts:
        return self._per[self.sources[0] if source is None else source]

    def add(self, name: str, n: int = 1, source: str | None = None) -> None:
        with self._lock:
            self._of(source).counts[name] += n

    def set(self, source: str | None = None, **values: Any) -> None:
        """``source_up`` or ``queue_depth`` of one source."""
        with self._lock:
            counts = self._of(source)
            for key, value in values.items():
                setattr(counts, key, value)

    def output_lost(self, output: str) -> None:
        """A write to ``output`` that failed (full disk): the stream goes on, the loss is counted."""
        with self._lock:
            self._lost[output] = self._lost.get(output, 0) + 1

    def processed(self, latency_s: float, score: float, anomalous: bool, source: str | None = None) -> None:
        with self._lock:
            counts = self._of(source)
            counts.counts["processed"] += 1
            counts.counts["anomalies"] += anomalous
            counts.last_score = self._last_score = score
            self._latencies.append(latency_s)
            self._latency_sum += latency_s
            now = time.monotonic()
            self._done_times.append(now)
            while self._done_times[0] < now - RATE_WINDOW_S:
                self._done_times.popleft()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            latencies = np.asarray(self._latencies, dtype=np.float64)
            times = list(self._done_times)
            per = {name: counts.values() for name, counts in self._per.items()}
            snap: dict[str, Any] = {key: sum(p[key] for p in per.values()) for key in COUNTERS}
            since = [p["seconds_since_last_frame"] for p in per.values() if p["seconds_since_last_frame"] is not None]
            snap.update(
                seconds_since_last_frame=max(since) if since else None,
                source_up=all(p["source_up"] for p in per.values()),
                queue_depth=sum(p["queue_depth"] for p in per.values()),
                last_score=self._last_score,
            )
            snap["latency_sum_s"] = self._latency_sum
            snap["outputs_lost"] = dict(self._lost)
        if len(per) > 1:
            snap["sources"] = per
        snap["uptime_s"] = time.monotonic() - self.started
        now = time.monotonic()
        recent = sum(1 for t in times if t >= now - RATE_WINDOW_S)
        snap["fps"] = recent / max(min(RATE_WINDOW_S, snap["uptime_s"]), 1e-3)
        if latencies.size:
            p50, p90, p99 = np.percentile(latencies, [50, 90, 99]) * 1e3
            snap.update(p50_ms=float(p50), p90_ms=float(p90), p99_ms=float(p99))
        else:
            snap.update(p50_ms=None, p90_ms=None, p99_ms=None)
        snap.update(memory_kb())
        return snap

    def status_line(self) -> str:
        s = self.snapshot()
        lat = f"p50 {s['p50_ms']:.1f} p99 {s['p99_ms']:.1f} ms" if s["p50_ms"] is not None else "no latency yet"
        line = (
            f"[{s['uptime_s']:7.1f} s] {s['processed']} frames, {s['fps']:.1f} fps, {lat}, {s['anomalies']} NG, "
            f"{s['dropped']} dropped, {s['corrupt']} corrupt, {s['reconnects']} reconnects, "
            f"queue {s['queue_depth']}, rss {s['rss_kb'] / 1024:.0f} MB (peak {s['peak_rss_kb'] / 1024:.0f} MB)"
        )
        if s["outputs_lost"]:
            line += ", LOST " + ", ".join(f"{n} {output}" for output, n in sorted(s["outputs_lost"].items()))
        for name, p in s.get("sources", {}).items():
            line += f" | {name}: {p['processed']} frames, {p['dropped']} dropped, {'up' if p['source_up'] else 'DOWN'}"
        return line

    def prometheus(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        s = self.snapshot()
        lines = []
        # one sample per source, labelled, when there are several; else the run's, unlabelled
        per = (
            [(f'{{source="{_escape(name)}"}}', p) for name, p in s["sources"].items()] if "sources" in s else [("", s)]
        )

        def metric(name: str, kind: str, help_text: str, value: float, labels: str = "") -> None:
            lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name}{labels} {_number(value)}"])

        def per_source(name: str, kind: str, help_text: str, key: str, scale: Any = float) -> None:
            samples = [(labels, p[key]) for labels, p in per if p[key] is not None]
            if samples:
                lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"])
                lines.extend(f"{name}{labels} {_number(scale(value))}" for labels, value in samples)

        info = ",".join(f'{k}="{_escape(v)}"' for k, v in self.labels.items())
        metric("edgead_info", "gauge", "Model, backend and source of this run", 1, f"{{{info}}}")
        for key, (name, help_text) in COUNTERS.items():
            per_source(name, "counter", help_text, key, int)
        metric("edgead_fps", "gauge", f"Frames scored per second over the last {RATE_WINDOW_S:g} s", s["fps"])
        lines += [
            "# HELP edgead_latency_seconds Preprocess + graph time per frame (quantiles over the last frames)",
            "# TYPE edgead_latency_seconds summary",
        ]
        for q, key in (("0.5", "p50_ms"), ("0.9", "p90_ms"), ("0.99", "p99_ms")):
            value = s[key] / 1e3 if s[key] is not None else float("nan")
            lines.append(f'edgead_latency_seconds{{quantile="{q}"}} {_number(value)}')
        lines += [
            f"edgead_latency_seconds_sum {_number(s['latency_sum_s'])}",
            f"edgead_latency_seconds_count {s['processed']}",
        ]
        lines += [
            "# HELP edgead_outputs_lost_total Outputs that could not be written (full disk): events, saved, video",
            "# TYPE edgead_outputs_lost_total counter",
        ]
        lines += [
            f'edgead_outputs_lost_total{{output="{output}"}} {s["outputs_lost"].get(output, 0)}'
            for output in ("events", "saved", "video")
        ]
        per_source("edgead_source_up", "gauge", "1 while the source is open, 0 during an outage", "source_up", int)
        per_source(
            "edgead_seconds_since_last_frame",
            "gauge",
            "Seconds since the source gave its latest frame (a stalled stream grows it)",
            "seconds_since_last_frame",
        )
        per_source("edgead_queue_frames", "gauge", "Frames waiting for inference", "queue_depth", int)
        per_source("edgead_last_score", "gauge", "Normalized score of the latest frame", "last_score")
        metric("edgead_resident_memory_bytes", "gauge", "Resident set size of the process", s["rss_kb"] * 1024)
        metric("edgead_peak_resident_memory_bytes", "gauge", "Peak resident set size", s["peak_rss_kb"] * 1024)
        metric("edgead_uptime_seconds", "gauge", "Seconds since the run started", s["uptime_s"])
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _BoundedServer(ThreadingHTTPServer):
    """A thread per connection, but at most ``max_connections`` at once: one more is closed at once (and
    counted in ``refused``), so 1,500 half-open connections cannot hold 1,500 threads."""

    daemon_threads = True
    request_queue_size = 64  # the listen backlog (socketserver's default 5 makes a burst of clients wait)

    def __init__(self, address: tuple[str, int], handler: type, max_connections: int) -> None:
        self._slots = threading.BoundedSemaphore(max_connections)
        self.refused = 0
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class MetricsServer:
    """``GET /metrics`` on ``host:port`` in a daemon thread; port 0 picks a free one (see ``.port``).

    Bounded for a network it does not control (``--metrics-host 0.0.0.0``): a connection that sends nothing
    for ``idle_timeout`` seconds is closed, and at most ``max_connections`` are served at once. The standard
    library's server, not ``prometheus-client``: its ``start_http_server`` (0.26.0) is the same unbounded
    thread-per-connection server (``ThreadingWSGIServer``, no timeout, no cap)."""

    def __init__(
        self,
        metrics: Metrics,
        port: int,
        host: str = "127.0.0.1",
        idle_timeout: float = 5.0,
        max_connections: int = 16,
    ) -> None:
        class Handler(BaseHTTPRequestHandler):
            timeout = idle_timeout  # socket timeout: a silent or half-open connection is dropped

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404, "only /metrics is served")
                    return
                body = metrics.prometheus().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # scrapes every few seconds are not news
                pass

        try:
            self._server = _BoundedServer((host, port), Handler, max_connections)
        except OSError as exc:
            raise SinkError(
                f"cannot serve metrics on {host}:{port}: {exc.strerror}; pick another --metrics-port"
            ) from exc
        self.host, self.port = host, self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="edgead-metrics", daemon=True)
        self._thread.start()

    @property
    def refused(self) -> int:
        """Connections closed unserved because ``max_connections`` were open."""
        return self._server.refused

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _number(value: float) -> str:
    """Integers exactly (a counter at 1,234,567 must not read 1.23457e+06), floats to full precision."""
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    return repr(float(value))  # shortest repr that round-trips; nan prints as "nan", as Prometheus reads it
