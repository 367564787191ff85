"""The doctor's constant-folding check: nodes whose inputs are all constant, which TensorRT would fold at build time
anyway but which make a graph harder to read and can hide unsupported ops (counted with onnx-graphsurgeon where it is
installed, by a static walk where it is not).
"""

from __future__ import annotations

import onnx
from onnx import TensorProto

from edgead_runtime.errors import EdgeadError

from .doctor_graph import Graph, Report, attr, label

# Constant: already folded. Q/DQ on weights: TensorRT's explicit quantization needs them in the graph.
_NO_FOLD = {"Constant", "QuantizeLinear", "DequantizeLinear"}
FOLD_FIX = "fold constants: polygraphy surgeon sanitize MODEL.onnx --fold-constants -o MODEL.folded.onnx"


def _foldable_nodes(graph: Graph) -> list[onnx.NodeProto]:
    """Nodes whose every input is constant (initializer, Constant, or a folded result; Shape of a static tensor)."""
    known = set(graph.constants)
    folded = []
    for node in graph.nodes:  # ONNX nodes are topologically sorted
        if (
            node.op_type in _NO_FOLD
            or node.op_type.startswith("Random")
            or any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)
        ):
            continue
        inputs = [i for i in node.input if i]
        static_shape = node.op_type in ("Shape", "Size") and inputs and _static(graph, node)
        if static_shape or (inputs and all(i in known for i in inputs)):
            folded.append(node)
            known.update(o for o in node.output if o)
    return folded


def _static(graph: Graph, node: onnx.NodeProto) -> bool:
    """Whether the dims a Shape (its start:end slice) or Size node reads are all fixed."""
    name = node.input[0]
    vi = graph.value_info.get(name)
    if vi is None or not vi.type.tensor_type.HasField("shape"):
        return name in graph.initializers
    dims = list(vi.type.tensor_type.shape.dim)
    if node.op_type == "Shape":
        start, end = attr(node, "start"), attr(node, "end")
        dims = dims[slice(start if start is not None else 0, end)]
    return all(d.HasField("dim_value") for d in dims)


def foldable_tensor(graph: Graph, name: str) -> bool:
    return any(name in n.output for n in _foldable_nodes(graph))


def check_folding(graph: Graph, report: Report, method: str = "auto") -> None:
    """Constant-folding opportunities: static constant propagation, plus what onnx-graphsurgeon folds when installed.

    The two can differ: graphsurgeon evaluates the folded values with ONNX Runtime, but does not fold every pattern
    (e.g. Shape with start/end of a partly dynamic tensor); the static count never evaluates anything.
    """
    nodes = _foldable_nodes(graph)
    gs_count = None
    if method in ("auto", "graphsurgeon"):
        gs_count = _graphsurgeon_fold_count(graph.model, required=method == "graphsurgeon")
    if not nodes and not gs_count:
        return
    examples = ", ".join(f"'{label(n)}' ({n.op_type})" for n in nodes[:5])
    gs_text = f"; onnx-graphsurgeon fold_constants removes {gs_count}" if gs_count is not None else ""
    report.add(
        "info",
        "constant-folding",
        f"{len(nodes)} node(s) compute only constants (static propagation){gs_text}"
        + (f"; e.g. {examples}" if examples else ""),
        FOLD_FIX,
    )


def _graphsurgeon_fold_count(model: onnx.ModelProto, required: bool) -> int | None:
    """Nodes that onnx-graphsurgeon removes by folding; None when it is not installed or data is external."""
    try:
        import onnx_graphsurgeon as gs
    except ImportError:
        if required:
            raise EdgeadError("onnx-graphsurgeon is not installed: pip install onnx-graphsurgeon") from None
        return None
    if any(t.data_location == TensorProto.EXTERNAL for t in model.graph.initializer):
        return None
    import logging

    logging.getLogger("onnx_graphsurgeon").setLevel(logging.ERROR)
    gs.logger.G_LOGGER.severity = gs.logger.G_LOGGER.ERROR
    graph = gs.import_onnx(model)
    before = len(graph.nodes)
    graph.fold_constants().cleanup()
    return before - len(graph.nodes)
