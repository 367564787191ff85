"""``edgead-runtime env``: which engines and providers actually load on this machine, and why not where they don't.

"Installed" is not "works": onnxruntime-gpu lists the CUDA provider even where libcudnn is missing and then
falls back to the CPU with a log line; TensorRT imports without a GPU. So each engine runs a probe graph
(one Relu, built into this file) on each of its devices or providers, and what the library printed while it
failed (captured from the process's stderr, where the C++ loggers write) is the reason shown.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import importlib.metadata
import io
import os
import platform
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from . import ort_install

# ONNX model, opset 17: y = Relu(x), x float [1, 4] (onnx.helper; tests/runtime/test_environment.py rebuilds it)
PROBE_ONNX = base64.b64decode(
    "CAgSBmVkZ2VhZDpMChIKAXgSAXkaBHJlbHUiBFJlbHUSDGVkZ2VhZF9wcm9iZVoTCgF4Eg4KDAgBEggKAggBCgIIBGITCgF5Eg4KDAgBEggKAggB"
    "CgIIBEIECgAQEQ=="
)
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
SKIPPED_PROVIDERS = ("AzureExecutionProvider",)  # runs remotely; nothing to load here


@dataclass(frozen=True)
class Check:
    """One engine, provider or device: does it load, and what it is or why not."""

    engine: str  # "onnxruntime", "openvino", "tensorrt", "nvidia-driver", "opencv"
    name: str  # provider, device or component
    ok: bool
    detail: str


@contextlib.contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Collect what C/C++ code writes to file descriptor 2 inside the block, and what Python code prints
    (onnxruntime prints its "EP Error ... Falling back" banner); the list fills on exit."""
    lines: list[str] = []
    printed = io.StringIO()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as tmp, contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield lines
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines.extend(tmp.read().decode(errors="replace").splitlines())
            lines.extend(printed.getvalue().splitlines())


def reason(lines: list[str], fallback: str) -> str:
    """The first error-looking lines a library logged, without their timestamps and source locations."""
    keep = []
    for line in lines:
        line = re.sub(r"^.*?\[[EW]:onnxruntime:[^\]]*\]\s*", "", line)  # timestamp, logger, source location
        line = re.sub(r"^.*\[ONNXRuntimeError\] : \d+ : \w+ : ", "", line).strip("* \t")  # and C++ frames
        if line and re.search(r"error|fail|cannot|not found|unable|no such|missing|require", line, re.IGNORECASE):
            keep.append(line)
    text = " | ".join(keep[:2]) or fallback
    return text if len(text) <= 400 else text[:397] + "..."


def _attempt(engine: str, name: str, probe: Callable[[], str], failed: str) -> Check:
    """Run ``probe`` (returns a description) with stderr captured; a failure's reason is its exception or log."""
    with captured_stderr() as lines:
        try:
            return Check(engine, name, True, probe())
        except Exception as exc:  # every engine raises its own classes; all mean "does not load"
            error = f"{type(exc).__name__}: {exc}".strip()
    return Check(engine, name, False, f"{failed}: {reason(lines, error)}")


# ---------------------------------------------------------------- the engines


def nvidia_driver() -> Check:
    """The NVIDIA driver through libcuda's C API (ctypes, no Python package): version and GPU count."""
    library = "nvcuda.dll" if os.name == "nt" else "libcuda.so.1"
    try:
        cuda = ctypes.CDLL(library)
    except OSError as exc:
        return Check("nvidia-driver", "libcuda", False, f"no NVIDIA driver ({exc})")
    version, count = ctypes.c_int(0), ctypes.c_int(0)
    status = cuda.cuInit(0)
    if status != 0:
        return Check("nvidia-driver", "libcuda", False, f"cuInit failed with CUDA error {status} (no usable GPU?)")
    cuda.cuDriverGetVersion(ctypes.byref(version))
    cuda.cuDeviceGetCount(ctypes.byref(count))
    major, minor = divmod(version.value, 1000)
    return Check(
        "nvidia-driver", "libcuda", count.value > 0, f"CUDA {major}.{minor // 10} driver, {count.value} GPU(s)"
    )


def onnxruntime_checks() -> list[Check]:
    found = ort_install.installed()
    try:
        ort = ort_install.import_onnxruntime()
    except Exception as exc:
        return [Check("onnxruntime", "module", False, str(exc))]
    builds = ", ".join(f"{k} {v}" for k, v in found.items()) or "none"
    checks = [Check("onnxruntime", "module", True, f"onnxruntime {ort.__version__} (pip distributions: {builds})")]
    mixed = ort_install.conflict(found)
    if mixed:
        checks.append(Check("onnxruntime", "install", False, mixed))
    available = [p for p in ort.get_available_providers() if p not in SKIPPED_PROVIDERS]
    for provider in [*available, *(p for p in GPU_PROVIDERS if p not in available)]:
        if provider not in available:
            how = f"not in this build: {ort_install.reinstall_command()} (NVIDIA GPU, x86_64; Jetson: JetPack's wheel)"
            checks.append(Check("onnxruntime", provider, False, how))
            continue
        checks.append(_attempt("onnxruntime", provider, lambda p=provider: _ort_probe(ort, p), "does not load"))
    return checks


