"""Checks on the values a user types, torch-free, shared by ``edgead`` and ``edgead-runtime`` (and the Python API).

Each check takes a value, returns it converted, or raises :class:`~edgead_runtime.errors.EdgeadError` naming the
flag, the value and what is accepted. :func:`flag` turns one into an argparse ``type=``, so a bad number is refused
before any work starts (``--image-size 0``, ``--coreset-ratio nan``, ``--batch -1``) as one ``error:`` line.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import argparse

from .errors import EdgeadError, EdgeadWarning

T = TypeVar("T")
MIN_FREE_BYTES = 1 << 20  # an output folder with less free space than this is refused as full


def integer(text: object, what: str = "value", minimum: int = 1) -> int:
    """An int at least ``minimum`` (``--batch``, ``--iters``, ``--image-size``)."""
    try:
        value = int(str(text).strip()) if isinstance(text, str) else int(text)  # type: ignore[call-overload]
        if isinstance(text, float) and value != text:
            raise ValueError
    except (TypeError, ValueError):
        raise EdgeadError(f"{what} must be a whole number, not '{text}'") from None
    if value < minimum:
        raise EdgeadError(f"{what} must be at least {minimum}, not {value}")
    return value


def real(text: object, what: str = "value", low: float | None = None, high: float | None = None,
         low_open: bool = False) -> float:  # fmt: skip
    """A finite float in [low, high] (``(low, high]`` with ``low_open``); NaN and inf are always refused."""
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise EdgeadError(f"{what} must be a number, not '{text}'") from None
    if not math.isfinite(value):
        raise EdgeadError(f"{what} must be a finite number, not {value}")
    below = low is not None and (value <= low if low_open else value < low)
    if below or (high is not None and value > high):
        left = "(" if low_open else "["
        span = f"{left}{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"
        raise EdgeadError(f"{what} must lie in {span}, not {value:g}")
    return value


def fraction(text: object, what: str = "value") -> float:
    """A finite number in (0, 1] (``--coreset-ratio``, ``--holdout``)."""
    return real(text, what, 0.0, 1.0, low_open=True)


def threshold(text: object, what: str = "threshold") -> float:
    """A finite threshold on the normalized scale; outside [0, 1] it is allowed with a warning.

    Normalized scores lie in [0, 1], so a threshold above 1 flags nothing and one below 0 flags everything.
    NaN is refused: ``score >= nan`` is False, so every part would pass.
    """
    value = real(text, what)
    if not 0.0 <= value <= 1.0:
        verdict = "no frame" if value > 1 else "every frame"
        warnings.warn(
            f"{what} {value:g} lies outside [0, 1], the normalized score's range: {verdict} will be anomalous",
            EdgeadWarning,
            stacklevel=2,
        )
    return value


def output_path(path: object, what: str = "output") -> Path:
    """An output file that can be written: not a folder, a name the OS encodes, a folder we can create or write to.

    Checked before the work that produces it, so a typo does not cost a training run.
    """
    path = Path(path)  # type: ignore[arg-type]
    encodable(path, what)
    if path.is_dir():
        raise EdgeadError(f"{what} '{path}' is a folder; give a file name, e.g. '{path / 'model'}'")
    _writable(path, path.parent, what)
    return path


def output_folder(path: object, what: str = "output folder") -> Path:
    """A folder that can be created or written to (a run directory, ``--save-overlays``)."""
    path = Path(path)  # type: ignore[arg-type]
    encodable(path, what)
    if path.exists() and not path.is_dir():
        raise EdgeadError(f"{what} '{path}' is a file, not a folder")
    _writable(path, path, what)
    return path


def _writable(path: Path, folder: Path, what: str) -> None:
    """Create and delete a probe file in the nearest existing folder: permissions (root ignores them, so
    ``os.access`` cannot tell), a read-only mount and a full disk all show up now rather than after the work."""
    folder = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not folder.is_dir():
        raise EdgeadError(f"{what} '{path}': '{folder}' is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".edgead-probe-"):
            pass
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        raise EdgeadError(
            f"{what} '{path}': cannot write in '{folder}' ({exc.strerror}); choose another path"
        ) from None
    if free < MIN_FREE_BYTES:
        raise EdgeadError(f"{what} '{path}': the disk of '{folder}' is full ({free} bytes free); free space first")


def encodable(path: Path, what: str = "path") -> Path:
    """Refuse a path with bytes that are not valid in the file system encoding (ONNX Runtime and OpenVINO take
    UTF-8 strings, and would blame the file's contents instead)."""
    try:
        os.fsdecode(os.fsencode(path)).encode("utf-8")
    except UnicodeError:
        shown = os.fsencode(path).decode(sys.getfilesystemencoding(), "backslashreplace")
        raise EdgeadError(f"{what} '{shown}' is not valid UTF-8; rename it") from None
    return path


def one_line_warnings(prog: str) -> None:
    """Print :class:`EdgeadWarning` as ``prog: warning: ...`` (no source line); other warnings keep Python's form."""
    shown = warnings.showwarning
    if getattr(shown, "edgead_prog", None) == prog:  # installed already (tests call main() many times)
        return

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ANN202 - warnings' API
        if issubclass(category, EdgeadWarning):
            print(f"{prog}: warning: {message}", file=file or sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    show.edgead_prog = prog  # type: ignore[attr-defined]
    warnings.showwarning = show


def flag(check: Callable[..., T], name: str, **kwargs: object) -> Callable[[str], T]:
    """``check`` as an argparse ``type=`` for ``name``: a bad value is argparse's one-line usage error."""
    import argparse

    def parse(text: str) -> T:
        try:
            return check(text, name, **kwargs)
        except EdgeadError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name.lstrip("-")
    return parse


def add_threshold_flag(parser: argparse.ArgumentParser) -> None:
    """``--threshold`` of ``predict`` and ``run``: the run-time override of the model's normalized threshold."""
    parser.add_argument(
        "--threshold", type=flag(real, "--threshold"), help="normalized threshold (default: the model's, usually 0.5)"
    )


def positive(name: str) -> Callable[[str], int]:
    return flag(integer, name)


def at_least_zero(name: str) -> Callable[[str], int]:
    return flag(integer, name, minimum=0)
