"""fp16 and int8 ONNX variants: what stays fp32, that they run, and that they agree with fp32 on real frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgead.export.calibration import calibration_set
from edgead.export.parity import VARIANT_ATOL, onnxruntime_outputs
from edgead.export.precision import backbone_nodes, quantize_int8, reference_path, to_fp16
from edgead.train.data import load_frames
from edgead.train.metrics import evaluate
from edgead.train.run_dir import load_parity_frames
from edgead_runtime.errors import EdgeadError
from edgead_runtime.metadata import METADATA_KEY, ModelMetadata
from edgead_runtime.preprocess import list_images

# fp16 on real frames measures ~1e-3 on the normalized score and map; int8 ~0.05-0.1 (docs/precision.md).
FP16_ATOL = 1e-2
SIZE = (128, 128)  # tests/conftest.py's SMALL_IMAGE_SIZE


def run(path: Path, frames: np.ndarray) -> dict[str, np.ndarray]:
    # int8 graphs as simulated quantization: ONNX Runtime's fused int8 kernels saturate on AVX2-only CPUs
    # (export/parity.py, onnxruntime_outputs)
    return onnxruntime_outputs(path, frames, simulate_quantization=".int8" in path.name)


def metadata(model: onnx.ModelProto) -> ModelMetadata:
    return ModelMetadata.from_json(next(p.value for p in model.metadata_props if p.key == METADATA_KEY))


def producers(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    return {out: node for node in model.graph.node for out in node.output}


def float_inits(model: onnx.ModelProto) -> dict[str, int]:
    return {t.name: t.data_type for t in model.graph.initializer}


@pytest.fixture(scope="module", params=["patchcore", "dfm"])
def fp16(request, trained, tmp_path_factory) -> tuple[object, Path]:
    t = trained(request.param)
    out = tmp_path_factory.mktemp(f"fp16-{request.param}") / "model.fp16.onnx"
    return t, to_fp16(t.onnx, out)


def test_fp16_graph_keeps_io_types_and_fp32_outside_the_backbone(fp16):
    t, path = fp16
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.UINT8
    assert [o.type.tensor_type.elem_type for o in model.graph.output] == [TensorProto.FLOAT] * 4
    assert metadata(model).precision == "fp16" and metadata(onnx.load(str(t.onnx))).precision == "fp32"
    region = backbone_nodes(model)
    inits = float_inits(model)
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert convs and all(n.name in region and inits[n.input[1]] == TensorProto.FLOAT16 for n in convs)
    # every weight the model head uses (memory bank, its norms, PCA, normalization) stays fp32
    outside = {name for n in model.graph.node if n.name not in region for name in n.input if name in inits}
    head = {name: inits[name] for name in outside if inits[name] in (TensorProto.FLOAT, TensorProto.FLOAT16)}
    assert head and set(head.values()) == {TensorProto.FLOAT}, head
    expected = {"patchcore": {"model.bank"}, "dfm": {"model.components", "model.mean"}}  # bank norms: folded in a row
    assert expected[t.model] <= set(head)
    # and every MatMul (kNN GEMM, PCA, upsampling) computes in fp32
    types = {v.name: v.type.tensor_type.elem_type for v in onnx.shape_inference.infer_shapes(model).graph.value_info}
    types.update(inits)
    matmuls = [n for n in model.graph.node if n.op_type == "MatMul"]
    assert matmuls and all(types[i] == TensorProto.FLOAT for n in matmuls for i in n.input), t.model


def test_fp16_graph_runs_and_agrees_with_fp32_on_real_frames(fp16):
    t, path = fp16
    frames = load_parity_frames(t.run)  # good and broken bottles
    ref, got = run(t.onnx, frames), run(path, frames)
    for name in ("score", "anomaly_map"):
        assert np.abs(got[name] - ref[name]).max() < FP16_ATOL, name
    np.testing.assert_array_equal(got["score"] > 0.5, ref["score"] > 0.5)
    assert FP16_ATOL < VARIANT_ATOL["fp16"]  # export's gross-mismatch bound is looser than what fp16 does


@pytest.fixture(scope="module", params=["patchcore", "dfm"])
def int8(request, trained, tmp_path_factory) -> tuple[object, Path]:
    t = trained(request.param)
    out = tmp_path_factory.mktemp(f"int8-{request.param}") / "model.int8.onnx"
    return t, quantize_int8(t.onnx, out, calibration_set(t.run, SIZE, 16)[0])


def test_int8_graph_quantizes_backbone_convs_and_not_the_head(int8):
    t, path = int8
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert metadata(model).precision == "int8"
    made_by = producers(model)
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert convs and all(made_by[n.input[0]].op_type == "DequantizeLinear" for n in convs)  # activations
    assert all(made_by[n.input[1]].op_type == "DequantizeLinear" for n in convs)  # weights
    scales = [i for i in model.graph.initializer if i.name.endswith("_scale") and len(i.dims) == 1]
    assert scales, "per-channel weight scales expected"
    for node in model.graph.node:
        if node.op_type in ("MatMul", "ReduceMin", "Softmax", "Sqrt"):
            assert all(made_by.get(i) is None or made_by[i].op_type != "DequantizeLinear" for i in node.input), node


def test_int8_graph_still_ranks_broken_bottles_above_good_ones(int8):
    t, path = int8
    good, _ = load_frames(list_images(t.data / "test" / "good"), SIZE, desc="good")
    broken, _ = load_frames(list_images(t.data / "test" / "broken_large"), SIZE, desc="broken")
    frames = np.concatenate([good, broken])
    labels = np.r_[np.zeros(len(good)), np.ones(len(broken))]
    ref, got = run(t.onnx, frames), run(path, frames)
    auroc_fp32 = evaluate(labels, ref["raw_score"])["image_auroc"]
    auroc_int8 = evaluate(labels, got["raw_score"])["image_auroc"]
    assert auroc_int8 >= auroc_fp32 - 0.05 and auroc_int8 > 0.9, (auroc_fp32, auroc_int8)
    assert got["score"][labels == 1].mean() > got["score"][labels == 0].mean()
    assert np.abs(got["score"] - ref["score"]).max() < VARIANT_ATOL["int8"]


@pytest.mark.parametrize("saturates", [True, False])
def test_the_runtime_warns_of_int8_on_a_cpu_without_vnni(int8, monkeypatch, saturates):
    """ONNX Runtime's fused int8 kernels saturate on x86 CPUs without VNNI: opening an int8 graph there warns,
    with VNNI it does not, and an fp32 graph never does."""
    import warnings

    from edgead_runtime.backends import onnxruntime as ort_backend
    from edgead_runtime.errors import EdgeadWarning

    t, path = int8
    monkeypatch.setattr(ort_backend, "int8_saturates_here", lambda: saturates)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ort_backend.OnnxRuntimeBackend.open(path)
        ort_backend.OnnxRuntimeBackend.open(t.onnx)
    said = [str(w.message) for w in caught if issubclass(w.category, EdgeadWarning)]
    assert len(said) == saturates and all("no VNNI" in m and str(path) in m for m in said), said


def test_export_cli_rejects_calibration_images_without_int8(trained, tmp_path, capsys):
    from edgead.cli import main

    t = trained("patchcore")
    assert main(["export", str(t.run), "--format", "onnx", "--precision", "fp16", "--calibration-images", "8",
                 "-o", str(tmp_path / "x.onnx")]) != 0  # fmt: skip
    assert "--calibration-images applies to --precision int8, not 'fp16'" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.slow
def test_export_cli_writes_fp32_and_int8_and_reports_parity(trained, tmp_path, capsys):
    from edgead.cli import main

    t = trained("dfm")
    out = tmp_path / "dfm.int8.onnx"
    assert main(["export", str(t.run), "--format", "onnx", "--precision", "int8", "--calibration-images", "8",
                 "-o", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "int8 calibrated on 8 good training images" in printed
    assert "int8 graph vs fp32 on 8 real frames" in printed and "labels agree on" in printed
    assert metadata(onnx.load(str(out))).precision == "int8"
    assert metadata(onnx.load(str(tmp_path / "dfm.fp32.onnx"))).precision == "fp32"


def test_reference_path_sits_beside_the_variant():
    assert reference_path(Path("a/bottle.fp16.onnx")) == Path("a/bottle.fp32.onnx")
    assert reference_path(Path("a/bottle.onnx")) == Path("a/bottle.fp32.onnx")
    assert reference_path(Path("a/bottle.int8.onnx")) == Path("a/bottle.fp32.onnx")


def test_a_graph_without_module_scopes_is_an_error_naming_the_fix(tmp_path):
    node = helper.make_node("Relu", ["x"], ["y"], name="relu")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    onnx.save(helper.make_model(graph), str(tmp_path / "plain.onnx"))
    with pytest.raises(EdgeadError, match="edgead export RUN --format onnx"):
        to_fp16(tmp_path / "plain.onnx", tmp_path / "out.onnx")
    with pytest.raises(EdgeadError, match=r"\[N, H, W, 3\]"):
        quantize_int8(tmp_path / "plain.onnx", tmp_path / "out.onnx", np.zeros((4, 4), np.uint8))


def test_metadata_without_precision_loads_as_fp32():
    data = json.loads(ModelMetadata("patchcore", "b", 8, 8, precision="int8").to_json())
    assert data["precision"] == "int8"
    del data["precision"]
    assert ModelMetadata.from_json(json.dumps(data)).precision == "fp32"


def test_int8_onnx_and_int8_engine_of_one_run_calibrate_on_the_same_images(trained):
    from edgead.export.tensorrt_build import _calibration
    from edgead.export.tensorrt_plan import BuildOptions

    t = trained("patchcore")
    frames, what = calibration_set(t.run, SIZE, 16)
    assert what == "16 good training images" and frames.shape == (16, *SIZE, 3)
    options, engine_frames = _calibration(BuildOptions(precision="int8", calibration_images=16), t.run, SIZE)
    np.testing.assert_array_equal(engine_frames, frames)
    assert options.calibration_data == t.run  # recorded, so the rebuild command calibrates on them again
    np.testing.assert_array_equal(_calibration(options, t.onnx, SIZE)[1], frames)
