"""The input stage's BGR -> RGB Gather folds into the first convolutions: same outputs, no Gather."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgead.export.input_fold import fold_channel_order


def input_stage(axis: int = 3, consumers: int = 2) -> onnx.ModelProto:
    """uint8 NHWC -> Cast -> Gather(BGR->RGB) -> Transpose -> Mul -> Add -> ``consumers`` Convs (teacher, student)."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(np.array([2, 1, 0], dtype=np.int64), "order"),
        numpy_helper.from_array(np.array([0.1, 0.2, 0.3], np.float32).reshape(1, 3, 1, 1), "scale"),
        numpy_helper.from_array(np.array([-1.0, 0.5, 2.0], np.float32).reshape(1, 3, 1, 1), "shift"),
    ]
    nodes = [
        helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Gather", ["f", "order"], ["rgb"], axis=axis),
        helper.make_node("Transpose", ["rgb"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Mul", ["nchw", "scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "shift"], ["x"]),
    ]
    outputs = []
    for i in range(consumers):
        inits.append(numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), f"w{i}"))
        nodes.append(helper.make_node("Conv", ["x", f"w{i}"], [f"y{i}"], pads=[0, 0, 1, 1], strides=[2, 2]))
        outputs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, ["n", 4, 4, 4]))
    graph = helper.make_graph(
        nodes,
        "input_stage",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["n", 8, 8, 3])],
        outputs,
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(model: onnx.ModelProto, frames: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": frames})


def test_gather_folds_into_every_conv_with_the_same_outputs() -> None:
    model = input_stage()
    folded = fold_channel_order(model)
    onnx.checker.check_model(folded, full_check=True)
    assert [n.op_type for n in folded.graph.node] == ["Cast", "Transpose", "Mul", "Add", "Conv", "Conv"]
    assert "order" not in {t.name for t in folded.graph.initializer}
    frames = np.random.default_rng(1).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    for want, got in zip(run(model, frames), run(folded, frames), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    # the folded weights are the originals with the input channels reversed, not a copy
    weights = {t.name: numpy_helper.to_array(t) for t in folded.graph.initializer}
    original = numpy_helper.to_array(model.graph.initializer[3])
    np.testing.assert_array_equal(weights[folded.graph.node[4].input[1]], original[:, ::-1])


@pytest.mark.parametrize("axis", [1, 2])
def test_a_gather_on_another_axis_is_left_alone(axis: int) -> None:
    model = input_stage(axis=axis)
    assert fold_channel_order(model) is model


def test_a_non_conv_consumer_leaves_the_graph_unchanged() -> None:
    model = input_stage()
    model.graph.node.append(helper.make_node("Relu", ["x"], ["r"]))
    model.graph.output.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, ["n", 3, 8, 8]))
    assert fold_channel_order(model) is model
