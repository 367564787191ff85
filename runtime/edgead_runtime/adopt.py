"""``edgead-runtime adopt MODEL.engine --from MODEL.onnx``: the sidecar for an engine built by trtexec or Polygraphy.

Users with their own build scripts (``trtexec --onnx=model.onnx --saveEngine=model.engine --fp16 ...``) get
an engine without ``model.engine.json``, which edgead needs for the model metadata. Adopting one checks it
the way TensorRT itself would: the engine must deserialize here, with this TensorRT on this GPU (an engine
only loads with the version and GPU architecture that built it, so this runs where it was built), and its
I/O must be the edgead graph's (names, uint8 NHWC input at the graph's size, float outputs). The sidecar then
records what the engine says: the TensorRT version (``trt.__version__``; the plan has no version query in the
Python API), GPU and compute capability, the batch profile, SHA-256; and what it cannot say: the precision,
which is the graph's own (fp16-typed graph, int8 Q/DQ graph) unless ``--precision`` states the builder flag
that trtexec was given.

I/O per TensorRT line through the backend's readers: 8.5/8.6 bindings (``num_bindings``, ``get_profile_shape``),
10+ tensor names (``num_io_tensors``, ``get_tensor_profile_shape``); ``num_optimization_profiles`` on all
(NVIDIA/TensorRT python/src/infer/pyCore.cpp, ICudaEngine bindings).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from . import names
from .engine_file import EngineInfo, engine_metadata, read_engine, sidecar_path
from .errors import ModelFileError
from .files import write_json
from .metadata import METADATA_KEY, OUTPUT_NAMES, ModelMetadata
from .onnx_proto import OnnxSummary, read_summary

PRECISIONS = ("fp32", "fp16", "int8")


def _graph_metadata(onnx_path: Path, summary: OnnxSummary) -> tuple[dict[str, Any], ModelMetadata]:
    text = summary.metadata.get(METADATA_KEY)
    if text is None:
        raise ModelFileError(
            f"'{onnx_path}' has no edgead metadata (metadata_props '{METADATA_KEY}'); adopt engines built from a "
            "graph written by `edgead export RUN_DIR --format onnx`"
        )
    meta = ModelMetadata.from_json(text, source=str(onnx_path))  # malformed JSON: a ModelFileError here
    return json.loads(text), meta


def _check_io(engine_path: Path, onnx_path: Path, io: Any, summary: OnnxSummary, meta: ModelMetadata) -> str:
    """The engine's input name, after checking its I/O against the ONNX graph's; ModelFileError naming the gap."""
    names = list(io.names)
    inputs = [n for n in names if io.is_input(n)]
    wanted_in = [t.name for t in summary.inputs]
    wanted_out = [t.name for t in summary.outputs]
    if inputs != wanted_in or sorted(set(names) - set(inputs)) != sorted(wanted_out):
        raise ModelFileError(
            f"'{engine_path}' has inputs {inputs} and outputs {sorted(set(names) - set(inputs))}, but '{onnx_path}' "
            f"has {wanted_in} and {sorted(wanted_out)}: it was not built from this graph; pass the graph it was "
            "built from, or build it again from this one"
        )
    missing = [n for n in OUTPUT_NAMES if n not in wanted_out]
    if missing and meta.part == "full":
        raise ModelFileError(f"'{onnx_path}' lacks the outputs {missing} of an edgead graph; export it again")
    name = inputs[0]
    dtype = str(io.dtype(name))
    shape = tuple(io.engine_shape(name))
    if dtype != "uint8" or len(shape) != 4 or tuple(shape[1:]) != (meta.height, meta.width, 3):
        raise ModelFileError(
            f"'{engine_path}' takes {name} {dtype} {list(shape)}; the graph takes uint8 [N, {meta.height}, "
            f"{meta.width}, 3]. Build the engine from the graph as exported, without --inputIOFormats or other "
            "input changes"
        )
    for out in wanted_out:
        kind = str(io.dtype(out))
        if kind not in ("float32", "float16"):
            raise ModelFileError(f"'{engine_path}' gives {out} as {kind}; edgead reads float32 or float16 outputs")
    return name


def _batch_profile(io: Any, engine: Any, name: str) -> tuple[int, int, int]:
    shape = tuple(io.engine_shape(name))
    if shape[0] >= 0:  # built for one batch size (trtexec --shapes with a static graph)
        return shape[0], shape[0], shape[0]
    profile = io.profile(name)  # profile 0: min, opt, max shapes; the backend runs profile 0 only
    batch = (int(profile[0][0]), int(profile[1][0]), int(profile[2][0]))
    if int(engine.num_optimization_profiles) > 1:
        print(f"note: the engine has {engine.num_optimization_profiles} optimization profiles; edgead uses profile 0")
    return batch


def adopt(
    engine_path: str | Path,
    onnx_path: str | Path,
    precision: str | None = None,
    device_id: int = 0,
    dla_core: int | None = None,
    force: bool = False,
) -> Path:
    """Check ``engine_path`` against ``onnx_path`` and write its ``.engine.json``; return the sidecar's path."""
    from .backends.tensorrt import (
        _BindingIO,
        _TensorIO,
        capturing_logger,
        cuda_check,
        cuda_device,
        import_cudart,
        import_tensorrt,
        io_api,
    )

    engine_path, onnx_path = Path(engine_path), Path(onnx_path)
    if precision is not None:
        precision = names.precision(precision, PRECISIONS, "--precision")
    if not engine_path.is_file():
        raise ModelFileError(f"engine file '{engine_path}' does not exist")
    side = sidecar_path(engine_path)
    data = engine_path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if side.is_file() and not force:
        raise ModelFileError(
            f"'{side}' exists already; pass --force to replace it (the engine's SHA-256 is {digest[:12]}...)"
        )
    summary = read_summary(onnx_path)
    raw_metadata, meta = _graph_metadata(onnx_path, summary)

    trt = import_tensorrt()
    cudart = import_cudart()
    device, capability = cuda_device(cudart, device_id)
    cuda_check(cudart, cudart.cudaSetDevice(device_id), "cudaSetDevice")
    logger = capturing_logger(trt)
    runtime = trt.Runtime(logger)
    if dla_core is not None:
        runtime.DLA_core = dla_core
    engine = runtime.deserialize_cuda_engine(data)
    if engine is None:
        said = "; ".join(logger.lines("ERROR")) or "nothing logged"
        raise ModelFileError(
            f"TensorRT {trt.__version__} on {device} cannot load '{engine_path}' (TensorRT said: {said}). An engine "
            "loads only with the TensorRT version and GPU architecture that built it: adopt it on the machine that "
            "built it, or build it there with `edgead export MODEL.onnx --format trt`"
        )
    io = (_BindingIO if io_api(trt.__version__) == "binding" else _TensorIO)(trt, engine, None)
    name = _check_io(engine_path, onnx_path, io, summary, meta)
    batch = _batch_profile(io, engine, name)

    graph_precision = meta.precision
    chosen = precision or graph_precision
    mode = "graph" if chosen == graph_precision else "builder"
    build_args = ["--precision", chosen] + (["--precision-mode", mode] if mode != "graph" else [])
    build_args += ["--min-batch", str(batch[0]), "--opt-batch", str(batch[1]), "--max-batch", str(batch[2])]
    if dla_core is not None:
        build_args += ["--dla-core", str(dla_core)]
    info = EngineInfo(
        tensorrt_version=trt.__version__,
        device=device,
        compute_capability=capability,
        precision=chosen,
        precision_mode=mode,
        batch=batch,
        source_onnx=os.path.relpath(onnx_path.resolve(), engine_path.resolve().parent),
        build_args=build_args,
        dla_core=dla_core,
        engine_bytes=len(data),
        engine_sha256=digest,
    )
    write_json(side, engine_metadata(raw_metadata, info))
    read_engine(engine_path)  # what every backend will do next: it must accept the pair
    return side