def _ort_probe(ort: Any, provider: str) -> str:
    import numpy as np

    session = ort.InferenceSession(PROBE_ONNX, providers=[provider])
    active = session.get_providers()
    if active[0] != provider:  # onnxruntime fell back (to the CPU) and only logged why
        raise RuntimeError(f"onnxruntime fell back to {active}")
    out = session.run(None, {"x": np.array([[-1.0, 0.0, 1.0, 2.0]], np.float32)})[0]
    if out.tolist() != [[0.0, 0.0, 1.0, 2.0]]:
        raise RuntimeError(f"the probe graph computed {out.tolist()}")
    return "runs the probe graph"


def openvino_checks() -> list[Check]:
    try:
        import openvino as ov
    except ImportError as exc:
        return [Check("openvino", "module", False, f"not installed ({exc}): pip install 'edgead-runtime[openvino]'")]
    core = ov.Core()
    checks = [Check("openvino", "module", True, f"openvino {ov.get_version()}")]
    for device in core.available_devices:
        full = core.get_property(device, "FULL_DEVICE_NAME")
        checks.append(
            _attempt("openvino", device, lambda d=device, f=full: _ov_probe(ov, core, d, f), "cannot compile")
        )
    return checks


def _ov_probe(ov: Any, core: Any, device: str, full_name: str) -> str:
    with tempfile.TemporaryDirectory() as folder:  # read_model takes a path on every version; bytes not on all
        path = os.path.join(folder, "probe.onnx")
        with open(path, "wb") as f:
            f.write(PROBE_ONNX)
        core.compile_model(core.read_model(path), device)
    return f"{full_name}: compiles the probe graph"


def tensorrt_checks() -> list[Check]:
    from .backends.tensorrt import capturing_logger, cuda_device, import_cudart, import_tensorrt

    try:
        trt = import_tensorrt()
    except Exception as exc:  # BackendError with the install hint, or OSError from a broken libnvinfer
        return [Check("tensorrt", "module", False, str(exc))]
    checks = [Check("tensorrt", "module", True, f"tensorrt {trt.__version__}")]
    try:
        cudart = import_cudart()
        name, capability = cuda_device(cudart, 0)
    except Exception as exc:
        return [*checks, Check("tensorrt", "cuda", False, str(exc))]
    checks.append(Check("tensorrt", "cuda", True, f"{name}, compute capability {capability}"))

    def runtime() -> str:
        logger = capturing_logger(trt)
        if trt.Runtime(logger) is None:
            raise RuntimeError(" | ".join(logger.lines("ERROR")) or "trt.Runtime returned None")
        return "trt.Runtime starts (engines built for this TensorRT and GPU load)"

    checks.append(_attempt("tensorrt", "runtime", runtime, "does not start"))
    return checks


def opencv_check() -> Check:
    try:
        import cv2
    except ImportError as exc:
        return Check("opencv", "cv2", False, f"not importable ({exc}): pip install 'edgead-runtime[opencv]'")
    match = re.search(r"GStreamer:\s*(\w+)", cv2.getBuildInformation())
    gstreamer = match.group(1) if match else "unknown"
    return Check("opencv", "cv2", True, f"OpenCV {cv2.__version__}, GStreamer: {gstreamer}")


# ---------------------------------------------------------------- the report


def collect() -> list[Check]:
    return [nvidia_driver(), *onnxruntime_checks(), *openvino_checks(), *tensorrt_checks(), opencv_check()]


def usable_backends(checks: list[Check]) -> dict[str, bool]:
    """Each ``--backend`` name: can it run a model here?"""

    def ok(engine: str, name: str | None = None) -> bool:
        return any(c.ok for c in checks if c.engine == engine and (name is None or c.name == name))

    return {
        "onnxruntime": ok("onnxruntime", "CPUExecutionProvider") or ok("onnxruntime", "CUDAExecutionProvider"),
        "openvino": any(c.ok for c in checks if c.engine == "openvino" and c.name != "module"),
        "tensorrt": ok("tensorrt", "runtime"),
        "ort-trt": ok("onnxruntime", "TensorrtExecutionProvider"),
        "ort-cuda": ok("onnxruntime", "CUDAExecutionProvider"),
    }


def report() -> dict[str, Any]:
    checks = collect()
    try:
        version = importlib.metadata.version("edgead-runtime")
    except importlib.metadata.PackageNotFoundError:
        version = "not installed"
    return {
        "edgead_runtime": version,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "checks": [asdict(c) for c in checks],
        "backends": usable_backends(checks),
    }


def format_report(data: dict[str, Any]) -> str:
    lines = [f"edgead-runtime {data['edgead_runtime']}, Python {data['python']}, {data['platform']}"]
    for c in data["checks"]:
        lines.append(f"  {'ok' if c['ok'] else 'no':<3} {c['engine'] + ' ' + c['name']:<44} {c['detail']}")
    usable = [name for name, ok in data["backends"].items() if ok]
    lines.append(f"backends that run here: {', '.join(usable) or 'none'}")
    return "\n".join(lines)
