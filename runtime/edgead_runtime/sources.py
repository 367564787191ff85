"""Where frames come from: an image, a folder, a glob, a video file, a camera index, a stream URL or a
GStreamer pipeline.

A source yields ``Item``s; an image that cannot be read is an item with ``error`` set instead of an
exception, so a run over a folder records it and goes on. Cameras, URLs and pipelines are *live*: they
run at their own pace, so a reader that falls behind drops frames and a dropout is worth reopening;
files and folders are read losslessly at file speed and end.
"""

from __future__ import annotations

import glob
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .errors import ImageReadError, SourceError
from .opencv import capture_backends, cv2, describe_build
from .preprocess import IMAGE_SUFFIXES, read_image

_GLOB_CHARS = "*?["


@dataclass(frozen=True)
class Item:
    """A named frame (``dir/001.png``, ``line.mp4#frame=12``); ``frame`` is None when ``error`` is set."""

    name: str
    frame: np.ndarray | None
    error: str | None = None


@dataclass(frozen=True)
class Source:
    """A resolved source spec. ``kind`` is "images", "video", "camera", "url" or "gstreamer".

    ``live_override`` treats a file as live (a recording standing in for a camera) or a URL as a file.
    """

    spec: str
    kind: str
    paths: list[Path] = field(default_factory=list)
    live_override: bool | None = None

    @property
    def live(self) -> bool:
        """Live sources drop the oldest frames when the reader falls behind and are reopened when they drop out."""
        if self.live_override is not None:
            return self.live_override
        return self.kind in ("camera", "url", "gstreamer")

    def with_live(self, live: bool | None) -> Source:
        return replace(self, live_override=live)

    def needed_backends(self) -> tuple[str, ...]:
        """OpenCV capture backends that can read this source (any one of them will do); () if none is needed."""
        if self.kind == "gstreamer":
            return ("GSTREAMER",)
        if self.kind == "url":
            return ("FFMPEG", "GSTREAMER")
        if self.kind == "camera" and sys.platform.startswith("linux"):
            return ("V4L2", "GSTREAMER", "FFMPEG")
        return ()

    def check_backends(self) -> None:
        """Say plainly when the cv2 in use lacks every capture backend this source needs."""
        needed = self.needed_backends()
        if not needed:
            return
        available = capture_backends()
        if not any(available.get(name) for name in needed):
            have = ", ".join(name for name, ok in available.items() if ok) or "none"
            jetson = (
                " pip's OpenCV wheels are built without GStreamer; on a Jetson use JetPack's system OpenCV"
                if "GSTREAMER" in needed
                else ""
            )
            raise SourceError(
                f"{self.kind} source '{self.spec}' needs OpenCV built with {' or '.join(needed)}, but "
                f"cv2 {cv2.__version__} ({cv2.__file__}) has capture backends: {have}.{jetson}"
            )

    def open_capture(self) -> cv2.VideoCapture:
        """An opened cv2.VideoCapture for a video, camera, URL or pipeline; SourceError if it will not open."""
        if self.kind == "images":
            raise SourceError(f"'{self.spec}' is a set of image files, not a capture device or stream")
        if self.kind == "camera":
            capture = cv2.VideoCapture(int(self.spec) if self.spec.isdigit() else self.spec)
        elif self.kind == "gstreamer":
            capture = cv2.VideoCapture(self.spec, cv2.CAP_GSTREAMER)
        else:
            capture = cv2.VideoCapture(self.spec)
        if not capture.isOpened():
            capture.release()
            raise SourceError(
                f"cannot open {self.kind} '{self.spec}' with OpenCV; check the path, index or URL, and that this "
                f"cv2 can read it ({describe_build()})"
            )
        return capture

    def describe(self, capture: cv2.VideoCapture | None = None) -> str:
        """What a run states at start, e.g. ``video 'line.avi': 25 fps, 128x128, 500 frames (file, lossless)``."""
        mode = "live, drops oldest when behind" if self.live else "file, lossless"
        if self.kind == "images":
            first = read_image(self.paths[0]) if self.paths else None
            size = f"{first.shape[1]}x{first.shape[0]} (first image)" if first is not None else "unknown size"
            return f"images '{self.spec}': {len(self.paths)} files, {size}, no frame rate ({mode})"
        if capture is None:
            return f"{self.kind} '{self.spec}' ({mode})"
        fps = capture.get(cv2.CAP_PROP_FPS)
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        count = frame_count(capture) if self.kind == "video" else 0
        rate = f"{fps:g} fps" if fps > 0 else "frame rate unknown"
        frames = f", {count} frames" if count > 0 else ""
        return f"{self.kind} '{self.spec}': {rate}, {width}x{height}{frames} ({mode})"

    def frame_rate(self, capture: cv2.VideoCapture | None) -> float | None:
        fps = capture.get(cv2.CAP_PROP_FPS) if capture is not None else 0.0
        return float(fps) if fps and fps > 0 else None

    @property
    def total(self) -> int | None:
        """Number of items if known before reading (images, video files); None for live streams."""
        if self.kind == "images":
            return len(self.paths)
        if self.kind == "video":
            capture = cv2.VideoCapture(self.spec)
            count = frame_count(capture)
            capture.release()
            return count or None
        return None

    def __iter__(self) -> Iterator[Item]:
        if self.kind == "images":
            for path in self.paths:
                try:
                    yield Item(str(path), read_image(path))
                except ImageReadError as exc:
                    yield Item(str(path), None, exc.reason)
        else:
            yield from self._capture()

    @property
    def prefix(self) -> str:
        """The name frames of this source get before ``#frame=N``."""
        return f"camera:{self.spec}" if self.kind == "camera" else self.spec

    def _capture(self) -> Iterator[Item]:
        capture = self.open_capture()
        prefix = self.prefix
        try:
            index = 0
            while True:
                ok, frame = capture.read()
                if not ok:
                    return
                yield Item(f"{prefix}#frame={index}", frame)
                index += 1
        finally:
            capture.release()


def frame_count(capture: cv2.VideoCapture) -> int:
    """The frame count a video container declares, 0 when it declares none."""
    count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    return int(count) if count and count > 0 else 0


def open_source(spec: str | Path) -> Source:
    """Resolve ``spec``: digits or /dev/video* a camera, a "! appsink" pipeline GStreamer, ``scheme://`` a stream, then
    file, folder (recursive), glob."""
    spec = str(spec)
    path = Path(spec)
    if spec.isdigit() or spec.startswith("/dev/video"):  # an index, or a V4L2 device node
        return Source(spec, "camera")
    if "!" in spec and "appsink" in spec and not path.exists():
        return Source(spec, "gstreamer")
    if "://" in spec:
        return Source(spec, "url")
    if path.is_dir():
        images = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if images:
            return Source(spec, "images", images)
        raise SourceError(f"folder '{spec}' holds no image files ({', '.join(IMAGE_SUFFIXES)}), also in subfolders")
    if path.is_file():
        return Source(spec, "images", [path]) if path.suffix.lower() in IMAGE_SUFFIXES else Source(spec, "video")
    if any(c in spec for c in _GLOB_CHARS):
        matches = sorted(Path(p) for p in glob.glob(spec))
        images = [p for p in matches if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if images:
            return Source(spec, "images", images)
        raise SourceError(f"glob '{spec}' matches no image files ({', '.join(IMAGE_SUFFIXES)})")
    raise SourceError(f"source '{spec}' is not a file, folder, glob, camera index or URL")
