"""Supervising a run from the main thread: the status line, GUI windows, a stuck capture, and the signals.

The main thread waits here while the stage threads work; SIGINT/SIGTERM request a clean stop (capture stops,
queues drain, sinks close) instead of killing the process mid-write.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..outputs import JsonLines
from .sinks import WindowSink

if TYPE_CHECKING:
    from .pipeline import _Run

Log = Callable[[str], None]


def supervise(run: _Run, status_every: float, status_json: Path | None) -> None:
    """Wait for the pipeline to finish, printing the status line; abandon a capture stuck in a blocking read."""
    stages, metrics = run.stage_threads, run.metrics
    next_status = time.monotonic() + status_every
    stopping_since: float | None = None
    status_file = JsonLines(status_json, "--status-json", run.warn) if status_json is not None else None
    try:
        windows = [sink for _, sink in run.sinks if isinstance(sink, WindowSink)]
        while any(t.is_alive() for t in stages):
            stages[-1].join(timeout=0.01 if windows else 0.2)
            for window in windows:
                window.pump()
            now = time.monotonic()
            if status_every > 0 and now >= next_status:
                run.log(metrics.status_line())
                if status_file is not None:
                    status_file.write(metrics.snapshot())
                next_status = now + status_every
            stuck = [feed for feed, t in zip(run.feeds, run.capture_threads, strict=True) if t.is_alive()]
            if run.stop.is_set() and stuck:
                stopping_since = stopping_since or now
                if now - stopping_since > 5.0 and not all(feed.queue.closed for feed in stuck):
                    names = ", ".join(f"'{feed.source.spec}'" for feed in stuck)
                    run.warn(f"capture of {names} did not stop within 5 s (a blocking read); leaving it, draining")
                    for feed in stuck:
                        feed.queue.close()
        if status_file is not None:
            status_file.write(metrics.snapshot())  # the final state, always
    finally:
        if status_file is not None:
            status_file.close()


def install_signal_handlers(request_stop: Callable[[str], None], warn: Log) -> Callable[[], None]:
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
