"""Where frames come from: an image, a folder, a glob, a video file, a camera index or a stream URL.

A source yields ``Item``s; an image that cannot be read is an item with ``error`` set instead of an
exception, so a run over a folder records it and goes on.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .errors import ImageReadError, SourceError
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
    """A resolved source spec. ``kind`` is "images", "video", "camera" or "url"."""

    spec: str
    kind: str
    paths: list[Path] = field(default_factory=list)

    @property
    def total(self) -> int | None:
        """Number of items if known before reading (images, video files); None for live streams."""
        if self.kind == "images":
            return len(self.paths)
        if self.kind == "video":
            capture = cv2.VideoCapture(self.spec)
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            capture.release()
            return count if count > 0 else None
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

    def _capture(self) -> Iterator[Item]:
        device = int(self.spec) if self.kind == "camera" else self.spec
        capture = cv2.VideoCapture(device)
        if not capture.isOpened():
            raise SourceError(f"cannot open {self.kind} '{self.spec}' with OpenCV; check the path, index or URL")
        prefix = f"camera:{self.spec}" if self.kind == "camera" else self.spec
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


def open_source(spec: str | Path) -> Source:
    """Resolve ``spec``: a digit is a camera, ``scheme://`` a stream, then file, folder (recursive), glob."""
    spec = str(spec)
    path = Path(spec)
    if spec.isdigit():
        return Source(spec, "camera")
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
