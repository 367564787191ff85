"""fp16 and int8 variants of an exported fp32 graph: only the backbone changes precision.

TensorRT 11 is strongly typed: fp16 must be in the graph's types and int8 in explicit Q/DQ nodes,
so precision lives in the ONNX file. Both variants touch the backbone (convolutions and their
activations, where nearly all FLOPs are) and nothing else. These stay fp32, because small
absolute errors there move scores and labels:

- the input stage (uint8 -> float, mean/std): cheap, and the graph input stays uint8;
- PatchCore's kNN: |M|^2 - 2 x.M^T is a difference of large terms, and fp16 cancellation there
  costs more than the GEMM saves; ReduceMin, the reweighting and its softmax;
- DFM's PCA projection, reconstruction error and Gaussian NLL (sums over thousands of channels);
- anomaly-map upsampling and blur, and the score/map normalization; all outputs stay float32.

The backbone is found by the torch module scope that the dynamo exporter records on every node
(``pkg.torch.onnx.name_scopes``), so it works on any graph ``edgead export`` wrote, even on a
machine without torch.

Pure rewrites: an fp32 ``.onnx`` (and, for int8, calibration frames) in, a variant ``.onnx`` out. Exporting the
fp32 graph, choosing the calibration images and comparing the variant with its fp32 graph are
``onnx_format.write_onnx``'s job (and ``tensorrt_build``'s for engines).
"""

from __future__ import annotations

import ast
import dataclasses
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgead_runtime.errors import EdgeadError
from edgead_runtime.metadata import INPUT_NAME, METADATA_KEY, ModelMetadata

from .onnx_files import save_model

PRECISIONS = ("fp32", "fp16", "int8")
BACKBONE_SCOPES = ("model.backbone", "backbone")  # full graph, `--part backbone` graph
SCOPE_KEY = "pkg.torch.onnx.name_scopes"
CALIBRATION_BATCH = 8
# int8 quantizes these op types, backbone nodes only: the inputs and weights of every Conv (nearly all FLOPs) and
# both inputs of the residual Adds. Not the ReLU6 (Clip) after a Conv: TensorRT fuses Conv + activation, and the
# next Conv's input Q/DQ quantizes what the Clip produces (TensorRT-Model-Optimizer quantizes a Conv + activation
# partition at its head the same way: _find_nodes_to_quantize in modelopt/onnx/quantization/int8.py).
INT8_OP_TYPES = ("Conv", "Add")
# Q/DQ placement TensorRT can parse, as NVIDIA's TensorRT-Model-Optimizer sets it for quantize_static
# (modelopt/onnx/quantization/ort_utils.py, configure_ort): QuantizeBias False, since onnxruntime's default turns every
# Conv bias into an INT32 initializer feeding DequantizeLinear, which TensorRT's parser rejects on every line ("only
# activation types allowed as input to this layer": onnx/onnx-tensorrt#850, microsoft/onnxruntime#14229, #17738);
# no Q/DQ on the quantized ops' outputs (OpTypesToExcludeOutputQuantization), so Q/DQ sit on inputs and weights and
# TensorRT fuses Conv + activation; symmetric int8 (zero point 0, what TensorRT takes).
INT8_EXTRA_OPTIONS = {
    "ActivationSymmetric": True,
    "WeightSymmetric": True,
    "QuantizeBias": False,
    "OpTypesToExcludeOutputQuantization": list(INT8_OP_TYPES),
}


def backbone_nodes(model: onnx.ModelProto) -> set[str]:
    """Names of the nodes that the exporter recorded inside the backbone module."""
    names = set()
    for node in model.graph.node:
        for prop in node.metadata_props:
            if prop.key == SCOPE_KEY and any(s in BACKBONE_SCOPES for s in _scopes(prop.value)):
                names.add(node.name)
    if not names:
        raise EdgeadError(
            "found no backbone nodes in the graph (no torch module scopes in its node metadata); "
            "export the fp32 graph with `edgead export RUN --format onnx` and convert that file"
        )
    return names


def _scopes(value: str) -> list[str]:
    try:
        scopes = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return []
    return [s for s in scopes if isinstance(s, str)] if isinstance(scopes, list) else []


def to_fp16(onnx_in: Path, onnx_out: Path) -> Path:
    """Write an fp16-typed copy of ``onnx_in``: backbone weights and activations fp16, the rest fp32.

    Casts sit only at the backbone's borders (its input, and each feature map it hands on). Inputs
    and outputs keep their types (uint8 frames in, float32 scores and maps out).
    """
    model = onnx.load(str(onnx_in))
    region = backbone_nodes(model)
    _convert_region(model, region)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)  # raises on a type clash
    return _finish(model, Path(onnx_out), "fp16")


def _tensor_types(model: onnx.ModelProto) -> dict[str, int]:
    graph = onnx.shape_inference.infer_shapes(model).graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.input, *graph.output]}
    types.update({t.name: t.data_type for t in graph.initializer})
    return types


