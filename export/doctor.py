"""``edgead doctor``: a static check that an ONNX graph will parse and build in TensorRT (or load in ORT/OpenVINO).

Users of other anomaly-detection toolkits learn about unsupported ops, dynamic axes and float64 tensors from a
``trtexec`` failure on the edge device. The doctor finds the same problems on the workstation, with no GPU: each op
against the TensorRT ONNX parser's table for the targeted TensorRT version (``trt_onnx_operators.json``, read from
onnx-tensorrt's ``docs/operators.md``), data types, dynamic dimensions other than the batch, initializer sizes against
the 2 GB protobuf limit, and constant-folding opportunities. It needs only ``onnx`` (no torch).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from edgead_runtime.errors import EdgeadError, ModelFileError

from .doctor_folding import FOLD_FIX, check_folding, foldable_tensor
from .doctor_graph import Graph, Report, attr, label
from .doctor_types import check_dequantize_input, check_pow_inputs, check_qdq_zero_point, version_tuple
from .external_data import check_not_empty, external_data_problems
from .onnx_files import PROTOBUF_LIMIT

TARGETS = ("trt", "ort", "openvino")
TRT_VERSIONS = ("8.5", "8.6", "10", "11")
TABLE_PATH = Path(__file__).with_name("trt_onnx_operators.json")
# Ops whose first input is a shape, a type source or otherwise not the data the type column of the table describes.
# Pow: both inputs, by release (doctor_types.check_pow_inputs).
_TYPE_EXEMPT = {"Cast", "CastLike", "ConstantOfShape", "Shape", "Size", "QuantizeLinear", "DequantizeLinear", "Pow"}
_INTEGER = {TensorProto.INT64, TensorProto.INT32}


@cache
def operator_table() -> dict:
    """The TensorRT ONNX-parser table (``trt_onnx_operators.json``); see docs/doctor.md for its sources."""
    return json.loads(TABLE_PATH.read_text())


# ---------------------------------------------------------------- checks


def check_opset(graph: Graph, report: Report, spec: dict) -> None:
    opset = next((o.version for o in graph.model.opset_import if o.domain in ("", "ai.onnx")), None)
    low, high = spec["opset"]
    if opset is not None and not low <= opset <= high:
        report.add(
            "error",
            "opset",
            f"the graph uses ONNX opset {opset}; TensorRT {report.label}'s parser takes opsets "
            + (f"up to {high}" if low <= 1 else f"{low} to {high}"),
            f"export with opset {high} for this TensorRT (opset 18 moved Reduce* axes from attribute to input, which "
            "older parsers do not read)",
        )


def check_ops(graph: Graph, report: Report, spec: dict) -> None:
    """Each node against the table: supported at all, since which version, constant inputs, attributes, types."""
    supported, unsupported = set(spec["supported"]), set(spec["unsupported"])
    floor = version_tuple(spec["floor"])
    int_ops = set(spec["integer_ops"])
    int_word = "INT64" if spec["int64"] == "native" else "INT32 (INT64 is cast down)"
    version = report.label
    for node in graph.nodes:
        name, op = label(node), node.op_type
        if node.domain not in ("", "ai.onnx"):
            report.add(
                "error",
                "op-support",
                f"custom-domain op '{node.domain}::{op}' has no built-in TensorRT importer",
                "replace it with standard ONNX ops, or register a TensorRT plugin of that name on the build machine",
                name,
                op,
            )
            continue
        if op not in supported:
            why = "marked unsupported" if op in unsupported else "not listed"
            newer = [v for v in TRT_VERSIONS if op in operator_table()["versions"][v]["supported"]]
            report.add(
                "error",
                "op-support",
                f"{op} is {why} in TensorRT {version}'s ONNX operator table",
                "rewrite this part of the model with supported ops"
                + (f" (TensorRT {', '.join(newer)} parse {op})" if newer else f"; no TensorRT in the table has {op}"),
                name,
                op,
            )
            continue
        since = spec.get("since", {}).get(op)
        if since and version_tuple(since) > floor:
            report.add(
                "error",
                "op-support",
                f"{op} is supported from TensorRT {since} on, not in every TensorRT {version}",
                f"build with TensorRT >= {since} (JetPack 6.1/6.2 ships 10.3) or rewrite the op",
                name,
                op,
            )
        _check_const_inputs(graph, report, spec, node, floor)
        for rule in spec["attr_rules"]:
            if rule["op"] != op:
                continue
            value = attr(node, rule["attr"])
            if value is not None and value not in rule["allowed"]:
                report.add(
                    "error",
                    "op-attribute",
                    f"{rule['attr']}={value!r} is not supported by TensorRT {version} (allowed: {rule['allowed']})",
                    f"export the op with {rule['attr']} in {rule['allowed']}"
                    + (" (torch: interpolate(..., antialias=False))" if rule["attr"] == "antialias" else ""),
                    name,
                    op,
                )
        if op in ("AveragePool", "MaxPool"):
            kernel = attr(node, "kernel_shape") or []
            if len(kernel) not in (2, 3):
                report.add(
                    "error", "op-attribute", f"{len(kernel)}-D pooling; TensorRT pools 2-D or 3-D only",
                    "reshape to 4-D (N, C, 1, L) and pool 2-D", name, op,
                )  # fmt: skip
            if op == "MaxPool" and len(node.output) > 1 and node.output[1]:
                report.add(
                    "error", "op-attribute", "the Indices output of MaxPool is unsupported",
                    "drop return_indices / the second output", name, op,
                )  # fmt: skip
        if op == "TopK":
            _check_topk(graph, report, spec, node)
        if op in ("QuantizeLinear", "DequantizeLinear"):
            check_qdq_zero_point(graph, report, node, name)
        if op == "DequantizeLinear":
            check_dequantize_input(graph, report, node, name, floor)
        if op == "Pow":
            check_pow_inputs(graph, report, node, name, floor)
        if op == "Cast" and attr(node, "to") == TensorProto.DOUBLE:
            report.add(
                "error",
                "dtype",
                "Cast to DOUBLE: TensorRT silently computes it as FLOAT, so the graph's numbers change",
                "cast to FLOAT (torch: .float(), never .double())",
                name,
                op,
            )
        if node.input and op not in _TYPE_EXEMPT and graph.dtype(node.input[0]) in _INTEGER and op not in int_ops:
            report.add(
                "error",
                "dtype",
                f"{op} gets integer input '{node.input[0]}'; TensorRT {version} runs {op} on float types only"
                f" (its {int_word} ops: Add, Gather, Reshape, ...)",
                "cast the input to FLOAT before this op",
                name,
                op,
            )


def _check_const_inputs(graph: Graph, report: Report, spec: dict, node: onnx.NodeProto, floor: tuple) -> None:
    rules = spec["const_inputs"].get(node.op_type, {})
    until = spec.get("const_until", {}).get(node.op_type)
    if not rules or (until and floor >= version_tuple(until)):
        return
    for index, what in rules.items():
        i = int(index)
        if i >= len(node.input) or not node.input[i] or node.input[i] in graph.constants:
            continue
        tensor = node.input[i]
        later = f"; tensor {what} are parsed from TensorRT {until} on" if until else ""
        report.add(
            "error",
            "const-input",
            f"input '{what}' ('{tensor}') must be an initializer in TensorRT {report.label}, "
            f"but it is computed by the graph{later}",
            FOLD_FIX if foldable_tensor(graph, tensor) else f"make '{what}' a constant in the exporting code",
            label(node),
            node.op_type,
        )


def _check_topk(graph: Graph, report: Report, spec: dict, node: onnx.NodeProto) -> None:
    k_max, name = spec["topk"]["k_max"], label(node)
    k_name = node.input[1] if len(node.input) > 1 else ""
    k = graph.constant_value(k_name) if k_name else None
    if k_name and k is None:
        severity = "error" if spec["topk"]["k_constant"] else "warning"
        report.add(
            severity,
            "topk",
            f"K ('{k_name}') is computed at run time; TensorRT {report.label} needs it constant"
            if severity == "error"
            else f"K ('{k_name}') is computed at run time: TensorRT {report.label} parses a run-time K (ITopKLayer "
            f"input 1, since 8.6), but ITopKLayer takes K <= {k_max} only, and that cannot be checked statically",
            FOLD_FIX if foldable_tensor(graph, k_name) else "make K a constant (an initializer) in the exporting code",
            name,
            "TopK",
        )
    elif k is not None and int(np.max(k)) > k_max:
        report.add(
            "error",
            "topk",
            f"K = {int(np.max(k))} exceeds TensorRT's TopK limit of {k_max}",
            f"take the top {k_max} or fewer, or reduce in chunks (TopK per chunk, then TopK of the chunk results)",
            name,
            "TopK",
        )


def check_dtypes(graph: Graph, report: Report, spec: dict | None) -> None:
    """float64 anywhere; on TensorRT: UINT8 only at the graph's edges, INT64 I/O and range on 8.x."""
    io = {v.name for v in graph.inputs} | {v.name for v in graph.outputs}
    double_severity = "error" if report.target == "trt" else "warning"
    seen: set[str] = set()
    tensors = [(name, graph.dtype(name)) for name in [*graph.initializers, *graph.value_info]]
    for name, dtype in tensors:
        if name in seen:
            continue
        seen.add(name)
        node = graph.producer.get(name)
        where = (label(node), node.op_type) if node is not None else ("", "")
        if dtype == TensorProto.DOUBLE:
            kind = "initializer" if name in graph.initializers else ("graph input/output" if name in io else "tensor")
            report.add(
                double_severity,
                "dtype",
                f"{kind} '{name}' is float64"
                + (": TensorRT casts it to float32, clamping to +-FLT_MAX" if report.target == "trt" else ""),
                "keep everything float32: torch .float(), numpy .astype(np.float32) before it becomes a constant",
                *where,
            )
        if spec is None:
            continue
        if dtype == TensorProto.UINT8 and name not in io and spec["uint8"] == "io_only":
            if node is not None and node.op_type == "QuantizeLinear":
                continue  # reported by the qdq check with its own fix
            if name in graph.initializers and any(n.op_type in ("QuantizeLinear", "DequantizeLinear")
                                                  and name in n.input[2:] for n in graph.nodes):  # fmt: skip
                continue
            report.add(
                "error",
                "dtype",
                f"UINT8 tensor '{name}' inside the graph; TensorRT takes UINT8 only as a network input or output",
                "cast to FLOAT (or INT8 through Q/DQ) right after the input",
                *where,
            )
        if spec["int64"] == "cast_to_int32" and dtype == TensorProto.INT64:
            if name in io:
                report.add(
                    "warning",
                    "dtype",
                    f"graph input/output '{name}' is INT64; TensorRT {report.label} makes it an INT32 engine "
                    "binding, so callers must pass int32",
                    "make the graph's inputs and outputs uint8/float32/int32",
                    *where,
                )
            value = graph.constant_value(name) if name in graph.initializers else None
            if value is not None and value.size and (value.max() > 2**31 - 1 or value.min() < -(2**31)):
                report.add(
                    "warning",
                    "dtype",
                    f"INT64 initializer '{name}' holds values outside the INT32 range; TensorRT "
                    f"{report.label} clamps them when casting to INT32",
                    "use values within +-2**31 (Slice ends: use the dimension, not INT64_MAX)",
                    *where,
                )


