"""The C++ runtime (``pip install ./cpp_bindings``) as a backend: every runtime command can run through it.

``edgead-runtime predict model.onnx --backend cpp`` opens the model with the C++ library's own backend
(OpenVINO here; ONNX Runtime or TensorRT where the library was built with them, ``--cpp-engine``) and runs each
batch there. C++ errors come back as this package's error types, so the CLI prints them as one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BackendError, FrameMismatchError, MissingDependencyError, ModelFileError
from ..metadata import ModelMetadata
from .base import Backend
from .options import device_option, option, threads_option

if TYPE_CHECKING:
    import numpy as np

INSTALL_HINT = "pip install ./cpp_bindings (from the edgead repository; see docs/cpp.md)"


@dataclass(frozen=True)
class CppOptions:
    engine: str = option(
        "auto", flag="--cpp-engine", metavar="E", help="the C++ library's engine: auto, openvino, onnxruntime, tensorrt"
    )
    precision: str | None = option(
        None, flag="--precision", metavar="P", help="OpenVINO engine: f32 (default), bf16, f16"
    )
    intra_op_threads: int | None = threads_option()
    device_id: int = device_option()


def import_edgead_cpp() -> Any:
    """The edgead_cpp module, or a MissingDependencyError saying how to build it."""
    try:
        import edgead_cpp
    except ImportError as exc:
        raise MissingDependencyError(f"the cpp backend needs the edgead C++ bindings ({exc}): {INSTALL_HINT}") from exc
    return edgead_cpp


def _translate(cpp: Any, exc: Exception) -> Exception:
    """The edgead_runtime error matching a C++ one, with the same message."""
    for name, ours in (("ModelFileError", ModelFileError), ("FrameMismatchError", FrameMismatchError)):
        if isinstance(exc, getattr(cpp, name)):
            return ours(str(exc))
    return BackendError(str(exc))


class CppBackend(Backend):
    name = "cpp"
    library = "edgead_cpp"
    Options = CppOptions

    def __init__(self, native: Any, cpp: Any, path: Path) -> None:
        meta = native.metadata
        metadata = ModelMetadata(
            model=meta.model,
            backbone=meta.backbone,
            height=meta.height,
            width=meta.width,
            threshold=meta.threshold,
            part=meta.part,
            precision=meta.precision,
            edgead_version=meta.edgead_version,
            normalization=json.loads(meta.normalization_json),
            extra=json.loads(meta.extra_json),
        )
        shape = tuple(d if d >= 0 else "N" for d in native.input_shape)
        super().__init__(path, metadata, native.input_name, shape, {n: () for n in native.output_names})
        self.native, self.cpp = native, cpp

    @classmethod
    def _open(cls, path: str | Path, options: CppOptions) -> CppBackend:
        """Open ``path`` with the C++ library's ``options.engine`` and its precision, threads and CUDA device."""
        cpp = import_edgead_cpp()
        try:
            native = cpp.Backend.open(
                str(path),
                options.engine,
                options.precision or "",
                int(options.intra_op_threads or 0),
                options.device_id,
            )
        except cpp.Error as exc:
            raise _translate(cpp, exc) from exc
        return cls(native, cpp, Path(path))

    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        try:
            return self.native.run(batch)
        except self.cpp.Error as exc:
            raise _translate(self.cpp, exc) from exc

    def describe(self) -> dict[str, Any]:
        engine: dict[str, Any] = {k: int(v) if v.isdigit() else v for k, v in self.native.describe()}
        return {**engine, "backend": self.name, "engine": engine.get("backend"), "library": self.cpp.__version__}
