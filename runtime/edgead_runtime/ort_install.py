"""Which ONNX Runtime build is installed, and the fix when it is none, broken, or two at once.

PyPI ships ONNX Runtime as several distributions (``onnxruntime`` for the CPU, ``onnxruntime-gpu`` with the
CUDA and TensorRT providers, ...) that all install the same ``onnxruntime`` module, and pip does not know
they collide: installing a second one overwrites the first one's files (whichever came last wins, so the
CUDA provider can silently vanish), and uninstalling one deletes files the other needs ("module
'onnxruntime' has no attribute 'InferenceSession'"); see microsoft/onnxruntime#26996 and #10685. Hence
edgead-runtime has no onnxruntime in its base dependencies but an extra per build (``[cpu]``, ``[gpu]``),
and the way out of a mixed install is to remove every build and install one.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from .errors import BackendError

DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml", "onnxruntime-qnn")
INSTALL_HINT = (
    "pip install 'edgead-runtime[cpu]' (CPU) or 'edgead-runtime[gpu]' (NVIDIA GPU, x86_64); on a Jetson, the "
    "onnxruntime-gpu wheel for your JetPack (docs/gpu.md, 'Installing')"
)


def installed() -> dict[str, str]:
    """The ONNX Runtime distributions pip has installed here, name -> version."""
    found = {}
    for name in DISTRIBUTIONS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def reinstall_command(target: str = "gpu") -> str:
    """Remove every ONNX Runtime build, then install one: the only way out of a mixed install."""
    return f"pip uninstall -y {' '.join(DISTRIBUTIONS[:2])} && pip install 'edgead-runtime[{target}]'"


def conflict(found: dict[str, str] | None = None) -> str | None:
    """Why more than one ONNX Runtime distribution is a problem, with the fix; None when there is at most one."""
    found = installed() if found is None else found
    if len(found) < 2:
        return None
    names = ", ".join(f"{name} {version}" for name, version in found.items())
    target = "gpu" if "onnxruntime-gpu" in found else "cpu"
    return (
        f"{names} are all installed; they share the `onnxruntime` module and the one installed last overwrote "
        f"the others' files. Keep one: {reinstall_command(target)}"
    )


def import_onnxruntime() -> Any:
    """The ``onnxruntime`` module, or a BackendError saying what to install (or reinstall)."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendError(f"onnxruntime is not installed ({exc}): {INSTALL_HINT}") from exc
    if not hasattr(onnxruntime, "InferenceSession"):  # the shell left when one of two builds was uninstalled
        found = installed()
        raise BackendError(
            f"the onnxruntime module is incomplete (no InferenceSession; installed: {found or 'none'}), which is "
            f"what uninstalling one of two ONNX Runtime builds leaves: {reinstall_command()} (or [cpu])"
        )
    return onnxruntime
