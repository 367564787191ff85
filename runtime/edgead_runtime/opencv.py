"""The one place that imports OpenCV, and what the ``cv2`` in use can capture from.

pip's OpenCV wheels are built without GStreamer, so on a Jetson people run JetPack's system
OpenCV instead. The runtime works with whichever ``cv2`` is importable: the pip wheel is the
``opencv`` extra, and a source that needs a capture backend this build lacks is named plainly.
"""

from __future__ import annotations

import re
from types import ModuleType

from .errors import MissingDependencyError

INSTALL_HINT = (
    "install the extra (pip install 'edgead-runtime[opencv]') or, on a Jetson, use JetPack's system OpenCV "
    "(apt install python3-opencv; create the venv with --system-site-packages)"
)
CAPTURE_BACKENDS = ("GSTREAMER", "FFMPEG", "V4L2")


def import_cv2() -> ModuleType:
    """``cv2``, or a MissingDependencyError that says how to get it."""
    try:
        import cv2
    except ImportError as exc:
        raise MissingDependencyError(f"OpenCV (cv2) is not importable ({exc}); {INSTALL_HINT}") from exc
    return cv2


cv2 = import_cv2()


def capture_backends() -> dict[str, bool]:
    """{"GSTREAMER": bool, "FFMPEG": bool, "V4L2": bool} for the cv2 in use.

    ``videoio_registry.hasBackend`` answers for built-in and plugin backends alike; older builds
    without it are read from the "Video I/O" section of ``cv2.getBuildInformation()``.
    """
    registry = getattr(cv2, "videoio_registry", None)
    if registry is not None and hasattr(registry, "hasBackend"):
        return {name: bool(registry.hasBackend(getattr(cv2, f"CAP_{name}"))) for name in CAPTURE_BACKENDS}
    return _from_build_info(cv2.getBuildInformation())


def _from_build_info(info: str) -> dict[str, bool]:
    """Capture backends from the "Video I/O" section of ``cv2.getBuildInformation()``."""
    labels = {"GSTREAMER": "GStreamer", "FFMPEG": "FFMPEG", "V4L2": "v4l/v4l2"}
    found = {}
    for name, label in labels.items():
        match = re.search(rf"^\s*{re.escape(label)}:\s*(\S+)", info, re.MULTILINE)
        found[name] = bool(match) and match.group(1).upper() != "NO"
    return found


def has_gui() -> bool:
    """True when this cv2 can open a window (pip's headless wheel and most servers cannot)."""
    try:
        cv2.namedWindow("edgead-gui-check", cv2.WINDOW_NORMAL)
        cv2.destroyWindow("edgead-gui-check")
    except cv2.error:
        return False
    return True


def describe_build() -> str:
    """One line: the OpenCV version, where it lives and its capture backends."""
    backends = ", ".join(f"{name} {'yes' if ok else 'no'}" for name, ok in capture_backends().items())
    return f"OpenCV {cv2.__version__} ({cv2.__file__}): {backends}"
