"""TensorRT engine builds: the plan for each TensorRT release line, the CLI and the missing-TensorRT path.

The plan (flags, graph variant, profile, DLA, messages) is pure Python and tested here for 8.5.2, 8.6,
10.x and 11.x. Building, running and comparing engines (with a recording fake TensorRT here, and with the
real one where a GPU exists) is in test_tensorrt_engines.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from edgead.export.formats import export
from edgead.export.tensorrt_plan import (
    DEFAULT_BATCH,
    BuildOptions,
    ParserError,
    TrtBuildError,
    dla_decision,
    format_parser_errors,
    fp32_nodes,
    fp32_pins,
    graph_precision,
    plan_build,
    read_onnx,
    version_rules,
)
from edgead_runtime.errors import EdgeadError, ModelFileError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
from graphs import HEIGHT, WIDTH, full_model, metadata  # noqa: E402 - the runtime tests' real fixture graphs

TRT_8_5, TRT_8_6, TRT_10, TRT_11 = "8.5.2.2", "8.6.1.6", "10.3.0.30", "11.0.0.14"
SIZE = (HEIGHT, WIDTH)


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("trt") / "fixture.onnx"
    onnx.save(full_model(metadata()), path)
    return path


# ---------------------------------------------------------------- version rules


@pytest.mark.parametrize(
    ("version", "line", "explicit_batch", "strongly_typed_flag", "always_typed", "builder", "api"),
    [
        (TRT_8_5, "8.5", True, False, False, True, "binding"),
        (TRT_8_6, "8.6", True, False, False, True, "binding"),
        (TRT_10, "10", False, True, False, True, "tensor"),
        ("10.13.3.9", "10", False, True, False, True, "tensor"),
        (TRT_11, "11", False, False, True, False, "tensor"),
    ],
)
def test_version_rules_per_release_line(version, line, explicit_batch, strongly_typed_flag, always_typed, builder, api):
    rules = version_rules(version)
    assert rules.line == line
    assert rules.explicit_batch_flag is explicit_batch
    assert rules.strongly_typed_flag is strongly_typed_flag
    assert rules.always_strongly_typed is always_typed
    assert rules.builder_precision is builder
    assert rules.io_api == api


@pytest.mark.parametrize("version", ["8.4.3.1", "8.2.1", "9.2.0", "7.1.3", "nonsense"])
def test_unsupported_versions_are_an_error_naming_the_supported_ones(version):
    with pytest.raises(TrtBuildError, match=r"8\.5\.2.*8\.6.*10\.x.*11\.x|cannot read"):
        version_rules(version)


# ---------------------------------------------------------------- precision plans


@pytest.mark.parametrize(
    ("version", "precision", "mode", "variant", "network", "flags", "pin", "calibrator"),
    [
        # fp32: no reduced-precision flag on any version; the network flags follow the version
        (TRT_8_5, "fp32", "graph", "fp32", ("EXPLICIT_BATCH",), (), False, False),
        (TRT_10, "fp32", "graph", "fp32", ("STRONGLY_TYPED",), (), False, False),
        (TRT_11, "fp32", "graph", "fp32", (), (), False, False),
        # graph path: precision from the fp16-typed / Q/DQ graph
        (TRT_8_5, "fp16", "graph", "fp16", ("EXPLICIT_BATCH",), ("FP16", "OBEY_PRECISION_CONSTRAINTS"), True, False),
        (TRT_8_6, "fp16", "graph", "fp16", ("EXPLICIT_BATCH",), ("FP16", "OBEY_PRECISION_CONSTRAINTS"), True, False),
        (TRT_8_6, "int8", "graph", "int8", ("EXPLICIT_BATCH",), ("INT8",), False, False),
        (TRT_10, "fp16", "graph", "fp16", ("STRONGLY_TYPED",), (), False, False),
        (TRT_10, "int8", "graph", "int8", ("STRONGLY_TYPED",), (), False, False),
        (TRT_11, "fp16", "graph", "fp16", (), (), False, False),
        (TRT_11, "int8", "graph", "int8", (), (), False, False),
        # builder path (8.x/10.x): fp32 graph + builder flags, entropy calibrator for int8
        (TRT_8_5, "fp16", "builder", "fp32", ("EXPLICIT_BATCH",), ("FP16",), False, False),
        (TRT_8_5, "int8", "builder", "fp32", ("EXPLICIT_BATCH",), ("INT8", "FP16"), False, True),
        (TRT_10, "fp16", "builder", "fp32", (), ("FP16",), False, False),
        (TRT_10, "int8", "builder", "fp32", (), ("INT8", "FP16"), False, True),
    ],
)
def test_plan_per_version_and_precision(version, precision, mode, variant, network, flags, pin, calibrator):
    plan = plan_build(BuildOptions(precision=precision, precision_mode=mode), version, SIZE)
    assert plan.onnx_variant == variant
    assert plan.network_flags == network
    assert plan.builder_flags == flags
    assert plan.pin_fp32_layers is pin
    assert plan.calibrator is calibrator
    assert plan.needs_images is (precision == "int8")
    assert plan.cleared_flags == ("TF32",)  # fp32 layers stay real fp32 (PatchCore distances)
    assert plan.rules.io_api == ("binding" if version.startswith("8.") else "tensor")


def test_tensorrt_11_has_no_builder_precision_and_says_what_to_use():
    for precision in ("fp16", "int8"):
        with pytest.raises(TrtBuildError, match="no FP16/INT8 builder flags.*--precision-mode graph"):
            plan_build(BuildOptions(precision=precision, precision_mode="builder"), TRT_11, SIZE)


def test_plan_messages_explain_each_version_branch():
    ten = plan_build(BuildOptions(precision="fp16"), TRT_10, SIZE).messages
    assert any("EXPLICIT_BATCH is deprecated" in m for m in ten)
    assert any("STRONGLY_TYPED" in m and "fp16 graph" in m for m in ten)
    eleven = plan_build(BuildOptions(precision="int8"), TRT_11, SIZE).messages
    assert any("strongly typed" in m and "int8 graph" in m for m in eleven)
    eight = plan_build(BuildOptions(precision="fp16"), TRT_8_5, SIZE).messages
    assert any("pinned to fp32" in m for m in eight)
    builder = plan_build(BuildOptions(precision="int8", precision_mode="builder"), TRT_10, SIZE).messages
    assert any("entropy calibrator" in m for m in builder)


def test_fp32_ignores_the_precision_mode():
    plan = plan_build(BuildOptions(precision="fp32", precision_mode="builder"), TRT_11, SIZE)
    assert plan.precision_mode == "graph" and plan.builder_flags == ()


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("precision", "bf16", "--precision 'bf16'"),
        ("precision_mode", "magic", "--precision-mode 'magic'"),
        ("workspace_gb", 0.0, "--workspace-gb must be > 0"),
        ("dla_core", -1, "--dla-core must be >= 0"),
    ],
)
def test_bad_options_are_errors_naming_the_flag(field, value, match):
    options = BuildOptions(**{"precision": "fp16", field: value})
    with pytest.raises(TrtBuildError, match=match):
        plan_build(options, TRT_10, SIZE)


# ---------------------------------------------------------------- profile, workspace, cache, DLA


@pytest.mark.parametrize(
    ("flags", "batch"),
    [
        ({}, DEFAULT_BATCH),
        ({"min_batch": 2, "opt_batch": 4, "max_batch": 16}, (2, 4, 16)),
        ({"max_batch": 4}, (1, 1, 4)),
        ({"opt_batch": 16}, (1, 16, 16)),
        ({"min_batch": 4}, (4, 4, 8)),
        ({"max_batch": 1}, (1, 1, 1)),
    ],
)
def test_profile_shapes_from_the_batch_flags(flags, batch):
    plan = plan_build(BuildOptions(**flags), TRT_10, SIZE)
    assert plan.batch == batch
    assert plan.shapes == tuple((n, HEIGHT, WIDTH, 3) for n in batch)


@pytest.mark.parametrize(
    "flags", [{"min_batch": 8, "max_batch": 4}, {"opt_batch": 9, "max_batch": 8}, {"min_batch": 0}]
)
def test_inconsistent_batch_flags_are_an_error_with_the_values(flags):
    with pytest.raises(TrtBuildError, match="1 <= min <= opt <= max"):
        plan_build(BuildOptions(**flags), TRT_8_6, SIZE)


def test_workspace_and_timing_cache_are_carried(tmp_path):
    cache = tmp_path / "trt.cache"
    plan = plan_build(BuildOptions(workspace_gb=1.5, timing_cache=cache), TRT_8_5, SIZE)
    assert plan.workspace_bytes == 3 * (1 << 29)
    assert plan.timing_cache == cache
    assert plan_build(BuildOptions(), TRT_8_5, SIZE).workspace_bytes is None


def test_dla_plan_needs_reduced_precision_and_a_static_batch():
    plan = plan_build(BuildOptions(precision="fp16", dla_core=1), TRT_8_6, SIZE)
    assert plan.dla_core == 1 and "GPU_FALLBACK" in plan.builder_flags
    assert plan.batch == (1, 1, 1)
    builder_int8 = BuildOptions(precision="int8", precision_mode="builder", dla_core=0, max_batch=4)
    assert plan_build(builder_int8, TRT_8_5, SIZE).batch == (4, 4, 4)
    with pytest.raises(TrtBuildError, match="DLA runs fp16 and int8 only"):
        plan_build(BuildOptions(precision="fp32", dla_core=0), TRT_10, SIZE)
    with pytest.raises(TrtBuildError, match="static batch"):
        plan_build(BuildOptions(precision="fp16", dla_core=0, min_batch=1, max_batch=8), TRT_10, SIZE)


@pytest.mark.parametrize("version", [TRT_8_5, TRT_8_6, TRT_10])
def test_dla_refuses_the_qdq_graph_before_11_and_says_to_use_the_calibrator(version):
    """TensorRT 8.x DLA does not run explicit quantization (NVIDIA's DLA guide); 10.x DLA with Q/DQ is unverified."""
    with pytest.raises(TrtBuildError, match="does not run explicitly quantized.*--precision-mode builder"):
        plan_build(BuildOptions(precision="int8", dla_core=0), version, SIZE)
    plan = plan_build(BuildOptions(precision="int8", precision_mode="builder", dla_core=0), version, SIZE)
    assert plan.calibrator and plan.onnx_variant == "fp32" and "STRONGLY_TYPED" not in plan.network_flags
    assert plan.builder_flags == ("INT8", "FP16", "GPU_FALLBACK")


def test_dla_on_10_builds_the_fp16_graph_weakly_typed():
    """STRONGLY_TYPED + DLA is not a combination NVIDIA documents for 10.x: the 8.x way is used instead."""
    plan = plan_build(BuildOptions(precision="fp16", dla_core=0), TRT_10, SIZE)
    assert plan.onnx_variant == "fp16" and plan.network_flags == ()
    assert plan.builder_flags == ("FP16", "OBEY_PRECISION_CONSTRAINTS", "GPU_FALLBACK") and plan.pin_fp32_layers
    assert any("weakly typed" in m for m in plan.messages)
    late = plan_build(BuildOptions(precision="fp16", dla_core=0), "10.8.0.43", SIZE).messages
    assert any("10.7 as the last release with DLA" in m for m in late)
    assert not any("10.7" in m for m in plan.messages)  # 10.3 (JetPack 6.1/6.2) has DLA


@pytest.mark.parametrize("version", ["11.0.0.14", "11.3.0.1", "11.4.0.5"])
def test_dla_on_11_before_11_4_1_is_refused(version):
    with pytest.raises(TrtBuildError, match="has no DLA support.*drop --dla-core"):
        plan_build(BuildOptions(precision="fp16", dla_core=0), version, SIZE)


def test_dla_on_11_4_1_is_strongly_typed_from_the_graph():
    plan = plan_build(BuildOptions(precision="int8", dla_core=0), "11.4.1.2", SIZE)
    assert plan.onnx_variant == "int8" and plan.builder_flags == ("GPU_FALLBACK",) and not plan.calibrator
    assert any("strongly typed" in m and "not run by edgead on a DLA" in m for m in plan.messages)


def test_dla_decision_falls_back_to_the_gpu_when_the_device_has_none():
    assert dla_decision(None, 2) == (None, None)
    assert dla_decision(1, 2) == (1, None)
    core, note = dla_decision(0, 0)
    assert core is None and "no DLA core" in note and "GPU" in note
    with pytest.raises(TrtBuildError, match="--dla-core 2 does not exist; this device has 2"):
        dla_decision(2, 2)


# ---------------------------------------------------------------- pieces of the build step


def test_fp32_pins_keep_the_fp16_graphs_fp32_layers():
    nodes = {"conv_fp16", "knn_gemm", "knn_min", "bank", "cast_up", "x__fp16__cast"}
    float_nodes = {"knn_gemm", "knn_min", "cast_up"}  # from the ONNX value types (fp32_nodes)
    layers = ["conv_fp16", "knn_gemm", "knn_gemm_7", "knn_min", "bank", "(Unnamed Layer* 3) [Shuffle]", "cast_up",
              "x__fp16__cast", "conv_fp16_12"]  # fmt: skip
    assert fp32_pins(layers, nodes, float_nodes) == ["knn_gemm", "knn_gemm_7", "knn_min", "cast_up"]


def test_fp32_nodes_are_read_from_the_graphs_value_types(tmp_path):
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Cast", ["image"], ["h"], name="to_half", to=TensorProto.FLOAT16),
        helper.make_node("Mul", ["h", "h"], ["h2"], name="half_mul"),
        helper.make_node("Cast", ["h2"], ["f"], name="to_float", to=TensorProto.FLOAT),
        helper.make_node("Shape", ["f"], ["s"], name="shape_of"),
        helper.make_node("ReduceMean", ["f"], ["score"], name="mean", axes=[1, 2, 3], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["n", 4, 4, 3])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["n"]),
         helper.make_tensor_value_info("s", TensorProto.INT64, [4])],
    )  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    assert fp32_nodes(tmp_path / "m.onnx") == {"to_float", "mean"}


