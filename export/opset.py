"""Lower the exporter's opset-18 graph to opset 17, which TensorRT 8.5/8.6 (JetPack 5.x/6.0) parse.

torch's dynamo exporter writes opset 18 at the lowest, and ``onnx.version_converter`` leaves
opset-18 attributes behind. edgead's graphs use few ops whose signature changed between 17 and 18,
so the rewrite is explicit and small: Reduce* (except ReduceSum, whose ``axes`` has been an input
since 13) take ``axes`` as an attribute again and lose ``noop_with_empty_axes``; Resize loses its
opset-18 attributes when they hold their defaults; Pad must not use its opset-18 ``axes`` input.
Anything else that opset 17 lacks is an error, and export's parity check runs on the lowered file.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from edgead_runtime.errors import EdgeadError

EXPORTER_OPSET = 18  # the lowest opset torch's dynamo exporter writes
TARGET_OPSET = 17  # what edgead files carry: ONNX Runtime, OpenVINO and TensorRT 8.5 through 11 parse it

_REDUCE_AXES_ATTRIBUTE = {
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSumSquare",
}
_RESIZE_18_DEFAULTS = {"antialias": 0, "keep_aspect_ratio_policy": b"stretch"}


class OpsetError(EdgeadError):
    """The graph uses an opset-18 feature that has no opset-17 form."""


def lower_to_opset17(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` (opset 18) rewritten as opset 17; raise OpsetError where that is impossible."""
    lowered = onnx.ModelProto()
    lowered.CopyFrom(model)
    constants = _constants(lowered.graph)
    for node in lowered.graph.node:
        if node.op_type in _REDUCE_AXES_ATTRIBUTE:
            _axes_input_to_attribute(node, constants)
        elif node.op_type == "Resize":
            _drop_resize_18_attributes(node)
        elif node.op_type == "Pad" and len(node.input) > 3 and node.input[3]:
            raise OpsetError(f"node '{node.name}' (Pad) pads selected axes, which opset 17 cannot express")
    for entry in lowered.opset_import:
        if entry.domain in ("", "ai.onnx"):
            entry.version = TARGET_OPSET
    return lowered


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _axes_input_to_attribute(node: onnx.NodeProto, constants: dict[str, np.ndarray]) -> None:
    attributes = {a.name: a for a in node.attribute}
    noop = attributes.pop("noop_with_empty_axes", None)
    has_axes = len(node.input) > 1 and node.input[1]
    if not has_axes and noop is not None and noop.i == 1:
        raise OpsetError(f"node '{node.name}' ({node.op_type}) reduces no axis, which opset 17 cannot express")
    if has_axes:
        if node.input[1] not in constants:
            raise OpsetError(
                f"node '{node.name}' ({node.op_type}) computes its axes at run time; opset 17 needs them constant"
            )
        axes = [int(a) for a in np.atleast_1d(constants[node.input[1]])]
        attributes["axes"] = onnx.helper.make_attribute("axes", axes)
        del node.input[1:]
    del node.attribute[:]
    node.attribute.extend(attributes.values())


def _drop_resize_18_attributes(node: onnx.NodeProto) -> None:
    kept = []
    for attribute in node.attribute:
        if attribute.name == "axes" or (
            attribute.name in _RESIZE_18_DEFAULTS
            and onnx.helper.get_attribute_value(attribute) != _RESIZE_18_DEFAULTS[attribute.name]
        ):
            raise OpsetError(f"node '{node.name}' (Resize) uses '{attribute.name}', which opset 17 lacks")
        if attribute.name not in _RESIZE_18_DEFAULTS:
            kept.append(attribute)
    del node.attribute[:]
    node.attribute.extend(kept)
