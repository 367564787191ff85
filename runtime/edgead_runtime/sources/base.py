"""What every source kind is: a resolved spec that opens a ``Reader``, and the OpenCV capture they mostly share.

A kind is one ``Source`` subclass: its class attributes say whether it is live and whether a failed read at
its end is the end (a file) or a dropout (a camera); ``claim`` recognises its specs; ``open`` gives a
``Reader``. The frame loop (``loop.py``) and the stream service ask nothing else of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from ..errors import SourceError
from ..opencv import capture_backends, cv2, describe_build
from .loop import FrameLoop, Item, LoopPolicy

# a file whose reads fail this often in a row is cut short there, not a run of corrupt frames
MAX_BAD_FRAMES_IN_A_ROW = 100


class Reader:
    """An opened source. ``read()`` gives the next frame, a string saying why the frame at this position is
    unreadable (the reader has moved past it), or None at the end of a file or a live source's dropout."""

    fps: float | None = None  # declared frame rate, None if the source has none
    end_note: str | None = None  # why the reader ended early, for the log

    def read(self) -> np.ndarray | str | None:
        raise NotImplementedError

    def details(self) -> str:
        """``10 fps, 128x128, 500 frames``: what the run states when the source opens."""
        return ""

    def release(self) -> None:
        pass


@dataclass(frozen=True)
class Source:
    """A resolved source spec. ``live`` overrides the kind's default: a recording played as a camera
    (``--live``), or a URL read losslessly (``--no-live``)."""

    spec: str
    live_override: bool | None = None

    kind: ClassVar[str] = "source"  # named in messages and the docs' table
    live_by_default: ClassVar[bool] = False  # drops the oldest frames when the reader falls behind
    ends: ClassVar[bool] = True  # a failed read at the end is the end (a file), not a dropout to reopen
    uses_opencv_capture: ClassVar[bool] = False  # the run states the OpenCV build and its capture backends
    backends: ClassVar[tuple[str, ...]] = ()  # OpenCV capture backends that can read it, any one will do

    @classmethod
    def claim(cls, spec: str) -> Source | None:
        """This kind's source for ``spec``, or None if the spec is not of this kind."""
        raise NotImplementedError

    def open(self) -> Reader:
        """An opened reader; SourceError if it will not open."""
        raise NotImplementedError

    @property
    def live(self) -> bool:
        """Live sources drop the oldest frames when the reader falls behind and are reopened when they drop out."""
        return self.live_by_default if self.live_override is None else self.live_override

    def with_live(self, live: bool | None) -> Source:
        return replace(self, live_override=live)

    @property
    def total(self) -> int | None:
        """Number of items if known before reading (images, video files); None for live streams."""
        return None

    def frame_name(self, index: int) -> str:
        """The name of frame ``index`` in events and JSON lines."""
        return f"{self.spec}#frame={index}"

    def needed_backends(self) -> tuple[str, ...]:
        """OpenCV capture backends that can read this source (any one of them will do); () if none is needed."""
        return self.backends

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

    def describe(self, reader: Reader | None = None) -> str:
        """What a run states at start, e.g. ``video 'line.avi': 25 fps, 128x128, 500 frames (file, lossless)``."""
        mode = "live, drops oldest when behind" if self.live else "file, lossless"
        details = reader.details() if reader is not None else ""
        return f"{self.kind} '{self.spec}'{': ' + details if details else ''} ({mode})"

    def __iter__(self) -> Iterator[Item]:
        """The source's items through the shared frame loop, ending at the end of a file or a live dropout."""
        return iter(FrameLoop(self, LoopPolicy(reopen=False)))


def frame_count(capture: cv2.VideoCapture) -> int:
    """The frame count a video container declares, 0 when it declares none."""
    count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    return int(count) if count and count > 0 else 0


class CaptureReader(Reader):
    """Frames from an opened ``cv2.VideoCapture``. With ``counts_frames`` (a file), a failed read before the
    declared frame count is a corrupt frame (cv2's next read goes on after it), not the end."""

    def __init__(self, capture: cv2.VideoCapture, counts_frames: bool) -> None:
        self.capture = capture
        self.declared = frame_count(capture) if counts_frames else 0
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 else None
        self.size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.position = 0
        self.bad_in_a_row = 0

    def read(self) -> np.ndarray | str | None:
        ok, frame = self.capture.read()
        position = self.position
        if ok:
            self.position, self.bad_in_a_row = position + 1, 0
            return frame if frame is not None else np.empty((0,), np.uint8)
        if position >= self.declared:
            return None
        if self.bad_in_a_row >= MAX_BAD_FRAMES_IN_A_ROW:
            self.end_note = (
                f"{self.bad_in_a_row} undecodable frames in a row before frame {position}; "
                "treating the rest of the file as unreadable (is it truncated?)"
            )
            return None
        self.position, self.bad_in_a_row = position + 1, self.bad_in_a_row + 1
        return f"undecodable frame {position} (corrupt data in the file)"

    def details(self) -> str:
        rate = f"{self.fps:g} fps" if self.fps else "frame rate unknown"
        frames = f", {self.declared} frames" if self.declared > 0 else ""
        return f"{rate}, {self.size[0]}x{self.size[1]}{frames}"

    def release(self) -> None:
        self.capture.release()


@dataclass(frozen=True)
class CaptureSource(Source):
    """A source OpenCV's ``VideoCapture`` opens: a video file, a camera, a URL or a GStreamer pipeline."""

    uses_opencv_capture: ClassVar[bool] = True
    counts_frames: ClassVar[bool] = False  # the container declares a frame count (a file)

    def capture_args(self) -> tuple[Any, ...]:
        """The arguments of ``cv2.VideoCapture`` for this spec."""
        return (self.spec,)

    def open(self) -> CaptureReader:
        capture = cv2.VideoCapture(*self.capture_args())
        if not capture.isOpened():
            capture.release()
            raise SourceError(
                f"cannot open {self.kind} '{self.spec}' with OpenCV; check the path, index or URL, and that this "
                f"cv2 can read it ({describe_build()})"
            )
        return CaptureReader(capture, self.counts_frames)