def test_parser_errors_name_the_node(tmp_path):
    errors = [
        ParserError("Unsupported operator Foo", node_index=1, node_name="/model/foo", operator="Foo"),
        ParserError("axes must be an initializer", node_index=2),  # TensorRT 8.x gives only the index
        ParserError("invalid graph"),
    ]
    text = format_parser_errors(tmp_path / "m.onnx", errors, ["a", "b", "/reduce/ReduceMean"])
    assert "3 error(s)" in text
    assert "node '/model/foo' (Foo): Unsupported operator Foo" in text
    assert "node '/reduce/ReduceMean': axes must be an initializer" in text
    assert "graph: invalid graph" in text
    assert f"edgead doctor {tmp_path / 'm.onnx'} --target trt" in text


def test_graph_precision_comes_from_the_metadata_not_the_tensor_types(tmp_path):
    """An fp16 bank initializer (PatchCore --bank-dtype fp16) does not make an fp32 graph an fp16 one."""
    path = tmp_path / "m.onnx"
    assert graph_precision({"precision": "fp32"}, {"Cast", "MatMul"}, path) == "fp32"
    assert graph_precision({}, {"Conv"}, path) == "fp32"  # written before precision variants existed
    assert graph_precision({"precision": "fp16"}, {"Cast", "Conv"}, path) == "fp16"
    assert graph_precision({"precision": "int8"}, {"QuantizeLinear", "DequantizeLinear", "Conv"}, path) == "int8"
    with pytest.raises(TrtBuildError, match="has Q/DQ nodes but its edgead metadata says precision 'fp32'"):
        graph_precision({"precision": "fp32"}, {"QuantizeLinear", "DequantizeLinear"}, path)
    with pytest.raises(TrtBuildError, match="has no Q/DQ nodes but its edgead metadata says precision 'int8'"):
        graph_precision({"precision": "int8"}, {"Conv"}, path)
    with pytest.raises(TrtBuildError, match="precision 'bf16' is not one of"):
        graph_precision({"precision": "bf16"}, {"Conv"}, path)


