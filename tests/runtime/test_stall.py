"""A stalled stream (issue 11, item 7): an open connection that stops sending is noticed within the stall
timeout (source_up 0, seconds_since_last_frame grows, the fps falls) and reopened."""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from edgead_runtime.stream.pipeline import StreamConfig, run_stream
from edgead_runtime.stream.prometheus import RATE_WINDOW_S, Metrics

from .stream_helpers import MjpegServer, bottle_frames, wait_for


def _metric(url: str, name: str) -> float:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    match = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not on {url}"
    return float(match[1])


def test_a_stalled_http_stream_drops_source_up_and_is_reopened(bottle_images: list[Path], model_path: Path) -> None:
    stall_timeout = 1.5
    server = MjpegServer(bottle_frames(bottle_images), fps=50, stall_after=20, slow_reconnect=2.0).start()
    urls: list[str] = []
    warnings: list[str] = []
    config = StreamConfig(
        model_path, server.url, metrics_port=0, stall_timeout=stall_timeout, backoff=(0.1, 0.4), status_every=0
    )
    stop = threading.Event()
    done: dict = {}

    def log(message: str) -> None:
        urls.extend(re.findall(r"metrics on (\S+)", message))

    thread = threading.Thread(target=lambda: done.update(s=run_stream(config, log, warnings.append, stop)))
    thread.start()
    try:
        wait_for(lambda: bool(urls) and server.stalled_at is not None, 30, "the stream to stall")
        url = urls[0]
        assert _metric(url, "edgead_source_up") == 1
        wait_for(lambda: _metric(url, "edgead_source_up") == 0, stall_timeout + 5, "source_up 0")
        noticed = time.monotonic() - server.stalled_at
        assert noticed < stall_timeout + 1.0, f"source_up fell {noticed:.2f} s after the last frame"
        assert _metric(url, "edgead_seconds_since_last_frame") >= stall_timeout
        assert any("no frame from" in w and "stalled" in w for w in warnings)
        wait_for(lambda: _metric(url, "edgead_reconnects_total") >= 1, 30, "a reopen")
        wait_for(lambda: _metric(url, "edgead_frames_captured_total") > 30, 30, "frames after the reopen")
        assert _metric(url, "edgead_source_up") == 1 and _metric(url, "edgead_seconds_since_last_frame") < 1.0
    finally:
        stop.set()
        thread.join(timeout=30)
        server.stop()
    assert not thread.is_alive() and done["s"].counts["reconnects"] >= 1
    assert server.connections >= 2


def test_fps_is_over_a_time_window_and_falls_to_zero_when_frames_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [time.monotonic()]  # Metrics.started is the real clock's
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    metrics = Metrics()
    for _ in range(50):  # 50 frames over 5 s: 10 fps
        clock[0] += 0.1
        metrics.processed(0.01, 0.2, False)
    assert metrics.snapshot()["fps"] == pytest.approx(10.0, rel=0.05)
    clock[0] += RATE_WINDOW_S + 0.1  # a stall: no frame for longer than the window
    assert metrics.snapshot()["fps"] == 0.0