def check_dynamic_dims(graph: Graph, report: Report) -> None:
    """Only the first input's first dimension (the batch) may be dynamic; every other dim must be fixed."""
    strict = report.target == "trt"
    for vi in graph.inputs:
        dims = graph.dynamic_dims(vi)
        if dims:
            report.add(
                "error" if strict else "warning",
                "dynamic-dims",
                f"graph input '{vi.name}' has dynamic dimension(s) {dims} besides the batch; edgead's engines have "
                "an optimization profile for the batch only",
                "export with a fixed image size (only the batch dimension dynamic)",
            )
    if not graph.inferred_ok:
        report.add("warning", "dynamic-dims", "ONNX shape inference failed on this graph; intermediate dims unchecked")
        return
    inputs = {v.name for v in graph.inputs}
    input_dims = {d for v in graph.inputs for d in graph.dynamic_dims(v)}  # already reported above
    flagged = []
    for name, vi in graph.value_info.items():
        if name in inputs:
            continue
        dims = [d for d in graph.dynamic_dims(vi) if d not in input_dims]
        if dims:
            flagged.append((name, dims))
    for name, dims in flagged[:10]:
        node = graph.producer.get(name)
        report.add(
            "warning" if strict else "info",
            "dynamic-dims",
            f"tensor '{name}' has dimension(s) {dims} that symbolic shape inference cannot tie to the batch "
            "(data-dependent shape or a shape computation ONNX cannot follow)",
            "fix the sizes in the exporting code (static shapes, no NonZero/Unique-like ops), then fold constants",
            label(node) if node is not None else "",
            node.op_type if node is not None else "",
        )
    if len(flagged) > 10:
        report.add("warning" if strict else "info", "dynamic-dims", f"{len(flagged) - 10} more tensors like these")


