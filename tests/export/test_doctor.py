"""``edgead doctor`` on small graphs built with onnx.helper: each deliberately broken one must be flagged with the
right check and node name, and the clean ones must come out clean, for every TensorRT version in the table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgead.export.doctor import TRT_VERSIONS, Report, diagnose, operator_table

H = W = 16


def make_model(
    nodes: list, outputs: list, inits: list | None = None, opset: int = 17, image_dims: list | None = None
) -> onnx.ModelProto:
    """A graph with the exported contract's input: uint8 frames [batch, H, W, 3]."""
    image = helper.make_tensor_value_info("image", TensorProto.UINT8, image_dims or ["batch", H, W, 3])
    graph = helper.make_graph(nodes, "doctor_fixture", [image], outputs, inits or [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model, full_check=True)
    return model


def out(name: str, dims: list, dtype: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, dims)


def cast_node() -> onnx.NodeProto:
    return helper.make_node("Cast", ["image"], ["x"], name="to_float", to=TensorProto.FLOAT)


def clean_model(opset: int = 17) -> onnx.ModelProto:
    """Cast first, then a channel mean and a spatial mean: what an edgead graph's ends look like."""
    if opset >= 18:
        inits = [numpy_helper.from_array(np.array([3], np.int64), "ax3")]
        mean = helper.make_node("ReduceMean", ["x", "ax3"], ["map"], name="channel_mean", keepdims=0)
    else:
        inits = []
        mean = helper.make_node("ReduceMean", ["x"], ["map"], name="channel_mean", axes=[3], keepdims=0)
    score = helper.make_node("ReduceMax", ["map"], ["score"], name="score", axes=[1, 2], keepdims=0)
    nodes = [cast_node(), mean, score]
    if opset >= 18:
        inits.append(numpy_helper.from_array(np.array([1, 2], np.int64), "ax12"))
        nodes[2] = helper.make_node("ReduceMax", ["map", "ax12"], ["score"], name="score", keepdims=0)
    return make_model(nodes, [out("score", ["batch"]), out("map", ["batch", H, W])], inits, opset)


def errors(report: Report, check: str | None = None) -> list:
    return [f for f in report.findings if f.severity == "error" and (check is None or f.check == check)]


def warnings(report: Report, check: str | None = None) -> list:
    return [f for f in report.findings if f.severity == "warning" and (check is None or f.check == check)]


# ---------------------------------------------------------------- clean graphs


@pytest.mark.parametrize("version", TRT_VERSIONS)
def test_clean_graph_is_clean_for_every_trt_version(version: str) -> None:
    opset = 17 if version.startswith("8.") else 18
    report = diagnose(clean_model(opset), "trt", version)
    assert report.ok and not warnings(report), report.text()
    assert "ready" in report.summary() and "NOT" not in report.summary()


@pytest.mark.parametrize("target", ["ort", "openvino"])
def test_clean_graph_loads_in_ort_and_openvino(target: str, tmp_path: Path) -> None:
    path = tmp_path / "clean.onnx"
    onnx.save(clean_model(18), path)
    report = diagnose(path, target)
    assert report.ok, report.text()
    assert any(f.check == "runtime-load" and "the graph" in f.message for f in report.findings), report.text()


# ---------------------------------------------------------------- broken graphs


def test_float64_initializer_and_cast_to_double_are_errors() -> None:
    inits = [numpy_helper.from_array(np.array(2.0, np.float64), "two64")]
    nodes = [
        helper.make_node("Cast", ["image"], ["x64"], name="to_double", to=TensorProto.DOUBLE),
        helper.make_node("Mul", ["x64", "two64"], ["y64"], name="scale64"),
        helper.make_node("Cast", ["y64"], ["y"], name="back_to_float", to=TensorProto.FLOAT),
    ]
    model = make_model(nodes, [out("y", ["batch", H, W, 3])], inits)
    for version in TRT_VERSIONS:
        report = diagnose(model, "trt", version)
        dtype = errors(report, "dtype")
        assert any(f.node == "to_double" and "Cast to DOUBLE" in f.message for f in dtype), report.text()
        assert any("initializer 'two64' is float64" in f.message for f in dtype), report.text()
        assert any(f.node == "scale64" and "'y64' is float64" in f.message for f in dtype), report.text()
    ort_report = diagnose(model, "ort")  # ONNX Runtime runs float64: a warning there, not an error
    assert not errors(ort_report, "dtype") and warnings(ort_report, "dtype"), ort_report.text()


def _topk_model(k_node: onnx.NodeProto | None, k_value: int | None) -> onnx.ModelProto:
    inits = [numpy_helper.from_array(np.array([0, -1], np.int64), "flat_shape")]  # [batch, H * W * 3]
    nodes = [cast_node(), helper.make_node("Reshape", ["x", "flat_shape"], ["flat"], name="flatten")]
    if k_node is not None:
        nodes.append(k_node)
    else:
        inits.append(numpy_helper.from_array(np.array([k_value], np.int64), "k"))
    nodes.append(helper.make_node("TopK", ["flat", "k"], ["values", "indices"], name="top_patches", axis=1))
    k_dim = k_value if k_value is not None else "k"
    outputs = [out("values", ["batch", k_dim]), out("indices", ["batch", k_dim], TensorProto.INT64)]
    return make_model(nodes, outputs, inits, image_dims=["batch", 64, 64, 3])  # 12288 values to pick from


def test_dynamic_topk_k_is_flagged() -> None:
    # K computed from the input's shape: not an initializer
    shape = helper.make_node("Shape", ["image"], ["k"], name="k_from_shape", start=1, end=2)
    model = _topk_model(shape, None)
    report85 = diagnose(model, "trt", "8.5")
    assert any(f.node == "top_patches" and "K ('k')" in f.message for f in errors(report85, "topk")), report85.text()
    # 8.6+ parse a dynamic K, but K <= 3840 can no longer be checked: a warning
    report10 = diagnose(model, "trt", "10")
    assert not errors(report10, "topk")
    assert any(f.node == "top_patches" for f in warnings(report10, "topk")), report10.text()


@pytest.mark.parametrize("k, flagged", [(3840, False), (3841, True), (5000, True)])
def test_topk_k_above_3840_is_an_error(k: int, flagged: bool) -> None:
    report = diagnose(_topk_model(None, k), "trt", "10")
    found = [f for f in errors(report, "topk") if f.node == "top_patches" and f"K = {k}" in f.message]
    assert bool(found) == flagged, report.text()


def test_unsupported_op_is_an_error_per_version() -> None:
    nodes = [cast_node(), helper.make_node("Unique", ["x"], ["u"], name="unique_values")]
    model = make_model(nodes, [out("u", ["n"])])
    for version in TRT_VERSIONS:
        report = diagnose(model, "trt", version)
        assert any(f.node == "unique_values" and f.op == "Unique" for f in errors(report, "op-support")), report.text()
    # LayerNormalization: unsupported in 8.5's table, supported from 8.6 on (the table decides, not the code)
    inits = [numpy_helper.from_array(np.full(3, v, np.float32), n) for n, v in (("g", 1.0), ("b", 0.0))]
    ln = make_model(
        [cast_node(), helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], name="layer_norm")],
        [out("y", ["batch", H, W, 3])],
        inits,
    )
    assert any(f.node == "layer_norm" for f in errors(diagnose(ln, "trt", "8.5"), "op-support"))
    assert not errors(diagnose(ln, "trt", "8.6"), "op-support")


