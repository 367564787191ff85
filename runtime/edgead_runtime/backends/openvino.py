"""OpenVINO backend (CPU): runs an edgead IR (``.xml`` + ``.bin``) or the exported ``.onnx`` directly.

The compute precision is always set explicitly. OpenVINO's CPU plugin computes in bf16 by default
on CPUs with AVX512-BF16 or AMX, which moves scores away from the exported graph's; f32 is the
default here and bf16/f16 are opt-in, so a faster precision is a choice a user can see and measure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BackendError, EdgeadError, MissingDependencyError, ModelFileError
from ..metadata import METADATA_KEY, ModelMetadata, embedded_metadata
from ..names import precision as canonical_precision
from .base import Backend, Dim
from .options import option, threads_option

if TYPE_CHECKING:
    import numpy as np

INSTALL_HINT = "pip install 'edgead-runtime[openvino]'"
# edgead precision -> OpenVINO's INFERENCE_PRECISION_HINT value
PRECISIONS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
DEVICE = "CPU"


@dataclass(frozen=True)
class OpenVinoOptions:
    precision: str = option(
        "fp32",
        flag="--precision",
        metavar="P",
        help="compute precision f32 (default; these CPUs would otherwise pick bf16), bf16 or f16",
    )
    intra_op_threads: int | None = threads_option()


def import_openvino() -> Any:
    """The openvino module, or a MissingDependencyError naming the extra to install."""
    try:
        import openvino
    except ImportError as exc:
        raise MissingDependencyError(
            f"the openvino backend needs the OpenVINO runtime, which is not installed ({exc}): {INSTALL_HINT}"
        ) from exc
    return openvino


class OpenVinoBackend(Backend):
    name = "openvino"
    library = "openvino"
    Options = OpenVinoOptions

    def __init__(self, compiled: Any, path: Path, metadata: ModelMetadata, version: str) -> None:
        (inp,) = compiled.inputs
        outputs = {o.get_any_name(): _shape(o.get_partial_shape()) for o in compiled.outputs}
        super().__init__(path, metadata, inp.get_any_name(), _shape(inp.get_partial_shape()), outputs)
        self.compiled = compiled
        self.version = version
        self._ports = list(compiled.outputs)
        self._request = compiled.create_infer_request()  # one request, reused: run() is not re-entrant
        self.precision = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()

    @classmethod
    def _open(cls, path: str | Path, options: OpenVinoOptions) -> OpenVinoBackend:
        """Compile ``path`` for the CPU in ``options.precision`` (f32, bf16 or f16) with ``intra_op_threads``."""
        precision, intra_op_threads = options.precision, options.intra_op_threads
        try:
            hint = PRECISIONS[canonical_precision(precision, PRECISIONS, "openvino precision")]
        except EdgeadError as exc:
            raise BackendError(str(exc)) from None
        ov = import_openvino()
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"model file '{path}' does not exist; check the path or run `edgead export`")
        core = ov.Core()
        try:
            model = core.read_model(str(path))
        except RuntimeError as exc:
            beside = f"; an IR needs '{path.with_suffix('.bin').name}' beside it" if path.suffix == ".xml" else ""
            raise ModelFileError(
                f"openvino cannot load '{path}' ({_message(exc)}){beside}; if it is truncated, export it again"
            ) from exc
        text, where, fmt = _metadata_text(model, path)
        metadata = embedded_metadata(text, path, where, fmt)
        if len(model.inputs) != 1:
            names = [i.get_any_name() for i in model.inputs]
            raise ModelFileError(f"'{path}' has inputs {names}; an edgead graph has one (uint8 image)")
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": hint}
        if intra_op_threads:
            config["INFERENCE_NUM_THREADS"] = int(intra_op_threads)
        try:
            compiled = core.compile_model(model, DEVICE, config)
        except RuntimeError as exc:
            raise BackendError(f"openvino cannot compile '{path}' for {DEVICE} ({_message(exc)})") from exc
        got = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        if got != hint:  # the plugin swaps a precision the CPU lacks (f16 -> bf16 or f32): never silently
            capabilities = core.get_property(DEVICE, "OPTIMIZATION_CAPABILITIES")
            usable = ["f32"] + [p for p, cap in (("bf16", "BF16"), ("f16", "FP16")) if cap in capabilities]
            raise BackendError(
                f"openvino on this CPU computes '{precision}' as {got} (CPU capabilities {capabilities}); "
                f"choose one of {', '.join(usable)}"
            )
        return cls(compiled, path, metadata, ov.__version__)

    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        result = self._request.infer({0: batch}, share_inputs=True)  # outputs are copies (share_outputs=False)
        return {name: result[port] for name, port in zip(self.output_names, self._ports, strict=True)}

    def describe(self) -> dict[str, Any]:
        prop = self.compiled.get_property
        return {
            "backend": self.name,
            "version": self.version,
            "device": DEVICE,
            "precision": self.precision,
            "threads": prop("INFERENCE_NUM_THREADS"),
            "streams": prop("NUM_STREAMS"),
            "performance_hint": str(prop("PERFORMANCE_HINT")),
        }

    def close(self) -> None:
        self._request = None
        self.compiled = None
        super().close()


def _metadata_text(model: Any, path: Path) -> tuple[str | None, str, str]:
    """The edgead JSON from an IR's rt_info, or from an ONNX file's metadata_props (which OpenVINO's ONNX
    reader puts under rt_info "framework"); also where it was looked for and the export format to suggest."""
    if path.suffix.lower() == ".onnx":
        key, where, fmt = ["framework", METADATA_KEY], "metadata_props", "onnx"
    else:
        key, where, fmt = [METADATA_KEY], "rt_info", "openvino"
    text = model.get_rt_info(key).astype(str) if model.has_rt_info(key) else None
    return text, where, fmt


def _shape(shape: Any) -> tuple[Dim, ...]:
    return tuple(d.get_length() if d.is_static else "?" for d in shape)


def _message(exc: Exception) -> str:
    """OpenVINO errors start with C++ source locations; the last non-empty line says what went wrong."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