def check_sizes(graph: Graph, report: Report, limit: int) -> None:
    """Initializer bytes, external data and the 2 GB protobuf limit; the largest initializers as info."""
    sizes = {}
    external = 0
    for name, t in graph.initializers.items():
        if t.data_location == TensorProto.EXTERNAL:
            external += 1
            info = {e.key: e.value for e in t.external_data}
            if "length" in info:
                sizes[name] = int(info["length"])
            else:
                count = int(np.prod(t.dims)) if t.dims else 1
                sizes[name] = count * np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
        else:
            sizes[name] = len(t.raw_data) if t.HasField("raw_data") else numpy_helper.to_array(t).nbytes
    total = sum(sizes.values())
    inline = total - sum(sizes[n] for n, t in graph.initializers.items() if t.data_location == TensorProto.EXTERNAL)
    if inline > limit:
        report.add(
            "error",
            "size",
            f"{_mb(inline)} of initializers inside the protobuf exceeds the {_mb(limit)} limit",
            "save with external data: onnx.save(model, PATH, save_as_external_data=True, all_tensors_to_one_file=True)",
        )
    top = sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
    largest = ", ".join(f"'{n}' {_mb(s)}" for n, s in top) or "none"
    where = f"; {external} in external data beside the file" if external else ""
    report.add("info", "size", f"{len(sizes)} initializers, {_mb(total)} in all{where}; largest: {largest}")


