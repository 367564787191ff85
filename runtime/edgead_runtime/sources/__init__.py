"""Where frames come from: an image, a folder, a glob, a video file, a camera index, a stream URL or a
GStreamer pipeline, each a ``Source`` kind; ``SOURCES`` resolves a spec (the first kind that claims it wins).

A source is read through the one frame loop (``FrameLoop``) by ``predict`` and ``run`` alike: an image
or a video frame that cannot be decoded is an item with ``error`` set, counted, and the loop goes on.
Cameras, URLs and pipelines are *live*: they run at their own pace, so a reader that falls behind drops
frames and a dropout is worth reopening; files and folders are read losslessly at file speed and end.

A new kind (a vendor camera SDK, a shared-memory feed) is one ``Source`` subclass with ``claim`` and
``open`` (see ``docs/stream.md``, "A new source kind") and one row here, or ``register_source`` from
outside the package.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import SourceError
from .base import CaptureReader, CaptureSource, Reader, Source, frame_count
from .kinds import Camera, GStreamerPipeline, ImageFiles, StreamUrl, VideoFile
from .loop import FrameLoop, Item, LoopPolicy

# Resolution order: the first kind whose ``claim`` returns a source wins.
SOURCES: list[type[Source]] = [
    Camera,  # digits, or /dev/video*
    GStreamerPipeline,  # contains "!" and "appsink", and is not a file
    StreamUrl,  # contains "://"
    ImageFiles,  # an image file, a folder holding images (recursive), a glob matching images
    VideoFile,  # any other existing file
]

__all__ = [
    "SOURCES",
    "Camera",
    "CaptureReader",
    "CaptureSource",
    "FrameLoop",
    "GStreamerPipeline",
    "ImageFiles",
    "Item",
    "LoopPolicy",
    "Reader",
    "Source",
    "SourceError",
    "StreamUrl",
    "VideoFile",
    "frame_count",
    "open_source",
    "register_source",
]


def open_source(spec: str | Path) -> Source:
    """Resolve ``spec`` with the ``SOURCES`` table; SourceError naming what was tried if no kind claims it."""
    spec = str(spec)
    for kind in SOURCES:
        source = kind.claim(spec)
        if source is not None:
            return source
    kinds = ", ".join(kind.kind for kind in SOURCES)
    raise SourceError(f"source '{spec}' is not a file, folder, glob, camera index or URL (kinds tried: {kinds})")


def register_source(kind: type[Source], before: type[Source] | None = None) -> None:
    """Add a source kind to the table, ahead of ``before`` (default: first, so its specs win over
    ``scheme://`` URLs and files). Registering a kind twice moves it."""
    if kind in SOURCES:
        SOURCES.remove(kind)
    SOURCES.insert(SOURCES.index(before) if before is not None else 0, kind)
