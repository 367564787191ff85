"""The machine a figure was measured on, and this process's memory: recorded by bench, reported by the stream."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import __version__


def memory_kb() -> dict[str, int]:
    """Resident set size now (``rss_kb``) and at peak (``peak_rss_kb``), in kB; {} where the OS says neither.

    Linux's /proc VmHWM belongs to the running program; getrusage's ru_maxrss (the fallback elsewhere,
    which has no current RSS, so both keys carry the peak) would also count the parent's memory at fork,
    which a freshly started probe process inherits.
    """
    found: dict[str, int] = {}
    for line in (_read("/proc/self/status") or "").splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            found["rss_kb" if line.startswith("VmRSS") else "peak_rss_kb"] = int(line.split()[1])
    if "peak_rss_kb" not in found:
        try:
            import resource
        except ImportError:  # Windows
            return found
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        found["peak_rss_kb"] = peak // 1024 if sys.platform == "darwin" else peak  # macOS reports bytes
    found.setdefault("rss_kb", found["peak_rss_kb"])
    return found


def peak_rss_mb() -> float | None:
    """This process's resident-set high-water mark in MiB (None where the OS does not say)."""
    peak = memory_kb().get("peak_rss_kb")
    return None if peak is None else peak / 2**10


def engine_modules() -> list[str]:
    """The engines' Python modules, from the backend table (``Backend.library``), each once, in table order."""
    from .backends import BACKENDS, backend_class

    return list(dict.fromkeys(lib for name in BACKENDS if (lib := backend_class(name).library)))


def machine_info() -> dict[str, Any]:
    """What a latency number depends on, recorded beside it: CPU, engines, and GPU/Jetson facts where present."""
    import numpy as np

    cpu, cores = _cpu()
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": cores,
        "threads": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": _module_version("cv2"),
        **{name: _module_version(name) for name in engine_modules()},  # onnxruntime, openvino, tensorrt
        "edgead_runtime": __version__,
        "gpus": parse_nvidia_smi(_command(["nvidia-smi", *NVIDIA_SMI_QUERY])),
        "jetson": None,
    }
    release = _read("/etc/nv_tegra_release")
    if release is not None:
        info["jetson"] = {
            "l4t": parse_tegra_release(release),
            "release_line": release.splitlines()[0].strip() if release.strip() else "",
            "jetpack": (_command(["dpkg-query", "-W", "-f=${Version}", "nvidia-jetpack"]) or "").strip() or None,
            "model": (_read("/proc/device-tree/model") or "").strip("\x00\n ") or None,
            "power_mode": parse_nvpmodel(_command(["nvpmodel", "-q"])),
        }
    return info


NVIDIA_SMI_QUERY = ["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits"]


def parse_nvidia_smi(text: str | None) -> list[dict[str, Any]] | None:
    """``nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader,nounits`` -> one dict per
    GPU; None without nvidia-smi."""
    if not text or not text.strip():
        return None
    gpus = []
    for line in text.strip().splitlines():
        name, driver, memory = (field.strip() for field in line.rsplit(",", 2))
        gpus.append({"name": name, "driver": driver, "memory_mb": int(memory) if memory.isdigit() else memory})
    return gpus


def parse_tegra_release(text: str) -> str | None:
    """``# R36 (release), REVISION: 4.3, ...`` -> ``R36.4.3`` (the L4T release, which fixes the JetPack)."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    if not first.startswith("# R"):
        return None
    major = first[2:].split()[0]
    revision = first.split("REVISION:", 1)[1].split(",")[0].strip() if "REVISION:" in first else ""
    return f"{major}.{revision}" if revision else major


def parse_nvpmodel(text: str | None) -> str | None:
    """``nvpmodel -q`` prints ``NV Power Mode: MAXN`` then the mode number -> ``MAXN (mode 0)``."""
    if not text:
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "NV Power Mode:" in line:  # `nvpmodel -q --verbose` prefixes it with "NVPM VERB: Current mode: "
            name = line.split("NV Power Mode:", 1)[1].strip()
            number = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].isdigit() else None
            return f"{name} (mode {number})" if number is not None else name
    return None


def _cpu() -> tuple[str, int | None]:
    """CPU model name and physical core count, from /proc/cpuinfo where there is one."""
    cpu = platform.processor() or platform.machine()
    text = _read("/proc/cpuinfo") or ""
    cores: set[tuple[str, str]] = set()
    physical = "0"
    for line in text.splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key.lower() in ("model name", "hardware") and cpu in (platform.processor(), platform.machine()):
            cpu = value
        elif key == "physical id":
            physical = value
        elif key == "core id":
            cores.add((physical, value))
    return cpu, len(cores) or os.cpu_count()  # ARM cpuinfo has no core ids: every CPU is a core there


def _module_version(name: str) -> str | None:
    """Version of an installed module, None when absent (found without importing where possible)."""
    import importlib.metadata
    import importlib.util

    dists = {"cv2": ("opencv-python-headless", "opencv-python"), "onnxruntime": ("onnxruntime", "onnxruntime-gpu")}
    for dist in dists.get(name, (name,)):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    if importlib.util.find_spec(name) is None:  # a system package (JetPack's cv2, tensorrt) has no dist-info
        return None
    try:
        return str(getattr(__import__(name), "__version__", "unknown"))
    except Exception as exc:  # an installed but broken module is worth recording, not worth a crash
        return f"unimportable ({type(exc).__name__})"


def _command(cmd: list[str]) -> str | None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return None
