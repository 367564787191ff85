"""Atomic file writes, torch-free, so that training, export and engine builds share one implementation.

A crash, a full disk or Ctrl-C while writing leaves the previous file (or none), never half a file:
everything is written to a temporary name in the same folder, flushed to disk (fsync) and renamed over
the target, and the folder is flushed too where the OS allows it, so a power cut cannot undo the rename.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

TMP_SUFFIX = ".tmp"


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` and rename the result over ``path`` only once it is complete.

    The temporary file is created exclusively (``O_EXCL``: a symlink planted under its name is never followed) and
    the rename replaces a symlink at ``path`` instead of writing through it, so a link planted in a shared output
    folder cannot redirect the write. Temporary names carry the writer's process id; ones left by a process that
    no longer runs (kill -9, power cut) are removed here, so they do not pile up.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        _fsync(tmp, os.O_RDWR)  # the bytes are on disk before the name points at them
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        _fsync(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))  # the rename itself
    except OSError:  # Windows cannot open a folder, some file systems refuse fsync on one
        pass


@contextlib.contextmanager
def staging_folder(path: Path) -> Iterator[Path]:
    """A fresh folder beside ``path`` (same file system, so ``os.replace`` out of it is a rename, never a copy
    across devices), removed afterwards with whatever is left in it. Named like :func:`atomic_write`'s temporaries,
    so one left by kill -9 is removed by the next write of ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=TMP_SUFFIX, dir=path.parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def replace_files(moves: list[tuple[Path, Path]]) -> None:
    """Flush each staged file to disk, then rename them in order (the one that names the others last)."""
    for staged, _ in moves:
        _fsync(staged, os.O_RDONLY)
    for staged, target in moves:
        os.chmod(staged, 0o644)
        os.replace(staged, target)
    if moves:
        try:
            _fsync(moves[-1][1].parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            pass


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove ``.<name>.<pid>.*.tmp`` files and staging folders beside ``path`` whose writer process is gone."""
    removed = []
    for tmp in Path(path).parent.glob(f".{glob.escape(Path(path).name)}.*{TMP_SUFFIX}"):
        pid = tmp.name[len(Path(path).name) + 2 :].split(".", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # another user's process (or a platform without signal 0): leave it
        return True
    return True


def _fsync(path: str | Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: Path, data: bytes | memoryview) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n"))
