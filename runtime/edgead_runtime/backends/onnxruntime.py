"""ONNX Runtime backend: the reference engine, and the one every machine can install from PyPI."""

from __future__ import annotations

import platform
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BackendError, EdgeadWarning, ModelFileError
from ..metadata import METADATA_KEY, ModelMetadata, embedded_metadata
from ..ort_install import import_onnxruntime
from .base import Backend, Dim
from .options import threads_option

if TYPE_CHECKING:
    import numpy as np

# The TensorRT provider builds an engine at open (minutes) and Azure runs remotely; asked for
# explicitly they still work, by default a local session on CUDA or CPU is what users expect.
_DEFAULT_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")


@dataclass(frozen=True)
class OrtOptions:
    """``providers``: names or (name, provider options) pairs (default: CUDA if present, then CPU); Python only."""

    providers: list[str | tuple[str, dict[str, Any]]] | None = None
    intra_op_threads: int | None = threads_option()


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    library = "onnxruntime"
    Options = OrtOptions

    def __init__(self, session: Any, path: Path, metadata: ModelMetadata) -> None:
        (inp,) = session.get_inputs()
        outputs = {o.name: _shape(o.shape) for o in session.get_outputs()}
        super().__init__(path, metadata, inp.name, _shape(inp.shape), outputs)
        self.session = session

    @classmethod
    def _open(cls, path: str | Path, options: OrtOptions) -> OnnxRuntimeBackend:
        """Open ``path`` with ``options.providers`` and ``options.intra_op_threads``.

        Providers asked for explicitly must start: onnxruntime would otherwise fall back to the CPU
        with only a log line.
        """
        ort = import_onnxruntime()  # here, so importing edgead_runtime never loads an engine

        providers, intra_op_threads = options.providers, options.intra_op_threads
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"model file '{path}' does not exist; check the path or run `edgead export`")
        available = ort.get_available_providers()
        explicit = providers is not None
        if providers is None:
            providers = [p for p in available if p in _DEFAULT_PROVIDERS]
        names = [p if isinstance(p, str) else p[0] for p in providers]
        missing = [p for p in names if p not in available]
        if missing:
            raise BackendError(f"onnxruntime providers {missing} are not available here; available: {available}")
        session_options = ort.SessionOptions()
        if intra_op_threads:
            session_options.intra_op_num_threads = intra_op_threads
        try:
            session = ort.InferenceSession(str(path), sess_options=session_options, providers=providers)
        except Exception as exc:  # ORT raises a family of pybind classes (InvalidProtobuf, Fail, ...)
            raise ModelFileError(
                f"onnxruntime cannot load '{path}' ({exc}); if it is truncated or not an ONNX model, export it again"
            ) from exc
        inactive = [p for p in names if p not in session.get_providers()] if explicit else []
        if inactive:
            raise BackendError(
                f"onnxruntime {ort.__version__} could not start {inactive} for '{path}' and fell back to "
                f"{session.get_providers()}; install the CUDA/cuDNN/TensorRT libraries this onnxruntime-gpu build "
                "needs (see docs/tensorrt.md)"
            )
        text = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        metadata = embedded_metadata(text, path, "metadata_props", "onnx")
        if len(session.get_inputs()) != 1:
            names = [i.name for i in session.get_inputs()]
            raise ModelFileError(f"'{path}' has inputs {names}; an edgead graph has one (uint8 image)")
        if metadata.precision == "int8" and session.get_providers()[0] == "CPUExecutionProvider":
            _warn_if_int8_saturates(path)
        return cls(session, path, metadata)

    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        outputs = self.session.run(self.output_names, {self.input_name: batch})
        return dict(zip(self.output_names, outputs, strict=True))

    def describe(self) -> dict[str, Any]:
        import onnxruntime as ort

        threads = self.session.get_session_options().intra_op_num_threads
        return {
            "backend": self.name,
            "version": ort.__version__,
            "providers": self.session.get_providers(),
            "precision": "graph",  # the CPU provider computes in the graph's own types
            "threads": threads or None,  # None: ORT's default, one per physical core
        }

    def close(self) -> None:
        self.session = None
        super().close()


def int8_saturates_here() -> bool:
    """An x86 CPU without VNNI: ONNX Runtime's fused int8 Conv kernels there multiply u8 x s8 with VPMADDUBSW, whose
    int16 pair sums saturate (onnxruntime's quantization docs: "reduce_range", U8S8 on AVX2/AVX512 without VNNI).
    Measured on a Zen 2 EPYC: PatchCore int8 image AUROC 0.47 with the fused kernels, 1.00 as written (bottle,
    docs/precision.md). Here, not in ``system``: ``system`` imports the backends."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i686", "x86"):
        return False
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False  # not Linux: unknown, say nothing
    flags = next((line.partition(":")[2].split() for line in text.splitlines() if line.startswith("flags")), [])
    return not ({"avx512_vnni", "avx_vnni"} & set(flags))


def _warn_if_int8_saturates(path: Path) -> None:
    if int8_saturates_here():
        warnings.warn(
            f"'{path}' is an int8 graph and this x86 CPU has no VNNI: ONNX Runtime's int8 kernels saturate here and "
            "the scores can be wrong (docs/precision.md); deploy the fp32 graph, or OpenVINO, on this machine",
            EdgeadWarning,
            stacklevel=4,
        )


def _shape(shape: list[Any]) -> tuple[Dim, ...]:
    return tuple(d if isinstance(d, int) else str(d) for d in shape)
