"""Lowering the exporter's opset-18 graph to opset 17: same numbers in ONNX Runtime, clear errors otherwise."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgead.export.opset import OpsetError, lower_to_opset17


def reduce_resize_model(axes_from_graph: bool = False) -> onnx.ModelProto:
    """y = ReduceMax(Resize(x), axes=[1]) + ReduceMean(x, axes=[2, 3]) in opset 18 form."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2, 1, 1])
    inits = [
        numpy_helper.from_array(np.array([1], np.int64), "axes1"),
        numpy_helper.from_array(np.array([2, 3], np.int64), "axes23"),
        numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
    ]
    nodes = [
        helper.make_node("Resize", ["x", "", "scales"], ["up"], name="up", mode="linear", antialias=0),
        helper.make_node("Shape", ["x"], ["shape"], name="shape"),
        helper.make_node("ReduceMax", ["up", "axes1"], ["max"], name="max", keepdims=0),
        helper.make_node(
            "ReduceMean", ["x", "computed" if axes_from_graph else "axes23"], ["mean"], name="mean", keepdims=1
        ),
        helper.make_node("ReduceMax", ["max"], ["all"], name="all", keepdims=1),
        helper.make_node("Add", ["all", "mean"], ["y"], name="add"),
    ]
    if axes_from_graph:
        nodes.insert(2, helper.make_node("Slice", ["shape", "axes23", "axes1"], ["computed"], name="computed"))
    graph = helper.make_graph(nodes, "g", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_lowered_graph_is_valid_opset_17_and_computes_the_same() -> None:
    model = reduce_resize_model()
    lowered = lower_to_opset17(model)
    onnx.checker.check_model(lowered, full_check=True)
    assert [o.version for o in lowered.opset_import if o.domain == ""] == [17]
    nodes = {n.name: n for n in lowered.graph.node}
    assert list(nodes["max"].input) == ["up"] and helper.get_attribute_value(nodes["max"].attribute[-1]) == [1]
    assert {a.name for a in nodes["up"].attribute} == {"mode"}
    x = np.random.default_rng(0).random((3, 2, 4, 4), dtype=np.float32)
    np.testing.assert_array_equal(run(lowered, x), run(model, x))
    assert [o.version for o in model.opset_import] == [18], "the input model is left unchanged"


def test_computed_axes_and_antialiasing_cannot_be_lowered() -> None:
    with pytest.raises(OpsetError, match="'mean'.*computes its axes"):
        lower_to_opset17(reduce_resize_model(axes_from_graph=True))
    model = reduce_resize_model()
    up = next(n for n in model.graph.node if n.name == "up")
    next(a for a in up.attribute if a.name == "antialias").i = 1
    with pytest.raises(OpsetError, match="'up' \\(Resize\\) uses 'antialias'"):
        lower_to_opset17(model)
