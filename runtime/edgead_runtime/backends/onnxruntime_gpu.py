"""ONNX Runtime on an NVIDIA GPU: ``ort-trt`` (TensorRT execution provider) and ``ort-cuda`` (CUDA provider).

Both run the exported ``.onnx`` as it is, so there is no engine file to copy or rebuild: ``ort-trt``
builds TensorRT engines at the first run and keeps them in ``engine_cache_dir`` (next start: seconds,
not minutes). They need ``onnxruntime-gpu`` (x86) or JetPack's onnxruntime-gpu wheel (Jetson) in
place of the CPU ``onnxruntime``; without it the error says so before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BackendError, EdgeadError, ModelFileError
from ..metadata import INPUT_NAME, METADATA_KEY, ModelMetadata, embedded_metadata
from ..names import precision as canonical_precision
from ..ort_install import conflict, import_onnxruntime
from .onnxruntime import OnnxRuntimeBackend, OrtOptions
from .options import device_option, option, threads_option

TRT_EP = "TensorrtExecutionProvider"
CUDA_EP = "CUDAExecutionProvider"
CPU_EP = "CPUExecutionProvider"
GPU_HINT = (
    "install onnxruntime-gpu in place of onnxruntime (x86: `pip uninstall -y onnxruntime onnxruntime-gpu && "
    "pip install 'edgead-runtime[gpu]'`, both builds out first as they share files; Jetson: the onnxruntime-gpu "
    "wheel for your JetPack, see docs/gpu.md)"
)
PRECISIONS = ("fp32", "fp16", "int8")
MAX_BATCH = 8  # the profile's largest batch, as `edgead export --format trt` (tensorrt_plan.DEFAULT_BATCH)
# `trt_timing_cache_path` is new in onnxruntime 1.17 (microsoft/onnxruntime#17865); 1.16 rejects the unknown key
# and falls back to CUDA ("Invalid TensorRT EP option", #21484), and keeps its timing cache beside the engines.
TIMING_CACHE_PATH_SINCE = (1, 17)


def providers_error(requested: list[str], available: list[str], version: str) -> str | None:
    """Why ``requested`` providers cannot run with this onnxruntime, or None."""
    missing = [p for p in requested if p not in available]
    if not missing:
        return None
    return f"onnxruntime {version} has no {', '.join(missing)} (it has {', '.join(available)}): {GPU_HINT}"


def _precision(precision: str) -> str:
    try:
        return canonical_precision(precision, PRECISIONS, "ort-trt precision")
    except EdgeadError as exc:
        raise BackendError(str(exc)) from None


def tensorrt_provider_options(
    precision: str = "fp32",
    engine_cache_dir: str | Path | None = None,
    device_id: int = 0,
    workspace_gb: float | None = None,
    input_size: tuple[int, int] | None = None,
    max_batch: int = MAX_BATCH,
    ort_version: str | None = None,
) -> dict[str, str]:
    """TensorRT execution provider options (onnxruntime's names) for ``precision`` and an engine cache.

    int8 means a Q/DQ graph (``edgead export --precision int8``): its scales come from the graph,
    so no calibration table is involved. The timing cache sits beside the engines. ``input_size`` (height,
    width) gives the engine one profile, batch 1..``max_batch`` (``trt_profile_min/opt/max_shapes``), so a new
    batch size does not rebuild it. ``ort_version``: the onnxruntime the options are for (default: installed).
    """
    precision = _precision(precision)
    options = {
        "device_id": str(device_id),
        "trt_fp16_enable": str(precision == "fp16"),
        "trt_int8_enable": str(precision == "int8"),
    }
    if engine_cache_dir is not None:
        cache = str(Path(engine_cache_dir))
        options.update(trt_engine_cache_enable="True", trt_engine_cache_path=cache, trt_timing_cache_enable="True")
        if ort_version is None:
            import onnxruntime as ort

            ort_version = ort.__version__
        from ..engine_file import parse_version

        if parse_version(ort_version)[:2] >= TIMING_CACHE_PATH_SINCE:
            options["trt_timing_cache_path"] = cache
    if workspace_gb is not None:
        if not workspace_gb > 0:
            raise BackendError(f"ort-trt workspace_gb must be > 0, got {workspace_gb}")
        options["trt_max_workspace_size"] = str(int(workspace_gb * (1 << 30)))
    if input_size is not None:
        if max_batch < 1:
            raise BackendError(f"ort-trt max_batch must be at least 1, got {max_batch}")
        frame = "x".join(str(d) for d in (*input_size, 3))
        options.update(
            trt_profile_min_shapes=f"{INPUT_NAME}:1x{frame}",
            trt_profile_opt_shapes=f"{INPUT_NAME}:1x{frame}",
            trt_profile_max_shapes=f"{INPUT_NAME}:{max_batch}x{frame}",
        )
    return options


def tensorrt_providers(precision: str = "fp32", *args: Any, **kwargs: Any) -> list[Any]:
    """The provider list ``ort-trt`` opens a session with: TensorRT (``tensorrt_provider_options``), CUDA, CPU."""
    trt_options = tensorrt_provider_options(precision, *args, **kwargs)
    device = trt_options["device_id"]
    return [(TRT_EP, trt_options), (CUDA_EP, {"device_id": device}), CPU_EP]


def graph_metadata(path: str | Path) -> ModelMetadata:
    """The edgead metadata of an ``.onnx``, read by onnxruntime on the CPU (no TensorRT build, no onnx package)."""
    import onnxruntime as ort

    if not Path(path).is_file():
        raise ModelFileError(f"model file '{path}' does not exist; check the path or run `edgead export`")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises a family of pybind classes (InvalidProtobuf, Fail, ...)
        raise ModelFileError(f"onnxruntime cannot load '{path}' ({exc}); export it again") from exc
    text = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    return embedded_metadata(text, path, "metadata_props", "onnx")


def _check_available(requested: list[str]) -> None:
    ort = import_onnxruntime()
    problem = providers_error(requested, ort.get_available_providers(), ort.__version__)
    if problem:
        mixed = conflict()  # the usual cause: the CPU build installed over the GPU one
        raise BackendError(f"{problem}. Here: {mixed}" if mixed else problem)


@dataclass(frozen=True)
class OrtTensorRTOptions:
    precision: str = option(
        "fp32",
        flag="--precision",
        metavar="P",
        help="fp16 (f16), or int8 for a Q/DQ graph (edgead export --precision int8)",
    )
    engine_cache_dir: str | Path | None = option(
        None, flag="--engine-cache", type=Path, metavar="DIR", help="keep TensorRT engines here (next start: seconds)"
    )
    device_id: int = device_option()
    intra_op_threads: int | None = threads_option()
    # the TensorRT builder's workspace limit (``trt_max_workspace_size``); default TensorRT's
    workspace_gb: float | None = option(
        None, flag="--workspace-gb", type=float, metavar="GB", help="TensorRT builder workspace limit"
    )
    # the engine's one profile takes batches 1..max_batch (trt_profile_*_shapes), so no rebuild per batch size
    max_batch: int = option(MAX_BATCH)


@dataclass(frozen=True)
class OrtCudaOptions:
    device_id: int = device_option()
    intra_op_threads: int | None = threads_option()


class OrtTensorRTBackend(OnnxRuntimeBackend):
    name = "ort-trt"
    Options = OrtTensorRTOptions

    @classmethod
    def _open(cls, path: str | Path, options: OrtTensorRTOptions) -> OrtTensorRTBackend:  # type: ignore[override]
        """TensorRT provider first, CUDA for nodes TensorRT does not take, CPU last."""
        o = options
        metadata = graph_metadata(path)
        if _precision(o.precision) == "int8" and metadata.precision != "int8":
            # as the native path (tensorrt_plan): TensorRT's int8 flag on a graph without Q/DQ and without a
            # calibration table runs fp32/fp16 kernels, silently
            raise BackendError(
                f"ort-trt int8 runs a Q/DQ graph, and '{path}' is {metadata.precision}: export its int8 variant "
                "(`edgead export MODEL.onnx --format onnx --precision int8 --calibration-data DIR`) and open that"
            )
        providers = tensorrt_providers(
            o.precision, o.engine_cache_dir, o.device_id, o.workspace_gb, input_size=metadata.size,
            max_batch=o.max_batch,
        )  # fmt: skip
        _check_available([TRT_EP, CUDA_EP])
        if o.engine_cache_dir is not None:
            Path(o.engine_cache_dir).mkdir(parents=True, exist_ok=True)
        return super()._open(path, OrtOptions(providers, o.intra_op_threads))  # type: ignore[return-value]


class OrtCudaBackend(OnnxRuntimeBackend):
    name = "ort-cuda"
    Options = OrtCudaOptions

    @classmethod
    def _open(cls, path: str | Path, options: OrtCudaOptions) -> OrtCudaBackend:  # type: ignore[override]
        """CUDA provider, CPU for anything it lacks."""
        _check_available([CUDA_EP])
        providers: list[Any] = [(CUDA_EP, {"device_id": str(options.device_id)}), CPU_EP]
        return super()._open(path, OrtOptions(providers, options.intra_op_threads))  # type: ignore[return-value]
