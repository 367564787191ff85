"""The one frame loop: what ``predict`` and ``run`` both read a source with.

A frame that cannot be decoded (an unreadable image in a folder, a corrupt frame inside a video) is an
``Item`` with ``error`` set, and the loop goes on to the next one; the caller counts and reports it.
The end of a file is the end (or, with ``loop``, the start again); a live source that stops giving
frames is a dropout, reopened on exponential backoff when the policy says so. A live source that stays
open but sends nothing (a stalled stream: OpenCV's FFMPEG read blocks for 30 s, V4L2 or GStreamer may block
for ever) is read on a thread of its own and given up after ``stall_timeout`` seconds without a frame: a
dropout like any other.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import SourceError

if TYPE_CHECKING:
    from .base import Reader, Source

Log = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


@dataclass(frozen=True)
class Item:
    """A named frame (``dir/001.png``, ``line.mp4#frame=12``); ``frame`` is None when ``error`` is set."""

    name: str
    frame: np.ndarray | None
    error: str | None = None


@dataclass(frozen=True)
class LoopPolicy:
    """How a source is read past its end or an outage (``run``'s flags; ``predict`` keeps the defaults but
    ``reopen``)."""

    loop: bool = False  # start a file source again at its end
    reopen: bool = True  # reopen a live source that drops out; False ends the loop there
    max_reconnects: int | None = None  # failed reopen attempts in a row before giving up; None: never
    backoff: tuple[float, float] = (0.5, 30.0)  # first and longest wait between reopen attempts, seconds
    stall_timeout: float | None = 10.0  # seconds a live source may give no frame before it counts as dropped


_STALLED = object()


class _Watched:
    """A live reader read on its own thread, so that a read that blocks can be given up on. The reader is
    released on that thread once its last read returns (never while a read is under way)."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self._results: queue.Queue = queue.Queue(maxsize=1)
        self._want = threading.Event()
        self._closed = False
        threading.Thread(target=self._serve, name="edgead-read", daemon=True).start()

    def _serve(self) -> None:
        try:
            while True:
                self._want.wait()
                self._want.clear()
                if self._closed:
                    return
                try:
                    got: object = self.reader.read()
                except BaseException as exc:  # handed to the loop's thread
                    got = exc
                if self._closed:
                    return
                self._results.put(got)
        finally:
            self.reader.release()

    @property
    def end_note(self) -> str | None:
        return self.reader.end_note

    def read(self, timeout: float, stop: threading.Event) -> object:
        """The reader's next result; ``_STALLED`` after ``timeout`` seconds without one; None once ``stop`` is set."""
        self._want.set()
        deadline = time.monotonic() + timeout
        while True:
            try:
                got = self._results.get(timeout=min(0.2, max(deadline - time.monotonic(), 0.0)))
                break
            except queue.Empty:
                if stop.is_set():
                    return None
                if time.monotonic() >= deadline:
                    return _STALLED
        if isinstance(got, BaseException):
            raise got
        return got

    def release(self) -> None:
        self._closed = True
        self._want.set()


class FrameLoop:
    """Items of one source in order; iterate once.

    ``on_up(bool)`` hears the source open (True) and end or drop out (False); ``on_reconnect()`` hears each
    reopen after a dropout. ``fps`` is the source's declared frame rate once it is open (None if it has none).
    """

    def __init__(
        self,
        source: Source,
        policy: LoopPolicy = LoopPolicy(),
        stop: threading.Event | None = None,
        log: Log = _quiet,
        warn: Log = _quiet,
        on_up: Callable[[bool], None] = lambda up: None,
        on_reconnect: Callable[[], None] = lambda: None,
    ) -> None:
        self.source, self.policy, self.stop = source, policy, stop or threading.Event()
        self.log, self.warn, self.on_up, self.on_reconnect = log, warn, on_up, on_reconnect
        self.fps: float | None = None

    def __iter__(self) -> Iterator[Item]:
        source = self.source
        reader = self._open(first=True)
        position = 0  # index of the next frame (its name), corrupt ones included; goes on across reopens
        try:
            while reader is not None and not self.stop.is_set():
                got = self._read(reader)
                if got is None and self.stop.is_set():
                    return
                if got is _STALLED:
                    self.warn(
                        f"no frame from '{source.spec}' for {self.policy.stall_timeout:g} s after frame {position - 1} "
                        "(a stalled stream; --stall-timeout)"
                    )
                    got = None
                if got is None:  # the end of a file, or a live source's dropout
                    if reader.end_note:
                        self.warn(f"'{source.spec}': {reader.end_note}")
                    reader.release()
                    reader = None
                    if source.ends and self.policy.loop:  # --loop: a file from the start again
                        reader, position = source.open(), 0
                        continue
                    self.on_up(False)
                    if source.ends:  # a file ends, even one played as a camera (--live)
                        return
                    if not self.policy.reopen:
                        self.warn(f"source '{source.spec}' ended after frame {position - 1}")
                        return
                    self.warn(f"source '{source.spec}' dropped out after frame {position - 1}; reopening")
                    reader = self._open(first=False)
                    continue
                name = source.frame_name(position)
                position += 1
                if isinstance(got, str):
                    yield Item(name, None, got)
                elif got.size == 0:
                    yield Item(name, None, "empty frame")
                else:
                    yield Item(name, got)
        finally:
            if reader is not None:
                reader.release()

    def _read(self, reader: Reader | _Watched) -> object:
        if isinstance(reader, _Watched):
            return reader.read(self.policy.stall_timeout or 0.0, self.stop)
        return reader.read()

    def _open(self, first: bool) -> Reader | _Watched | None:
        """An opened reader, or None when stopping; SourceError for a file that will not open, or after
        ``max_reconnects`` failed attempts in a row at a live source."""
        source = self.source
        first_wait, longest = self.policy.backoff
        attempt = 0
        while not self.stop.is_set():
            try:
                reader = source.open()
            except SourceError as exc:
                if not source.live or source.ends:
                    raise  # a file that will not open is a mistake, not an outage
                attempt += 1
                limit = self.policy.max_reconnects
                if limit is not None and attempt > limit:
                    raise SourceError(
                        f"gave up on '{source.spec}' after {limit} failed reopen attempts "
                        "(raise --max-reconnects, or leave it out to retry forever)"
                    ) from exc
                wait = min(first_wait * 2 ** (attempt - 1), longest)
                self.warn(f"cannot open '{source.spec}' (attempt {attempt}); retrying in {wait:.1f} s")
                self.stop.wait(wait)
                continue
            if not first:
                self.on_reconnect()
                self.warn(f"source '{source.spec}' reopened after {attempt + 1} attempt(s)")
            self.log(f"source {source.describe(reader)}")
            if self.fps is None:
                self.fps = reader.fps
            self.on_up(True)
            if source.live and self.policy.stall_timeout:
                return _Watched(reader)
            return reader
        return None
