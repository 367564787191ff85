"""Engine modules behind one ``open_backend`` call. ``BACKENDS`` is the one place to plug an engine in."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BackendError, EdgeadError
from ..names import ENGINES, engine, spellings

if TYPE_CHECKING:  # engine modules import numpy; the table alone must stay cheap for `--help`
    from .base import Backend

# name -> ("module:class", file suffixes that backend="auto" maps to it); modules load on first use.
# Adding a backend: one module (a Backend subclass with its ``Options``) and one row here; names and aliases
# come from ``edgead_runtime.names``, the CLI flags from the ``Options`` fields (``backends/options.py``).
BACKENDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "onnxruntime": ("edgead_runtime.backends.onnxruntime:OnnxRuntimeBackend", (".onnx",)),
    # OpenVINO IR; `--backend openvino` also opens an .onnx directly
    "openvino": ("edgead_runtime.backends.openvino:OpenVinoBackend", (".xml",)),
    # TensorRT engine + its .json sidecar (`edgead export --format trt`); needs tensorrt + cuda-python
    "tensorrt": ("edgead_runtime.backends.tensorrt:TensorRTBackend", (".engine", ".plan")),
    # the .onnx on onnxruntime-gpu: TensorRT execution provider (engine cache) or CUDA provider
    "ort-trt": ("edgead_runtime.backends.onnxruntime_gpu:OrtTensorRTBackend", ()),
    "ort-cuda": ("edgead_runtime.backends.onnxruntime_gpu:OrtCudaBackend", ()),
    # a model served by Triton Inference Server: triton://HOST:PORT/NAME (docs/scale-out.md); needs tritonclient
    "triton": ("edgead_runtime.backends.triton:TritonBackend", ()),
    # the C++ runtime (`pip install ./cpp_bindings`, docs/cpp.md) on its own engine: OpenVINO, ONNX Runtime, TensorRT
    "cpp": ("edgead_runtime.backends.cpp:CppBackend", ()),
}
URL_SCHEMES = {"triton": "triton", "triton+grpc": "triton", "triton+http": "triton"}  # MODEL given as a URL

MODEL_HELP = (
    "exported model: .onnx, OpenVINO .xml (with its .bin) or TensorRT .engine (with its .engine.json); "
    "or a model on a Triton server, triton://HOST:PORT/NAME"
)


def backend_name(word: str) -> str:
    """The registered name for ``word`` (an alias such as ``trt`` or ``ort`` included), or "auto"."""
    if word == "auto":
        return word
    if word in BACKENDS:  # a test or plug-in backend need not be in the shared vocabulary
        return word
    try:
        return engine(word, BACKENDS, "backend")
    except EdgeadError:
        names = spellings({n: ENGINES.get(n, ()) for n in BACKENDS}, BACKENDS)
        raise BackendError(f"unknown backend '{word}'; choose one of: auto, {names}") from None


def backend_class(name: str) -> type[Backend]:
    """The Backend class registered as ``name`` (or one of its aliases)."""
    name = backend_name(name)
    if name == "auto":
        raise BackendError("backend 'auto' picks a class from the file suffix; use backend_for(path) first")
    module_name, class_name = BACKENDS[name][0].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def backend_for(path: str | Path) -> str:
    """The backend name registered for the file's suffix (or the model URL's scheme)."""
    scheme = str(path).partition(":")[0].lower()
    if scheme in URL_SCHEMES:
        return URL_SCHEMES[scheme]
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
    """Open a model file with ``backend``; "auto" picks the engine from the file suffix.

    ``options`` are the fields of that backend's ``Options`` (e.g. ``precision="fp16"``, ``intra_op_threads=2``).
    """
    name = backend_name(backend)
    return backend_class(backend_for(path) if name == "auto" else name).open(path, **options)