@pytest.mark.parametrize(
    ("source", "precision", "mode", "variant", "images"),
    [
        ("fp32", "int8", "graph", "int8", True),  # the Q/DQ variant is made: its scales need images
        ("int8", "int8", "graph", "int8", False),  # model.int8.onnx from the workstation: scales are in it
        ("fp16", "fp16", "graph", "fp16", False),
        ("fp32", "int8", "builder", "fp32", True),  # the entropy calibrator needs images
        ("fp32", "fp16", "graph", "fp16", False),
    ],
)
def test_images_are_needed_only_to_make_a_qdq_variant_or_to_calibrate(source, precision, mode, variant, images):
    for version in (TRT_8_5, TRT_10):
        plan = plan_build(BuildOptions(precision=precision, precision_mode=mode), version, SIZE, source)
        assert plan.onnx_variant == variant and plan.needs_images is images
        assert plan.makes_variant is (variant != source)


@pytest.mark.parametrize(
    ("source", "precision", "mode"),
    [("int8", "fp16", "graph"), ("int8", "int8", "builder"), ("fp16", "fp32", "graph"), ("fp16", "int8", "graph")],
)
def test_a_reduced_precision_graph_builds_only_as_itself(source, precision, mode):
    with pytest.raises(TrtBuildError, match=f"'m.int8.onnx' is already a {source} graph.*--precision {source}"):
        plan_build(BuildOptions(precision=precision, precision_mode=mode), TRT_10, SIZE, source, "'m.int8.onnx'")


