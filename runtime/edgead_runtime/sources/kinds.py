"""The source kinds edgead knows: image files, a video file, a camera, a stream URL, a GStreamer pipeline.

Each is one class: ``claim`` recognises its specs, ``open`` gives a reader, class attributes say whether it
is live and which OpenCV capture backends it needs. ``sources.SOURCES`` orders them for resolution.
"""

from __future__ import annotations

import glob
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import ImageReadError, SourceError
from ..opencv import cv2
from ..preprocess import IMAGE_SUFFIXES, header_size, read_image
from .base import CaptureSource, Reader, Source

_GLOB_CHARS = "*?["


class ImagesReader(Reader):
    """Image files in order; an unreadable one is its reason, and reading goes on."""

    def __init__(self, paths: tuple[Path, ...]) -> None:
        self.paths, self.position = paths, 0

    def read(self) -> np.ndarray | str | None:
        if self.position >= len(self.paths):
            return None
        path = self.paths[self.position]
        self.position += 1
        try:
            return read_image(path)
        except ImageReadError as exc:
            return exc.reason


@dataclass(frozen=True)
class ImageFiles(Source):
    """An image file, a folder of them (recursive) or a glob; read losslessly, no frame rate."""

    paths: tuple[Path, ...] = ()

    kind: ClassVar[str] = "images"

    @classmethod
    def claim(cls, spec: str) -> ImageFiles | None:
        path = Path(spec)
        if path.is_dir():
            images = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if images:
                return cls(spec, paths=tuple(images))
            raise SourceError(f"folder '{spec}' holds no image files ({', '.join(IMAGE_SUFFIXES)}), also in subfolders")
        if path.is_file():
            return cls(spec, paths=(path,)) if path.suffix.lower() in IMAGE_SUFFIXES else None
        if any(c in spec for c in _GLOB_CHARS):
            matches = sorted(Path(p) for p in glob.glob(spec))
            images = tuple(p for p in matches if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if images:
                return cls(spec, paths=images)
            raise SourceError(f"glob '{spec}' matches no image files ({', '.join(IMAGE_SUFFIXES)})")
        return None

    def open(self) -> ImagesReader:
        return ImagesReader(self.paths)

    @property
    def total(self) -> int:
        return len(self.paths)

    def frame_name(self, index: int) -> str:
        return str(self.paths[index])

    def describe(self, reader: Reader | None = None) -> str:
        """Sizes from the first image's header only: the start-up line never decodes a file, so an
        unreadable first image is an item error like any other, not an abort."""
        mode = "live, drops oldest when behind" if self.live else "file, lossless"
        first = header_size(self.paths[0]) if self.paths else None
        size = f"{first[0]}x{first[1]} (first image)" if first is not None else "first image size unknown"
        return f"images '{self.spec}': {len(self.paths)} files, {size}, no frame rate ({mode})"


@dataclass(frozen=True)
class VideoFile(CaptureSource):
    """Any other existing file: a video container OpenCV decodes (FFMPEG); read losslessly at file speed."""

    kind: ClassVar[str] = "video"
    counts_frames: ClassVar[bool] = True

    @classmethod
    def claim(cls, spec: str) -> VideoFile | None:
        return cls(spec) if Path(spec).is_file() else None

    @property
    def total(self) -> int | None:
        reader = self.open()
        reader.release()
        return reader.declared or None


@dataclass(frozen=True)
class Camera(CaptureSource):
    """A camera index (``0``) or a V4L2 device node (``/dev/video2``)."""

    kind: ClassVar[str] = "camera"
    live_by_default: ClassVar[bool] = True
    ends: ClassVar[bool] = False

    @classmethod
    def claim(cls, spec: str) -> Camera | None:
        return cls(spec) if spec.isdigit() or spec.startswith("/dev/video") else None

    def capture_args(self) -> tuple[Any, ...]:
        return (int(self.spec) if self.spec.isdigit() else self.spec,)

    def needed_backends(self) -> tuple[str, ...]:
        return ("V4L2", "GSTREAMER", "FFMPEG") if sys.platform.startswith("linux") else ()

    def frame_name(self, index: int) -> str:
        return f"camera:{self.spec}#frame={index}"


@dataclass(frozen=True)
class GStreamerPipeline(CaptureSource):
    """A GStreamer pipeline ending in ``appsink`` (Jetson CSI cameras, hardware decoders); needs an OpenCV
    built with GStreamer (JetPack's, not pip's)."""

    kind: ClassVar[str] = "gstreamer"
    live_by_default: ClassVar[bool] = True
    ends: ClassVar[bool] = False
    backends: ClassVar[tuple[str, ...]] = ("GSTREAMER",)

    @classmethod
    def claim(cls, spec: str) -> GStreamerPipeline | None:
        return cls(spec) if "!" in spec and "appsink" in spec and not Path(spec).exists() else None

    def capture_args(self) -> tuple[Any, ...]:
        return (self.spec, cv2.CAP_GSTREAMER)


@dataclass(frozen=True)
class StreamUrl(CaptureSource):
    """``scheme://...``: RTSP, HTTP MJPEG, HLS, anything OpenCV's FFMPEG or GStreamer backend opens."""

    kind: ClassVar[str] = "url"
    live_by_default: ClassVar[bool] = True
    ends: ClassVar[bool] = False
    backends: ClassVar[tuple[str, ...]] = ("FFMPEG", "GSTREAMER")

    @classmethod
    def claim(cls, spec: str) -> StreamUrl | None:
        return cls(spec) if "://" in spec else None
