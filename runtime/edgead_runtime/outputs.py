"""Outputs that outlive a restart and a full disk: append-only JSON lines and image files never overwritten.

A service manager restarts a stopped process under the same flags, so nothing here truncates or overwrites:
a JSON-lines file is appended to (opened at its first line, so a start that fails before any frame leaves
it as it was), and an image file that already exists gets a new name. Every write is checked: a line or an
image that cannot be written whole (full disk, file-size limit, folder removed) is undone, counted in
``lost`` and said once (and once more when writing works again); the caller goes on. ``count`` is what is
really on disk.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SinkError

Log = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


def run_id() -> str:
    """``20261203T083402.517Z-3f9a``: the UTC start time to the millisecond and 4 random hex digits, unique per
    run and sorting by start time (two runs that start in the same second, as a quick restart does, still sort)."""
    now = dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}.{now.microsecond // 1000:03d}Z-{secrets.token_hex(2)}"


def check_output_file(path: Path, what: str) -> None:
    """Before any work: ``path`` can be appended to (not a folder, its folder creatable and writable)."""
    if path.is_dir():
        raise SinkError(f"{what} '{path}' is a folder; give a file name, e.g. '{path / 'out.jsonl'}'")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SinkError(f"cannot create the folder of {what} '{path}': {exc.strerror}") from exc
    target = path if path.exists() else path.parent
    if not os.access(target, os.W_OK):
        raise SinkError(f"{what} '{path}' is not writable ({'the file' if path.exists() else 'its folder'})")


class WriteFailures:
    """Counts lost writes and says so once per outage: at the first failure, and when writing works again."""

    def __init__(self, what: str, warn: Log, on_lost: Callable[[], None]) -> None:
        self.what, self.warn, self.on_lost = what, warn, on_lost
        self.lost = 0
        self._failing = False

    def failed(self, reason: str) -> None:
        self.lost += 1
        self.on_lost()
        if not self._failing:
            self._failing = True
            self.warn(f"cannot write {self.what} ({reason}); scoring goes on, lost outputs are counted")

    def worked(self) -> None:
        if self._failing:
            self._failing = False
            self.warn(f"writing {self.what} again; {self.lost} output(s) lost so far")


def _reason(exc: OSError) -> str:
    return exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))


class JsonLines:
    """An append-only JSON-lines file. Each line is one ``write`` on an ``O_APPEND`` descriptor; one that fails or
    is cut short is truncated away, so the file never holds half a line, and a half line left by a killed earlier
    run is ended before the first new one."""

    def __init__(self, path: Path, what: str, warn: Log = _quiet, on_lost: Callable[[], None] = lambda: None) -> None:
        check_output_file(path, what)
        self.path = path
        self.count = 0
        self._fd: int | None = None
        self._failures = WriteFailures(f"{what} '{path}'", warn, on_lost)

    @property
    def lost(self) -> int:
        return self._failures.lost

    def _open(self) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        size = os.fstat(fd).st_size
        if size:
            with open(self.path, "rb") as existing:
                existing.seek(size - 1)
                if existing.read(1) != b"\n":  # an earlier run was killed mid-line: keep it, whole lines after it
                    os.write(fd, b"\n")
        return fd

    def write(self, record: dict[str, Any]) -> bool:
        """Append one line; False (counted in ``lost``) if it could not be written whole."""
        data = (json.dumps(record) + "\n").encode()
        size = None
        try:
            if self._fd is None:
                self._fd = self._open()
            size = os.fstat(self._fd).st_size
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, f"only {written} of {len(data)} bytes written")
        except OSError as exc:
            if self._fd is not None and size is not None:
                try:
                    os.ftruncate(self._fd, size)  # no half line
                except OSError:
                    pass
            self._failures.failed(_reason(exc))
            return False
        self.count += 1
        self._failures.worked()
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class ImageFolder:
    """PNG files in a folder, each created exclusively: an existing name gets ``-1``, ``-2``, ... rather than
    being overwritten. A file that cannot be written whole is removed and counted in ``lost``."""

    def __init__(self, folder: Path, what: str, warn: Log = _quiet, on_lost: Callable[[], None] = lambda: None) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"cannot create {what} '{folder}': {exc.strerror}") from exc
        if not os.access(folder, os.W_OK):
            raise SinkError(f"{what} '{folder}' is not writable")
        self.folder = folder
        self.count = 0
        self._failures = WriteFailures(f"{what} '{folder}'", warn, on_lost)

    @property
    def lost(self) -> int:
        return self._failures.lost

    def save(self, stem: str, image: np.ndarray) -> Path | None:
        """Write ``image`` as ``<stem>.png`` (or ``<stem>-N.png``); its path, or None if it was lost."""
        from .opencv import cv2

        ok, encoded = cv2.imencode(".png", image)
        if not ok:
            self._failures.failed("OpenCV could not encode a PNG")
            return None
        data = encoded.tobytes()
        stem = safe_stem(stem)
        for n in range(10_000):
            path = self.folder / (f"{stem}.png" if n == 0 else f"{stem}-{n}.png")
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            except OSError as exc:
                self._failures.failed(_reason(exc))
                return None
            try:
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(errno.ENOSPC, f"only {written} of {len(data)} bytes written")
            except OSError as exc:
                os.close(fd)
                path.unlink(missing_ok=True)  # never half a picture
                self._failures.failed(_reason(exc))
                return None
            os.close(fd)
            self.count += 1
            self._failures.worked()
            return path
        self._failures.failed(f"10,000 files named '{stem}*.png' already")
        return None

    def save_all(self, images: dict[str, np.ndarray]) -> dict[str, Path] | None:
        """Several files that belong together (a frame and its heat map): all of them, or none (counted once)."""
        saved: dict[str, Path] = {}
        for stem, image in images.items():
            path = self.save(stem, image)
            if path is None:  # counted once, as lost, by ``save``
                for done in saved.values():
                    done.unlink(missing_ok=True)
                self.count -= len(saved)
                return None
            saved[stem] = path
        return saved


def safe_stem(name: str, limit: int = 200) -> str:
    """A file-name stem from a frame name: path separators and odd characters become ``_``, the end kept if long."""
    stem = re.sub(r"[^\w.-]+", "_", name).strip("_.") or "frame"
    return stem[-limit:]