def test_custom_domain_op_is_an_error() -> None:
    node = helper.make_node("MyKnn", ["x"], ["y"], name="knn_plugin", domain="com.example")
    model = helper.make_model(
        helper.make_graph(
            [cast_node(), node], "g", [helper.make_tensor_value_info("image", TensorProto.UINT8, ["batch", H, W, 3])],
            [out("y", ["batch"])],
        ),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)],
    )  # fmt: skip
    report = diagnose(model, "trt", "10")
    assert any(f.node == "knn_plugin" and "com.example" in f.message for f in errors(report, "op-support"))


def _reduce_with_computed_axes() -> onnx.ModelProto:
    # axes = Shape(image)[3:4] - 1 = [2]... computed by the graph, foldable because the shape is static there
    inits = [numpy_helper.from_array(np.array([1], np.int64), "one")]
    nodes = [
        cast_node(),
        helper.make_node("Shape", ["image"], ["rank_dim"], name="last_dim", start=3, end=4),
        helper.make_node("Sub", ["rank_dim", "one"], ["axes"], name="axes_from_shape"),
        helper.make_node("ReduceMean", ["x", "axes"], ["y"], name="mean_computed_axes", keepdims=0),
    ]
    return make_model(nodes, [out("y", ["batch", H, W])], inits, opset=18)