def test_calibration_data_that_nothing_uses_is_an_error(tmp_path):
    unused = BuildOptions(precision="int8", calibration_data=tmp_path)
    with pytest.raises(TrtBuildError, match="--calibration-data is not used.*is int8"):
        plan_build(unused, TRT_10, SIZE, "int8")
    with pytest.raises(TrtBuildError, match="--calibration-data is not used"):
        plan_build(BuildOptions(precision="fp16", calibration_data=tmp_path), TRT_10, SIZE)
    assert plan_build(unused, TRT_10, SIZE, "fp32").needs_images


def test_read_onnx_returns_the_metadata_json_unchanged(onnx_path, tmp_path):
    meta, kind, names = read_onnx(onnx_path)
    embedded = {p.key: p.value for p in onnx.load(onnx_path).metadata_props}["edgead"]
    assert meta == json.loads(embedded)
    assert kind == "fp32"
    assert names == [node.name for node in onnx.load(onnx_path).graph.node]
    bare = tmp_path / "bare.onnx"
    onnx.save(full_model(None), bare)
    with pytest.raises(ModelFileError, match="no edgead metadata"):
        read_onnx(bare)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf at all")
    with pytest.raises(TrtBuildError, match="cannot read"):
        read_onnx(broken)


# ---------------------------------------------------------------- CLI and the format table


