"""Fold the input stage's BGR -> RGB channel reorder into the first convolutions' weights.

``FrameInput`` reorders the uint8 BGR frame's channels with a Gather on the channel axis (TensorRT-safe; see
``train/models/layers.py``). ONNX Runtime's CPU Gather copies element by element: on the exported
tf_efficientnet_lite0 PatchCore graph it took 10 % of the backbone-only graph's kernel time and 4 % of the
whole graph's (``benchmarks/profile_ops.py``, batch 1, 2 threads; benchmarks/results/graph-speed/). The
reorder is a permutation of input channels, so the graph can drop it: every per-channel constant between
it and the convolutions, and each convolution's input-channel axis, are permuted instead. Same products;
only the order in which a convolution sums its three input channels changes (float rounding, ~1e-5 on the
features). Export's torch-vs-graph parity check runs on the folded graph, at its usual tolerance.

The pattern: ``Cast -> Gather(axis=3, constant permutation) -> Transpose(0,3,1,2) -> {Mul|Add|Sub|Div by a
constant}* -> Conv(s) with constant weights``. A graph without it is returned unchanged.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

_ELEMENTWISE = ("Mul", "Add", "Sub", "Div")


def fold_channel_order(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` without the input Gather when the pattern above matches, else ``model`` itself."""
    folded = onnx.ModelProto()
    folded.CopyFrom(model)
    graph = folded.graph
    inits = {t.name: t for t in graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    gather = _input_gather(graph, inits, consumers)
    if gather is None:
        return model
    order = numpy_helper.to_array(inits[gather.input[1]]).astype(np.int64)
    inverse = np.argsort(order)
    (transpose,) = consumers[gather.output[0]]
    chain, convs = _chain_to_convs(transpose.output[0], inits, consumers, len(order))
    if convs is None:
        return model
    for node, index in chain:  # per-channel constants follow the channels they scale
        value = numpy_helper.to_array(inits[node.input[index]])
        if value.ndim == 4 and value.shape[1] == len(order):
            node.input[index] = _add_initializer(graph, inits, node.input[index], value[:, inverse])
    for conv in convs:
        weight = numpy_helper.to_array(inits[conv.input[1]])
        conv.input[1] = _add_initializer(graph, inits, conv.input[1], weight[:, inverse])
    transpose.input[0] = gather.input[0]
    graph.node.remove(gather)
    used = {name for node in graph.node for name in node.input}
    for tensor in list(graph.initializer):  # the originals that no node reads any more
        if tensor.name not in used:
            graph.initializer.remove(tensor)
    return folded


def _input_gather(graph: onnx.GraphProto, inits: dict, consumers: dict) -> onnx.NodeProto | None:
    if len(graph.input) != 1:
        return None
    casts = [n for n in consumers.get(graph.input[0].name, []) if n.op_type == "Cast"]
    if len(casts) != 1 or len(consumers.get(casts[0].output[0], [])) != 1:
        return None
    (gather,) = consumers[casts[0].output[0]]
    axis = next((a.i for a in gather.attribute if a.name == "axis"), 0)
    if gather.op_type != "Gather" or axis not in (3, -1) or gather.input[1] not in inits:
        return None
    order = numpy_helper.to_array(inits[gather.input[1]])
    if order.ndim != 1 or sorted(order.tolist()) != list(range(order.size)):
        return None
    after = consumers.get(gather.output[0], [])
    if len(after) != 1 or after[0].op_type != "Transpose":
        return None
    perm = next((list(a.ints) for a in after[0].attribute if a.name == "perm"), None)
    return gather if perm == [0, 3, 1, 2] else None


def _chain_to_convs(
    name: str, inits: dict, consumers: dict, channels: int
) -> tuple[list[tuple[onnx.NodeProto, int]], list[onnx.NodeProto] | None]:
    """Elementwise nodes (with their constant operand's index) from ``name`` to the Convs that read the result."""
    chain = []
    while True:
        users = consumers.get(name, [])
        if users and all(_is_conv_on(n, name, inits, channels) for n in users):
            return chain, users
        if len(users) != 1 or users[0].op_type not in _ELEMENTWISE:
            return chain, None
        node = users[0]
        index = 1 if node.input[0] == name else 0
        if node.input[index] not in inits or node.input[1 - index] != name:
            return chain, None
        shape = tuple(inits[node.input[index]].dims)
        if shape not in ((), (1,), (1, channels, 1, 1)):
            return chain, None
        chain.append((node, index))
        name = node.output[0]


def _is_conv_on(node: onnx.NodeProto, name: str, inits: dict, channels: int) -> bool:
    group = next((a.i for a in node.attribute if a.name == "group"), 1)
    return (
        node.op_type == "Conv"
        and node.input[0] == name
        and node.input[1] in inits
        and group == 1
        and len(inits[node.input[1]].dims) == 4
        and inits[node.input[1]].dims[1] == channels
    )


def _add_initializer(graph: onnx.GraphProto, inits: dict, name: str, value: np.ndarray) -> str:
    """A new initializer ``<name>_input_order`` (the original may be shared with other nodes)."""
    new = f"{name}_input_order"
    if new not in inits:
        tensor = numpy_helper.from_array(np.ascontiguousarray(value), new)
        graph.initializer.append(tensor)
        inits[new] = tensor
    return new