def test_non_constant_reduce_axes_is_an_error_on_10x() -> None:
    model = _reduce_with_computed_axes()
    for version in ("10", "11"):
        report = diagnose(model, "trt", version)
        found = [f for f in errors(report, "const-input") if f.node == "mean_computed_axes"]
        assert found and "'axes'" in found[0].message, report.text()
        assert "fold-constants" in found[0].fix  # Shape of a static dim: folding makes it an initializer
        folding = [f for f in report.findings if f.check == "constant-folding"]
        assert folding and folding[0].severity == "info"


def test_slice_tensor_axes_version_window() -> None:
    """Tensor `axes` for Slice parse from TensorRT 10.3 on: an error for '10' (every 10.x), fine for 11."""
    inits = [numpy_helper.from_array(np.array([v], np.int64), n) for n, v in (("s", 0), ("e", 2), ("one", 1))]
    nodes = [
        cast_node(),
        helper.make_node("Shape", ["image"], ["d"], name="dim", start=3, end=4),
        helper.make_node("Sub", ["d", "one"], ["ax"], name="axis_math"),
        helper.make_node("Slice", ["x", "s", "e", "ax"], ["y"], name="slice_dynamic_axes"),
    ]
    model = make_model(nodes, [out("y", ["batch", H, W, 2])], inits, opset=18)
    assert any(f.node == "slice_dynamic_axes" for f in errors(diagnose(model, "trt", "10"), "const-input"))
    assert not errors(diagnose(model, "trt", "11"), "const-input")