def test_build_args_parse_back_into_the_same_options(tmp_path):
    from edgead.cli import build_parser

    options = BuildOptions(
        precision="int8",
        precision_mode="builder",
        min_batch=2,
        opt_batch=4,
        max_batch=8,
        workspace_gb=2.0,
        timing_cache=tmp_path / "cache.bin",
        dla_core=None,
        calibration_data=tmp_path / "good",
        calibration_images=32,
    )
    args = build_parser(model_options=False).parse_args(["export", "m.onnx", "--format", "trt", *options.build_args()])
    parsed = BuildOptions(
        args.precision,
        args.precision_mode,
        args.min_batch,
        args.opt_batch,
        args.max_batch,
        args.workspace_gb,
        args.timing_cache,
        args.dla_core,
        args.calibration_data,
        args.calibration_images,
    )
    assert parsed == options


def test_trt_flags_on_another_format_are_an_error():
    with pytest.raises(EdgeadError, match="--dla-core, --max-batch do\\(es\\) not apply to --format onnx"):
        export(Path("no-such-run"), "onnx", "fp32", None, max_batch=4, dla_core=0)


def test_trt_precisions_come_from_the_format_table():
    with pytest.raises(EdgeadError, match="format 'trt' supports precision fp32, fp16, int8, not 'bf16'"):
        export(Path("model.onnx"), "trt", "bf16", None)


NO_TORCH = """
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
from edgead.cli import main
code = main(["export", sys.argv[1], "--format", "trt", "--precision", "fp16", "--max-batch", "4"])
assert "torch" not in [m for m, v in sys.modules.items() if v is not None], "torch was imported"
print("exit", code)
"""


@pytest.mark.skipif(
    subprocess.run([sys.executable, "-c", "import tensorrt"], capture_output=True).returncode == 0,
    reason="tensorrt is installed here: the missing-TensorRT message cannot show",
)
def test_export_trt_from_onnx_needs_no_torch_and_names_the_missing_tensorrt(onnx_path):
    done = subprocess.run([sys.executable, "-c", NO_TORCH, str(onnx_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "exit 1" in done.stdout
    assert "TensorRT is not installed" in done.stderr
    assert "torch" not in done.stderr.replace("edgead", "")
    assert "Traceback" not in done.stderr


def test_export_help_tells_jetson_users_to_build_on_the_device():
    done = subprocess.run(
        [sys.executable, "-m", "edgead.cli", "export", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    for text in ("--format trt --precision fp16", "Jetson", "not torch", "--dla-core", "--timing-cache"):
        assert text in done.stdout