def _mb(size: int) -> str:
    if size >= 1e9:
        return f"{size / 1e9:.2f} GB"
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB" if size >= 1e3 else f"{size} B"


def check_runtime_load(path: Path | None, report: Report) -> None:
    """ORT/OpenVINO: does the installed runtime load the graph on CPU? (static: no inference is run)."""
    if path is None:
        return
    try:
        if report.target == "ort":
            import onnxruntime as ort

            ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            what = f"onnxruntime {ort.__version__} loads the graph (CPU InferenceSession)"
        else:
            import openvino as ov

            ov.Core().read_model(str(path))
            what = f"openvino {ov.__version__.split('-')[0]} reads and converts the graph (Core.read_model)"
    except ImportError as exc:
        report.add("info", "runtime-load", f"{exc.name} is not installed here; loading was not tried")
        return
    except Exception as exc:  # noqa: BLE001 - the runtime's own message is the finding
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        report.add("error", "runtime-load", f"the installed runtime rejects the graph: {first}",
                   "see the message; check opset and op support of the runtime version you deploy")  # fmt: skip
        return
    report.add("info", "runtime-load", what)


# ---------------------------------------------------------------- entry points


def diagnose(
    model: str | Path | onnx.ModelProto,
    target: str = "trt",
    trt_version: str = "10",
    protobuf_limit: int = PROTOBUF_LIMIT,
    fold: str = "auto",
) -> Report:
    """All checks for ``target`` on ``model`` (a path or a ModelProto); nothing is executed on a GPU."""
    if target not in TARGETS:
        raise EdgeadError(f"unknown doctor target '{target}'; choose one of {', '.join(TARGETS)}")
    if target == "trt" and trt_version not in TRT_VERSIONS:
        raise EdgeadError(f"unknown TensorRT version '{trt_version}'; choose one of {', '.join(TRT_VERSIONS)}")
    path = None
    if isinstance(model, onnx.ModelProto):
        proto = model
    else:
        path = Path(model)
        if not path.is_file():
            raise ModelFileError(f"model file '{path}' does not exist")
        try:
            proto = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # noqa: BLE001 - protobuf raises several types for a bad file
            raise ModelFileError(f"'{path}' is not a readable ONNX model ({exc}); re-export it") from exc
        check_not_empty(path, proto)
    report = Report(str(path or "<model>"), target, trt_version if target == "trt" else None)
    problems = external_data_problems(path, proto) if path is not None else []
    for problem in problems:
        report.add("error", "external-data", problem, "re-export: edgead writes <model>.onnx.data beside the graph")
    graph = Graph(proto)
    spec = operator_table()["versions"][trt_version] if target == "trt" else None
    if spec is not None:
        if spec["status"] == "derived":
            base = spec["source"]["derived_from"]
            report.add("info", "table", f"the {report.target_name()} operator table is derived from TensorRT {base}'s "
                       f"and release notes ('source' in {TABLE_PATH.name})")  # fmt: skip
        check_opset(graph, report, spec)
        check_ops(graph, report, spec)
    elif not problems:  # never hand a runtime a graph whose data lies outside its folder
        check_runtime_load(path, report)
    check_dtypes(graph, report, spec)
    check_dynamic_dims(graph, report)
    check_sizes(graph, report, protobuf_limit)
    check_folding(graph, report, fold)
    return report
