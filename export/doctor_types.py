"""Type rules of the TensorRT ONNX parser that depend on an op's input and the TensorRT release, for ``doctor``.

Kept beside ``doctor.py``; each check takes ``doctor_graph``'s ``Graph`` and ``Report`` and the table block's
``floor`` (the oldest release of the line: 10.0 for "every 10.x").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto

# What DequantizeLinear's quantized input may be, by the first release that takes it: onnx/onnx-tensorrt
# docs/operators.md lists "INT8" on release/8.5-GA and 8.6-GA, "INT8, FP8, INT4" on 10.0-GA, "INT8, FP8, FP4, INT4"
# on 10.15; docs/Changelog.md: FP8 in 9.0 GA, INT4 in 10.0 EA, FLOAT4E2M1 in 10.8 GA. Anything else (an INT32
# bias from onnxruntime's quantize_static with QuantizeBias=True) fails the parse with "..._DequantizeLinear: only
# activation types allowed as input to this layer" (onnx/onnx-tensorrt#850, microsoft/onnxruntime#17738).
DEQUANTIZE_INPUT_SINCE = {"INT8": "8.0", "FLOAT8E4M3FN": "9.0", "INT4": "10.0", "FLOAT4E2M1": "10.8"}
# Pow's integer inputs, by input index: docs/Changelog.md 10.8 GA "Pow ops with integer-typed exponent values",
# 10.12 GA "integer-typed base tensors for Pow"; before, FP32/FP16 (8.x) or float types (10.0) only.
POW_INTEGER_SINCE = {1: ("exponent", "10.8"), 0: ("base", "10.12")}
_INTEGER = {TensorProto.INT64, TensorProto.INT32}


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def _type_name(dtype: int | None) -> str:
    return "unknown" if dtype is None else TensorProto.DataType.Name(dtype)


def check_dequantize_input(graph: Any, report: Any, node: onnx.NodeProto, name: str, floor: tuple) -> None:
    """DequantizeLinear's input must be a quantized type this TensorRT line's IDequantizeLayer takes."""
    dtype = graph.dtype(node.input[0])
    if dtype is None:
        return
    type_name = _type_name(dtype)
    since = DEQUANTIZE_INPUT_SINCE.get(type_name)
    if since is not None and version_tuple(since) <= floor:
        return
    allowed = [t for t, v in DEQUANTIZE_INPUT_SINCE.items() if version_tuple(v) <= floor]
    later = f" ({type_name} from TensorRT {since} on)" if since else ""
    report.add(
        "error",
        "qdq",
        f"input '{node.input[0]}' is {type_name}; TensorRT {report.label}'s DequantizeLinear takes "
        f"{', '.join(allowed)}{later}: the parser stops with 'only activation types allowed as input to this layer'",
        "quantize weights and activations only, not biases (onnxruntime quantize_static extra_options "
        "QuantizeBias=False, as TensorRT-Model-Optimizer does); `edgead export --precision int8` writes such graphs",
        name,
        node.op_type,
    )


def check_pow_inputs(graph: Any, report: Any, node: onnx.NodeProto, name: str, floor: tuple) -> None:
    """Pow takes an integer exponent from TensorRT 10.8 and an integer base from 10.12, float types before."""
    for index, (role, since) in POW_INTEGER_SINCE.items():
        if index >= len(node.input) or graph.dtype(node.input[index]) not in _INTEGER:
            continue
        if version_tuple(since) <= floor:
            continue
        report.add(
            "error",
            "dtype",
            f"integer {role} '{node.input[index]}' ({_type_name(graph.dtype(node.input[index]))}): TensorRT parses "
            f"Pow with an integer {role} from {since} on, not in every TensorRT {report.label} (JetPack 6.1/6.2: 10.3)",
            f"cast the {role} to FLOAT before Pow (torch: x.float() ** 2.0)",
            name,
            node.op_type,
        )


def check_qdq_zero_point(graph: Any, report: Any, node: onnx.NodeProto, name: str) -> None:
    """TensorRT quantizes symmetrically to INT8: a zero point must be 0 and not UINT8."""
    if len(node.input) < 3 or not node.input[2]:
        return
    zp_name = node.input[2]
    if graph.dtype(zp_name) == TensorProto.UINT8:
        report.add(
            "error",
            "qdq",
            f"zero point '{zp_name}' is UINT8 (asymmetric); TensorRT quantizes to INT8 with zero point 0",
            "quantize with QuantType.QInt8 for activations and weights, symmetric (ActivationSymmetric=True)",
            name,
            node.op_type,
        )
        return
    zp = graph.constant_value(zp_name)
    if zp is not None and np.any(zp != 0):
        report.add(
            "error",
            "qdq",
            f"zero point '{zp_name}' is non-zero; TensorRT supports symmetric quantization only",
            "quantize symmetrically (zero point 0)",
            name,
            node.op_type,
        )
