"""Engine modules behind one ``open_backend`` call. ``BACKENDS`` is the one place to plug an engine in."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BackendError

if TYPE_CHECKING:  # engine modules import numpy; the table alone must stay cheap for `--help`
    from .base import Backend

# name -> ("module:class", file suffixes that backend="auto" maps to it); modules load on first use.
BACKENDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "onnxruntime": ("edgead_runtime.backends.onnxruntime:OnnxRuntimeBackend", (".onnx",)),
    # OpenVINO IR; `--backend openvino` also opens an .onnx directly
    "openvino": ("edgead_runtime.backends.openvino:OpenVinoBackend", (".xml",)),
    # TensorRT engine + its .json sidecar (`edgead export --format trt`); needs tensorrt + cuda-python
    "tensorrt": ("edgead_runtime.backends.tensorrt:TensorRTBackend", (".engine", ".plan")),
    # the .onnx on onnxruntime-gpu: TensorRT execution provider (engine cache) or CUDA provider
    "ort-trt": ("edgead_runtime.backends.onnxruntime_gpu:OrtTensorRTBackend", ()),
    "ort-cuda": ("edgead_runtime.backends.onnxruntime_gpu:OrtCudaBackend", ()),
}

MODEL_HELP = "exported model: .onnx, OpenVINO .xml (with its .bin) or TensorRT .engine (with its .engine.json)"


def backend_class(name: str) -> type[Backend]:
    """The Backend class registered as ``name``."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend '{name}'; choose one of: auto, {', '.join(BACKENDS)}")
    module_name, class_name = BACKENDS[name][0].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def backend_for(path: str | Path) -> str:
    """The backend name registered for the file's suffix."""
    suffix = Path(path).suffix.lower()
    for name, (_, suffixes) in BACKENDS.items():
        if suffix in suffixes:
            return name
    known = ", ".join(f"{s} ({name})" for name, (_, suffixes) in BACKENDS.items() for s in suffixes)
    raise BackendError(
        f"cannot pick a backend for '{path}' from its suffix '{suffix}'; known: {known}, "
        f"or pass --backend {{{','.join(BACKENDS)}}}"
    )


def open_backend(path: str | Path, backend: str = "auto", **options: Any) -> Backend:
    """Open a model file with ``backend``; "auto" picks the engine from the file suffix."""
    name = backend_for(path) if backend == "auto" else backend
    cls = backend_class(name)
    accepted = [p for p in inspect.signature(cls.open).parameters if p != "path"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise BackendError(f"backend '{name}' has no option(s) {unknown}; it takes {accepted}")
    return cls.open(path, **options)
