"""Where scored frames go: a JSON-lines event log, an annotated video, saved anomalous frames, a window.

Each sink writes one event at a time on the sink thread and is closed exactly once at shutdown, so
a stopped run leaves complete files: the event log is flushed per line (a kill loses nothing already
written) and the video file is finalized on close.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..detector import Result
from ..errors import SinkError
from ..opencv import INSTALL_HINT, cv2, has_gui
from ..outputs import ImageFolder, JsonLines, WriteFailures, check_output_file
from ..preprocess import to_bgr8
from ..visualize import overlay
from .specs import Roi

Log = Callable[[str], None]
_FOURCC = {".avi": "MJPG", ".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "XVID"}


@dataclass
class Event:
    """One scored frame. ``frame`` is the whole captured frame; the model saw ``frame`` cropped to ``roi``."""

    index: int
    name: str
    timestamp: float  # wall clock at capture, seconds since the epoch
    frame: np.ndarray
    roi: Roi | None
    result: Result
    latency_ms: float  # preprocess + graph, per frame (a batch's time divided by its size)
    age_ms: float  # capture to scored: latency plus time spent queued
    source_id: str = ""  # the name of the source it came from (several sources: see docs/stream.md)
    extra: dict[str, Any] = field(default_factory=dict)
    _annotated: np.ndarray | None = None

    @property
    def label(self) -> str:
        return "NG" if self.result.is_anomalous else "OK"

    def record(self) -> dict[str, Any]:
        """The event log line (see docs/stream.md, "Event schema")."""
        r = self.result
        when = dt.datetime.fromtimestamp(self.timestamp, dt.timezone.utc).isoformat(timespec="milliseconds")
        return {
            "frame": self.index,
            "source": self.name,
            "source_id": self.source_id,
            "timestamp": round(self.timestamp, 6),
            "time": when,
            "score": r.score,
            "raw_score": r.raw_score,
            "label": self.label,
            "is_anomalous": r.is_anomalous,
            "threshold": r.threshold,
            "latency_ms": round(self.latency_ms, 3),
            "age_ms": round(self.age_ms, 3),
            **self.extra,
        }

    def annotated(self) -> np.ndarray:
        """The frame with the heat map, score and OK/NG banner over the ROI (computed once per event)."""
        if self._annotated is None:
            r = self.result
            if self.roi is None:
                self._annotated = overlay(self.frame, r.anomaly_map, r.score, r.is_anomalous)
            else:
                x, y, w, h = self.roi
                out = to_bgr8(self.frame).copy()
                out[y : y + h, x : x + w] = overlay(
                    self.frame[y : y + h, x : x + w], r.anomaly_map, r.score, r.is_anomalous
                )
                cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), (255, 255, 255), 1)
                self._annotated = out
        return self._annotated


def _quiet(message: str) -> None:
    pass


class Sink(Protocol):
    def write(self, event: Event) -> None: ...

    def close(self) -> None: ...


class EventLog:
    """JSON lines, one per scored frame, appended (a restart keeps the earlier runs' lines; ``run`` tells them
    apart), each written whole or not at all (``outputs.JsonLines``)."""

    def __init__(self, path: Path, run: str = "", warn: Log = _quiet, on_lost: Callable[[], None] = lambda: None):
        self.path, self.run = path, run
        self._lines = JsonLines(path, "the event log", warn, on_lost)

    @property
    def count(self) -> int:
        return self._lines.count

    @property
    def lost(self) -> int:
        return self._lines.lost

    def write(self, event: Event) -> None:
        self._lines.write({**event.record(), "run": self.run})

    def close(self) -> None:
        self._lines.close()


class VideoSink:
    """The annotated frames as a video file at the source's frame rate (25 if it has none); the codec follows
    the suffix. ``fps`` is asked at the first frame, when the source is open and knows its rate.

    A file already there (an earlier run's) is kept: this run writes ``<stem>-<run><suffix>`` beside it.
    OpenCV's writer reports no write errors, so a frame is written only while the disk has room for it raw
    (``statvfs``); one that does not fit is counted in ``lost``, and ``count`` is what went to the file. A
    per-process file-size limit or a quota is not seen this way."""

    def __init__(
        self,
        path: Path,
        fps: Callable[[], float | None],
        warn: Log = _quiet,
        on_lost: Callable[[], None] = lambda: None,
        run: str = "",
    ) -> None:
        if path.suffix.lower() not in _FOURCC:
            raise SinkError(
                f"--video-out '{path}': unknown video suffix '{path.suffix}'; use one of {', '.join(_FOURCC)}"
            )
        check_output_file(path, "--video-out")
        self.path, self.fps, self.run, self.warn = path, fps, run, warn
        self.fps_used: float | None = None
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self.count = 0
        self._failures = WriteFailures(f"the video '{path}'", warn, on_lost)

    @property
    def lost(self) -> int:
        return self._failures.lost

    def write(self, event: Event) -> None:
        image = event.annotated()
        size = (image.shape[1], image.shape[0])
        if self._writer is None:
            if self.path.exists() and self.run:  # an earlier run's video: keep it, this run gets its own name
                kept, self.path = self.path, self.path.with_name(f"{self.path.stem}-{self.run}{self.path.suffix}")
                self.warn(f"--video-out '{kept}' exists (an earlier run's); writing this run's video to '{self.path}'")
            fourcc = cv2.VideoWriter_fourcc(*_FOURCC[self.path.suffix.lower()])
            self.fps_used = self.fps() or 25.0
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps_used, size)
            if not self._writer.isOpened():
                raise SinkError(f"OpenCV cannot write the video '{self.path}' ({size[0]}x{size[1]}); try a .avi file")
            self._size = size
        if size != self._size:  # a camera that came back at another resolution
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        try:
            disk = os.statvfs(self.path.parent)
            room = disk.f_bavail * disk.f_frsize
        except OSError as exc:
            room, reason = 0, exc.strerror or str(exc)
        else:
            reason = f"the disk is full ({room:,} bytes free)"
        if room < image.nbytes:
            self._failures.failed(reason)
            return
        self._writer.write(image)
        self.count += 1
        self._failures.worked()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()  # writes the index; a video not released is unreadable


class AnomalySaver:
    """``<run>_frame_<index>.png`` (as captured) and ``<run>_frame_<index>_heatmap.png`` for every anomalous frame:
    the run id keeps a restarted run from overwriting the last one's frames, and no file is ever overwritten
    (``outputs.ImageFolder``). A pair that cannot be written whole is removed and counted in ``lost``."""

    def __init__(self, folder: Path, run: str = "", warn: Log = _quiet, on_lost: Callable[[], None] = lambda: None):
        self.run = run
        self._images = ImageFolder(folder, "--save-dir", warn, on_lost)
        self.folder = folder

    @property
    def count(self) -> int:
        return self._images.count // 2

    @property
    def lost(self) -> int:
        return self._images.lost

    def write(self, event: Event) -> None:
        if not event.result.is_anomalous:
            return
        stem = f"{self.run}_frame_{event.index:08d}" if self.run else f"frame_{event.index:08d}"
        saved = self._images.save_all({stem: event.frame, f"{stem}_heatmap": event.annotated()})
        if saved is None:
            return
        image, heatmap = saved.values()
        event.extra.update(image=str(image), heatmap=str(heatmap))  # the event log line names them

    def close(self) -> None:
        pass


class WindowSink:
    """A live window of annotated frames; pressing q or Esc in it stops the run.

    GUI toolkits want every call from one thread, the main one: the sink thread only hands over the
    latest annotated frame, and the main thread shows it in ``pump()``.
    """

    def __init__(self, title: str, on_quit: Callable[[], None]) -> None:
        if not has_gui():
            raise SinkError(
                f"--show needs an OpenCV built with a GUI, and cv2 {cv2.__version__} has none "
                "(opencv-python-headless); pip install opencv-python instead of the headless wheel, use the "
                f"system OpenCV, or drop --show and watch --video-out or /metrics. ({INSTALL_HINT})"
            )
        self.title, self.on_quit = title, on_quit
        self._latest: np.ndarray | None = None
        self._lock = threading.Lock()

    def write(self, event: Event) -> None:
        with self._lock:
            self._latest = event.annotated()

    def pump(self) -> None:
        """Main thread: show the newest frame, if any, and handle the keyboard."""
        with self._lock:
            image, self._latest = self._latest, None
        if image is not None:
            cv2.imshow(self.title, image)
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.on_quit()

    def close(self) -> None:
        pass  # the window belongs to the main thread: ``destroy()`` there

    def destroy(self) -> None:
        cv2.destroyAllWindows()