def test_antialiased_resize_is_an_error() -> None:
    inits = [numpy_helper.from_array(np.array([1, 1, 0.5, 0.5], np.float32), "scales")]
    nodes = [
        cast_node(),
        helper.make_node("Transpose", ["x"], ["nchw"], name="to_nchw", perm=[0, 3, 1, 2]),
        helper.make_node("Resize", ["nchw", "", "scales"], ["y"], name="downscale_aa", mode="linear", antialias=1),
    ]
    model = make_model(nodes, [out("y", ["batch", 3, H // 2, W // 2])], inits, opset=18)
    for version in ("10", "11"):
        report = diagnose(model, "trt", version)
        found = [f for f in errors(report, "op-attribute") if f.node == "downscale_aa"]
        assert found and "antialias=1" in found[0].message, report.text()
    cubic = make_model(
        nodes[:2] + [helper.make_node("Resize", ["nchw", "", "scales"], ["y"], name="cubic_resize", mode="cubic")],
        [out("y", ["batch", 3, H // 2, W // 2])],
        inits,
        opset=18,
    )
    assert any(f.node == "cubic_resize" for f in errors(diagnose(cubic, "trt", "10"), "op-attribute"))


def test_dynamic_non_batch_dimension_is_an_error() -> None:
    nodes = [cast_node(), helper.make_node("ReduceMean", ["x"], ["y"], name="mean", axes=[3], keepdims=0)]
    model = make_model(nodes, [out("y", ["batch", "height", W])], image_dims=["batch", "height", W, 3])
    report = diagnose(model, "trt", "10")
    found = errors(report, "dynamic-dims")
    assert found and "'image'" in found[0].message and "height" in found[0].message, report.text()
    assert not warnings(report, "dynamic-dims"), report.text()  # tensors that only follow 'height': said once
    # the batch alone, and dims derived from it, are fine
    assert not [f for f in diagnose(clean_model(), "trt", "10").findings if f.check == "dynamic-dims"]


def test_protobuf_limit_flagged_with_a_lowered_threshold(tmp_path: Path) -> None:
    nodes = [
        cast_node(),
        helper.make_node("ReduceMean", ["x"], ["m"], name="m", axes=[3], keepdims=0),
        helper.make_node("MatMul", ["m", "bank_t"], ["y"], name="bank_gemm"),
    ]
    bank = numpy_helper.from_array(np.ones((W, 4096), np.float32), "bank_t")  # 256 KB
    model = make_model(nodes, [out("y", ["batch", H, 4096])], [bank])
    report = diagnose(model, "trt", "10", protobuf_limit=100_000)
    found = errors(report, "size")
    assert found and "exceeds" in found[0].message and "external data" in found[0].fix, report.text()
    assert any("largest: 'bank_t' 0.3 MB" in f.message for f in report.findings), report.text()
    # saved with external data, the same graph is within the limit
    path = tmp_path / "ext.onnx"
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True, size_threshold=1024)
    ext = diagnose(path, "trt", "10", protobuf_limit=100_000)
    assert not errors(ext, "size") and any("external data" in f.message for f in ext.findings), ext.text()


def test_uint8_inside_the_graph_is_an_error() -> None:
    nodes = [
        helper.make_node("Transpose", ["image"], ["nchw_u8"], name="permute_uint8", perm=[0, 3, 1, 2]),
        helper.make_node("Cast", ["nchw_u8"], ["y"], name="late_cast", to=TensorProto.FLOAT),
    ]
    model = make_model(nodes, [out("y", ["batch", 3, H, W])])
    report = diagnose(model, "trt", "10")
    assert any(f.node == "permute_uint8" and "UINT8" in f.message for f in errors(report, "dtype")), report.text()


def test_asymmetric_uint8_qdq_is_an_error() -> None:
    inits = [
        numpy_helper.from_array(np.array(0.02, np.float32), "s"),
        numpy_helper.from_array(np.array(128, np.uint8), "zp_u8"),
        numpy_helper.from_array(np.array(3, np.int8), "zp_i8"),
    ]
    nodes = [
        cast_node(),
        helper.make_node("QuantizeLinear", ["x", "s", "zp_u8"], ["q"], name="q_asym"),
        helper.make_node("DequantizeLinear", ["q", "s", "zp_u8"], ["dq"], name="dq_asym"),
        helper.make_node("QuantizeLinear", ["dq", "s", "zp_i8"], ["q2"], name="q_offset"),
        helper.make_node("DequantizeLinear", ["q2", "s", "zp_i8"], ["y"], name="dq_offset"),
    ]
    report = diagnose(make_model(nodes, [out("y", ["batch", H, W, 3])], inits), "trt", "10")
    nodes_flagged = {f.node for f in errors(report, "qdq")}
    assert {"q_asym", "dq_asym", "q_offset", "dq_offset"} <= nodes_flagged, report.text()


def qdq_conv_model(bias_dtype: int) -> onnx.ModelProto:
    """x -> Q/DQ -> Conv whose weight is INT8 + DequantizeLinear and whose bias is ``bias_dtype`` + DequantizeLinear
    (what onnxruntime's quantize_static writes with QuantizeBias=True: an INT32 bias, scale = x scale * w scale)."""
    bias = np.array([5, -3], np.int32 if bias_dtype == TensorProto.INT32 else np.int8)
    inits = [
        numpy_helper.from_array(np.array(0.02, np.float32), "s"),
        numpy_helper.from_array(np.array(0, np.int8), "zp"),
        numpy_helper.from_array(np.ones((2, 3, 1, 1), np.int8), "w_q"),
        numpy_helper.from_array(np.array(0.01, np.float32), "w_s"),
        numpy_helper.from_array(bias, "b_q"),
        numpy_helper.from_array(np.array(0.0002, np.float32), "b_s"),
    ]
    nodes = [
        cast_node(),
        helper.make_node("Transpose", ["x"], ["nchw"], name="to_nchw", perm=[0, 3, 1, 2]),
        helper.make_node("QuantizeLinear", ["nchw", "s", "zp"], ["q"], name="q_x"),
        helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["dq"], name="dq_x"),
        helper.make_node("DequantizeLinear", ["w_q", "w_s"], ["w"], name="dq_w"),
        helper.make_node("DequantizeLinear", ["b_q", "b_s"], ["b"], name="conv_bias_DequantizeLinear"),
        helper.make_node("Conv", ["dq", "w", "b"], ["y"], name="conv"),
    ]
    return make_model(nodes, [out("y", ["batch", 2, H, W])], inits)


@pytest.mark.parametrize("version", TRT_VERSIONS)
def test_int32_bias_into_dequantize_linear_is_an_error_on_every_line(version: str) -> None:
    """onnx/onnx-tensorrt#850: '..._DequantizeLinear: only activation types allowed as input to this layer'."""
    report = diagnose(qdq_conv_model(TensorProto.INT32), "trt", version)
    flagged = errors(report, "qdq")
    assert [f.node for f in flagged] == ["conv_bias_DequantizeLinear"], report.text()
    assert "'b_q' is INT32" in flagged[0].message and "QuantizeBias=False" in flagged[0].fix
    assert diagnose(qdq_conv_model(TensorProto.INT8), "trt", version).ok  # INT8 inputs only: ready


def test_fp4_dequantize_needs_10_8_and_int4_needs_10() -> None:
    from edgead.export.doctor_types import DEQUANTIZE_INPUT_SINCE

    assert DEQUANTIZE_INPUT_SINCE == {"INT8": "8.0", "FLOAT8E4M3FN": "9.0", "INT4": "10.0", "FLOAT4E2M1": "10.8"}


@pytest.mark.parametrize(
    ("version", "exponent_flagged", "base_flagged"),
    [("8.5", True, True), ("8.6", True, True), ("10", True, True), ("11", False, False)],
)
def test_integer_pow_inputs_by_release(version: str, exponent_flagged: bool, base_flagged: bool) -> None:
    """Changelog: integer exponent from 10.8, integer base from 10.12; "10" means every 10.x (JetPack's 10.3)."""
    inits = [
        numpy_helper.from_array(np.array(2, np.int32), "two_i"),
        numpy_helper.from_array(np.array(2.0, np.float32), "two_f"),
    ]
    nodes = [
        cast_node(),
        helper.make_node("Pow", ["x", "two_i"], ["sq"], name="int_exponent"),
        helper.make_node("Cast", ["image"], ["xi"], name="to_int", to=TensorProto.INT32),
        helper.make_node("Pow", ["xi", "two_f"], ["yi"], name="int_base"),
        helper.make_node("Pow", ["x", "two_f"], ["y"], name="float_pow"),
    ]
    model = make_model(nodes, [out(n, ["batch", H, W, 3], t) for n, t in (("sq", 1), ("yi", 6), ("y", 1))], inits)
    flagged = {f.node for f in errors(diagnose(model, "trt", version), "dtype")}
    assert ("int_exponent" in flagged) == exponent_flagged and ("int_base" in flagged) == base_flagged, flagged
    assert "float_pow" not in flagged


def test_reverse_sequence_takes_int32_from_8_6() -> None:
    """onnx/onnx-tensorrt release/8.6-GA docs/operators.md: ReverseSequence FP32, FP16, INT32, INT8, BOOL."""
    inits = [numpy_helper.from_array(np.full(W, H, np.int64), "lens")]
    nodes = [
        helper.make_node("Cast", ["image"], ["xi"], name="to_int", to=TensorProto.INT32),
        helper.make_node("ReverseSequence", ["xi", "lens"], ["r"], name="reverse", batch_axis=2, time_axis=1),
    ]
    model = make_model(nodes, [out("r", ["batch", H, W, 3], TensorProto.INT32)], inits)
    assert any(f.node == "reverse" for f in errors(diagnose(model, "trt", "8.5"), "dtype"))
    assert not any(f.node == "reverse" for f in errors(diagnose(model, "trt", "8.6"), "dtype"))


def test_opset_and_int64_rules_of_tensorrt_8() -> None:
    report = diagnose(clean_model(18), "trt", "8.5")
    assert errors(report, "opset") and "opset 18" in errors(report, "opset")[0].message
    nodes = [helper.make_node("ArgMax", ["x"], ["idx"], name="argmax", axis=3, keepdims=0), cast_node()]
    model = make_model(nodes[::-1], [out("idx", ["batch", H, W], TensorProto.INT64)])
    w85 = warnings(diagnose(model, "trt", "8.5"), "dtype")
    assert any("'idx' is INT64" in f.message and "INT32" in f.message for f in w85), w85
    assert not warnings(diagnose(model, "trt", "10"), "dtype")


def test_integer_data_into_a_float_only_op_is_an_error() -> None:
    inits = [numpy_helper.from_array(np.ones((3, 2), np.int64), "w_int")]
    nodes = [
        helper.make_node("Cast", ["image"], ["xi"], name="to_int", to=TensorProto.INT64),
        helper.make_node("MatMul", ["xi", "w_int"], ["y"], name="int_matmul"),
    ]
    model = make_model(nodes, [out("y", ["batch", H, W, 2], TensorProto.INT64)], inits)
    report = diagnose(model, "trt", "10")
    assert any(f.node == "int_matmul" for f in errors(report, "dtype")), report.text()


@pytest.mark.parametrize("method", ["static", "graphsurgeon"])
def test_constant_folding_is_reported_as_info(method: str) -> None:
    if method == "graphsurgeon":
        pytest.importorskip("onnx_graphsurgeon", reason="onnx-graphsurgeon is not installed (pip install it)")
    inits = [numpy_helper.from_array(np.full(3, v, np.float32), n) for n, v in (("a", 2.0), ("b", 3.0))]
    nodes = [
        cast_node(),
        helper.make_node("Mul", ["a", "b"], ["ab"], name="const_mul"),
        helper.make_node("Add", ["ab", "a"], ["abc"], name="const_add"),
        helper.make_node("Mul", ["x", "abc"], ["y"], name="scale"),
    ]
    report = diagnose(make_model(nodes, [out("y", ["batch", H, W, 3])], inits), "trt", "10", fold=method)
    fold = [f for f in report.findings if f.check == "constant-folding"]
    assert len(fold) == 1 and fold[0].severity == "info" and fold[0].message.startswith("2 node(s)"), report.text()
    assert ("graphsurgeon fold_constants removes 2" in fold[0].message) == (method == "graphsurgeon")
    assert report.ok
    assert not [f for f in diagnose(clean_model(), "trt", "10", fold=method).findings if f.check == "constant-folding"]


# ---------------------------------------------------------------- table, CLI, torch-free


def test_operator_table_states_its_sources() -> None:
    table = operator_table()
    assert set(table["versions"]) == set(TRT_VERSIONS)
    for version, spec in table["versions"].items():
        assert spec["status"] in ("read", "derived"), version
        assert spec["source"], version
        if spec["status"] == "read":
            assert spec["source"]["path"] == "docs/operators.md" and spec["source"]["commit"], version
        assert not set(spec["supported"]) & set(spec["unsupported"]), version
        assert {"Conv", "MatMul", "ReduceMin", "Resize"} <= set(spec["supported"]), version
    assert table["versions"]["8.5"]["topk"]["k_constant"] and not table["versions"]["10"]["topk"]["k_constant"]


def test_cli_exit_status_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgead.cli import main

    clean, broken = tmp_path / "clean.onnx", tmp_path / "broken.onnx"
    onnx.save(clean_model(18), clean)
    onnx.save(_reduce_with_computed_axes(), broken)
    assert main(["doctor", str(clean)]) == 0
    assert "0 errors" in capsys.readouterr().out
    assert main(["doctor", str(broken), "--trt-version", "10", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["counts"]["error"] >= 1
    assert any(f["node"] == "mean_computed_axes" and f["fix"] for f in data["findings"])
    assert main(["doctor", str(tmp_path / "missing.onnx")]) == 1
    assert "does not exist" in capsys.readouterr().err


NO_TORCH = """
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
from edgead.cli import main
code = main(["doctor", sys.argv[1], "--trt-version", "11"])
assert "torch" not in sys.modules or sys.modules["torch"] is None
sys.exit(code)
"""


def test_doctor_runs_without_torch(tmp_path: Path) -> None:
    path = tmp_path / "clean.onnx"
    onnx.save(clean_model(18), path)
    done = subprocess.run([sys.executable, "-c", NO_TORCH, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "for TensorRT 11.x: 0 errors" in done.stdout


def test_op_added_in_a_later_10x_release_is_an_error_for_10() -> None:
    inits = [numpy_helper.from_array(np.ones((3, 3, 3, 3), np.float32), "w")]
    inits.append(numpy_helper.from_array(np.zeros((1, 18, H - 2, W - 2), np.float32), "offset"))
    nodes = [
        cast_node(),
        helper.make_node("Transpose", ["x"], ["nchw"], name="to_nchw", perm=[0, 3, 1, 2]),
        helper.make_node("DeformConv", ["nchw", "w", "offset"], ["y"], name="deform", kernel_shape=[3, 3]),
    ]
    model = make_model(nodes, [out("y", ["batch", 3, H - 2, W - 2])], inits, opset=19)
    found = [f for f in errors(diagnose(model, "trt", "10"), "op-support") if f.node == "deform"]
    assert found and "from TensorRT 10.1" in found[0].message
    assert not errors(diagnose(model, "trt", "11"), "op-support")


def test_export_hook_fails_on_an_error_and_names_the_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgead.export.formats import run_doctor
    from edgead_runtime.errors import EdgeadError

    clean, broken = tmp_path / "clean.onnx", tmp_path / "broken.onnx"
    onnx.save(clean_model(17), clean)  # the opset export writes
    onnx.save(_reduce_with_computed_axes(), broken)
    run_doctor([clean, tmp_path / "model.engine"])  # non-ONNX files are not graphs: skipped
    assert capsys.readouterr().out.count("0 errors") == 3  # TensorRT 8.5, 10.x and 11.x
    with pytest.raises(EdgeadError, match="mean_computed_axes"):
        run_doctor([broken])