def _convert_region(model: onnx.ModelProto, region: set[str]) -> None:
    """Retype the ``region`` nodes to fp16 in place, with Cast nodes where fp32 tensors enter or leave it."""
    graph = model.graph
    types = _tensor_types(model)
    initializers = {t.name: t for t in graph.initializer}
    producer = {out: node.name for node in graph.node for out in node.output}
    used_outside = {name for node in graph.node if node.name not in region for name in node.input}
    used_outside |= {o.name for o in graph.output}
    half_copies: dict[str, str] = {}  # fp32 initializer or tensor -> its fp16 version
    renamed: dict[str, str] = {}  # region output used outside -> its fp16 name inside the region
    nodes: list[onnx.NodeProto] = []

    for node in graph.node:
        if node.name not in region:
            nodes.append(node)
            continue
        for i, name in enumerate(node.input):
            if name in renamed:
                node.input[i] = renamed[name]
            elif types.get(name) == TensorProto.FLOAT and producer.get(name) not in region:
                if name not in half_copies:
                    half_copies[name] = f"{name}__fp16"
                    if name in initializers:
                        array = numpy_helper.to_array(initializers[name]).astype(np.float16)
                        graph.initializer.append(numpy_helper.from_array(array, half_copies[name]))
                    else:
                        nodes.append(_cast(name, half_copies[name], TensorProto.FLOAT16))
                node.input[i] = half_copies[name]
        _retype_attributes(node)
        nodes.append(node)
        for i, name in enumerate(node.output):
            if types.get(name) != TensorProto.FLOAT:
                continue
            if name in used_outside:  # the producer writes fp16 under a new name; a Cast restores the old one
                renamed[name] = node.output[i] = f"{name}__fp16"
                nodes.append(_cast(renamed[name], name, TensorProto.FLOAT))
            _set_value_info_type(graph, name, renamed.get(name), TensorProto.FLOAT16)

    del graph.node[:]
    graph.node.extend(nodes)
    still_used = {name for node in graph.node for name in node.input}
    kept = [t for t in graph.initializer if t.name in still_used or t.name in {o.name for o in graph.output}]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def _cast(source: str, target: str, to: int) -> onnx.NodeProto:
    return helper.make_node("Cast", [source], [target], name=f"{target}__cast", to=to)


def _retype_attributes(node: onnx.NodeProto) -> None:
    """float32 inside attributes (Cast targets, Constant values) becomes fp16 in the region."""
    for attr in node.attribute:
        if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT:
            attr.i = TensorProto.FLOAT16
        elif attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT:
            attr.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attr.t).astype(np.float16), attr.t.name))


def _set_value_info_type(graph: onnx.GraphProto, name: str, new_name: str | None, elem_type: int) -> None:
    """The recorded type of ``name`` (a region tensor) becomes ``elem_type``; a renamed output gets a copy."""
    for info in graph.value_info:
        if info.name == name:
            if new_name is None:
                info.type.tensor_type.elem_type = elem_type
            else:
                copy = graph.value_info.add()
                copy.CopyFrom(info)
                copy.name = new_name
                copy.type.tensor_type.elem_type = elem_type
            return


def quantize_int8(onnx_in: Path, onnx_out: Path, calibration_frames: np.ndarray) -> Path:
    """Write a QDQ int8 copy of ``onnx_in``, calibrated on ``calibration_frames`` (uint8 [N, H, W, 3]).

    Static quantization, symmetric int8 activations and per-channel int8 weights (what TensorRT's
    explicit quantization accepts; ONNX Runtime's CPU path runs the same file). Only the backbone's
    Conv and residual Add inputs get Q/DQ pairs (no Q/DQ on biases or outputs: ``INT8_EXTRA_OPTIONS``); the kNN,
    PCA and scoring nodes stay fp32.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    frames = np.ascontiguousarray(calibration_frames, dtype=np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise EdgeadError(f"calibration frames must be uint8 [N, H, W, 3] with N >= 1, got shape {frames.shape}")
    model = onnx.load(str(onnx_in))
    region = backbone_nodes(model)
    nodes = [n.name for n in model.graph.node if n.name in region and n.op_type in INT8_OP_TYPES]
    with tempfile.TemporaryDirectory(prefix="edgead-int8-") as tmp, _quiet_preprocess_hint():
        quantized = Path(tmp) / "int8.onnx"
        quantize_static(
            str(onnx_in),
            str(quantized),
            _FrameReader(frames),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(INT8_OP_TYPES),
            nodes_to_quantize=nodes,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options=INT8_EXTRA_OPTIONS,
        )
        result = onnx.load(str(quantized))
    del result.metadata_props[:]
    result.metadata_props.extend(model.metadata_props)
    return _finish(result, Path(onnx_out), "int8")


class _FrameReader:
    """ONNX Runtime's CalibrationDataReader protocol over uint8 frames, in batches."""

    def __init__(self, frames: np.ndarray, batch: int = CALIBRATION_BATCH):
        self._batches: Iterator[np.ndarray] = (frames[i : i + batch] for i in range(0, len(frames), batch))

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {INPUT_NAME: batch}


@contextmanager
def _quiet_preprocess_hint() -> Iterator[None]:
    """Hide ONNX Runtime's "consider pre-processing" hint: edgead graphs are already optimized and typed."""

    def keep(record: logging.LogRecord) -> bool:
        return "pre-processing" not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def set_precision(model: onnx.ModelProto, precision: str) -> None:
    """Record ``precision`` in the model's edgead metadata (other metadata_props are kept)."""
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            metadata = ModelMetadata.from_json(prop.value, source="graph")
            prop.value = dataclasses.replace(metadata, precision=precision).to_json()
            return
    raise EdgeadError(f"the graph has no '{METADATA_KEY}' metadata; convert a graph written by `edgead export`")


def _finish(model: onnx.ModelProto, output: Path, precision: str) -> Path:
    set_precision(model, precision)
    save_model(model, output)
    onnx.checker.check_model(str(output), full_check=True)
    return output


def reference_path(output: Path) -> Path:
    """Where the fp32 graph that a variant is made from is kept: beside it, as ``<name>.fp32.onnx``.

    ``bottle.fp16.onnx`` and ``bottle.onnx`` both keep theirs as ``bottle.fp32.onnx``.
    """
    stem = output.stem
    for precision in PRECISIONS:
        stem = stem.removesuffix(f".{precision}")
    return output.with_name(f"{stem}.fp32{output.suffix}")
