"""The OpenVINO backend on real OpenVINO: IR and ONNX files, precision hints, metadata, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgead_runtime.backends import open_backend
from edgead_runtime.detector import Detector
from edgead_runtime.errors import BackendError, FrameMismatchError, ModelFileError
from edgead_runtime.metadata import METADATA_KEY, OUTPUT_NAMES
from edgead_runtime.preprocess import load_frame

from .graphs import HEIGHT, WIDTH, graph_model, metadata, reference

ov = pytest.importorskip("openvino", reason="no openvino here: pip install 'edgead-runtime[openvino]'")


def save_ir(onnx_path: Path, xml: Path, metadata_json: str | None) -> Path:
    """An IR as `edgead export --format openvino` writes it: fp32 weights, metadata in rt_info."""
    model = ov.convert_model(str(onnx_path))
    if metadata_json is not None:
        model.set_rt_info(metadata_json, [METADATA_KEY])
    ov.save_model(model, str(xml), compress_to_fp16=False)
    return xml


@pytest.fixture(scope="module")
def ir_path(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    with open_backend(model_path) as backend:
        text = backend.metadata.to_json()
    return save_ir(model_path, tmp_path_factory.mktemp("ir") / "fixture.xml", text)


def _frames(images: list[Path]) -> np.ndarray:
    return np.stack([load_frame(p, (HEIGHT, WIDTH)) for p in images])


def test_ir_opens_by_suffix_and_matches_onnxruntime(ir_path: Path, model_path: Path, bottle_images: list[Path]) -> None:
    batch = _frames(bottle_images)
    with open_backend(ir_path) as ir, open_backend(model_path) as onnx:
        assert ir.name == "openvino" and onnx.name == "onnxruntime"
        assert ir.input_name == "image" and ir.output_names == list(OUTPUT_NAMES)
        assert ir.input_shape[1:] == (HEIGHT, WIDTH, 3) and not isinstance(ir.input_shape[0], int)  # dynamic batch
        got, expected = ir.run(batch), onnx.run(batch)
    truth = reference(batch)
    for name in OUTPUT_NAMES:
        assert got[name].shape == expected[name].shape
        np.testing.assert_allclose(got[name], expected[name], atol=1e-6, err_msg=name)
        np.testing.assert_allclose(got[name], truth[name], atol=1e-5, err_msg=name)


def test_onnx_file_on_the_openvino_backend(model_path: Path, bottle_images: list[Path]) -> None:
    with Detector(model_path, "openvino") as on_ov, Detector(model_path) as on_ort:
        assert on_ov.backend.name == "openvino" and on_ort.backend.name == "onnxruntime"
        assert on_ov.metadata == on_ort.metadata  # read from metadata_props through OpenVINO's ONNX reader
        for path in bottle_images[:3]:
            a, b = on_ov.predict_path(path), on_ort.predict_path(path)
            assert a.score == pytest.approx(b.score, abs=1e-6) and a.is_anomalous == b.is_anomalous
            assert a.anomaly_map.shape == b.anomaly_map.shape  # resized back to the frame


def test_metadata_round_trip_through_ir_rt_info(ir_path: Path, model_path: Path) -> None:
    with open_backend(ir_path) as ir, open_backend(model_path) as onnx:
        assert ir.metadata == onnx.metadata
        assert ir.metadata.to_dict() == onnx.metadata.to_dict()
    # and it is really the IR file that carries it: the .xml holds the JSON under rt_info/edgead
    assert f"<{METADATA_KEY} value=" in ir_path.read_text()


CAPABILITY = {"f32": "FP32", "bf16": "BF16", "f16": "FP16"}


@pytest.mark.parametrize(("asked", "expected"), [(None, "f32"), ("f32", "f32"), ("bf16", "bf16"), ("fp16", "f16")])
def test_precision_hint_is_set_and_read_back(ir_path: Path, asked: str | None, expected: str) -> None:
    """A precision the CPU has is compiled and read back; one it lacks (OpenVINO would quietly compute f16 as
    bf16 or f32) is refused with the choices this CPU has."""
    options = {} if asked is None else {"precision": asked}
    if CAPABILITY[expected] not in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        with pytest.raises(BackendError, match=rf"computes '{asked}' as \w+ .*; choose one of f32"):
            open_backend(ir_path, **options)
        return
    with open_backend(ir_path, **options) as backend:
        compiled = backend.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        assert compiled == expected == backend.precision == backend.describe()["precision"]


def matmul_ir(folder: Path) -> Path:
    """A graph whose work is a MatMul (channel mean as x @ [1/3, 1/3, 1/3]): OpenVINO computes MatMul and
    convolutions in the inference precision, elementwise ops and reductions stay f32."""
    nodes = [
        helper.make_node("Cast", ["image"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["x", "k255"], ["x01"]),
        helper.make_node("MatMul", ["x01", "w"], ["features"]),
    ]
    initializers = [
        helper.make_tensor("k255", TensorProto.FLOAT, [], [255.0]),
        helper.make_tensor("w", TensorProto.FLOAT, [3, 1], [1 / 3] * 3),
    ]
    outputs = [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", HEIGHT, WIDTH, 1])]
    onnx_path = folder / "matmul.onnx"
    onnx.save(graph_model(nodes, outputs, initializers, None), onnx_path)
    return save_ir(onnx_path, folder / "matmul.xml", metadata("backbone").to_json())


def test_default_f32_differs_from_openvinos_own_default_on_bf16_cpus(tmp_path: Path, bottle_images: list[Path]) -> None:
    core = ov.Core()
    if "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        pytest.skip("this CPU has no bf16 support, so OpenVINO's default is f32 here anyway")
    xml = matmul_ir(tmp_path)
    assert core.compile_model(str(xml), "CPU").get_property("INFERENCE_PRECISION_HINT").get_type_name() == "bf16"
    batch = _frames(bottle_images)
    truth = reference(batch)["raw_anomaly_map"]
    with open_backend(xml) as f32, open_backend(xml, precision="bf16") as bf16:
        exact, rounded = f32.run(batch)["features"][..., 0], bf16.run(batch)["features"][..., 0]
    np.testing.assert_allclose(exact, truth, atol=1e-6)
    assert np.abs(rounded - truth).max() > 1e-4  # bf16 has an 8-bit mantissa: about 2 decimal digits
    np.testing.assert_allclose(rounded, truth, atol=2e-2)


def test_threads_option(ir_path: Path) -> None:
    with open_backend(ir_path, intra_op_threads=1) as backend:
        assert backend.describe()["threads"] == 1


def test_bad_precision_and_unknown_option(ir_path: Path) -> None:
    with pytest.raises(BackendError, match=r"precision 'int8' is not one of: fp32 \(f32\), bf16, fp16 \(f16\)"):
        open_backend(ir_path, precision="int8")
    with pytest.raises(
        BackendError, match=r"'openvino' has no option providers; it takes: --precision \(precision\), --threads"
    ):
        open_backend(ir_path, providers=["CPUExecutionProvider"])


def test_ir_without_metadata_names_the_fix(model_path: Path, tmp_path: Path) -> None:
    bare = save_ir(model_path, tmp_path / "bare.xml", None)
    with pytest.raises(ModelFileError, match=r"bare.xml.*no edgead metadata \(rt_info key 'edgead'\).*format openvino"):
        open_backend(bare)


def test_missing_bin_and_missing_file(ir_path: Path, tmp_path: Path) -> None:
    lonely = tmp_path / "lonely.xml"
    lonely.write_text(ir_path.read_text())
    with pytest.raises(ModelFileError, match=r"cannot load .*lonely.xml.*'lonely.bin' beside it"):
        open_backend(lonely)
    with pytest.raises(ModelFileError, match="nope.xml.*does not exist"):
        open_backend(tmp_path / "nope.xml")


def test_frame_checks_apply(ir_path: Path) -> None:
    with open_backend(ir_path) as backend, pytest.raises(FrameMismatchError, match="expects uint8.*got float32"):
        backend.run(np.zeros((1, HEIGHT, WIDTH, 3), np.float32))


BLOCKED = """
import sys
sys.modules["openvino"] = None  # what an environment without the extra looks like to `import openvino`
from edgead_runtime.backends import open_backend
from edgead_runtime.cli import main
from edgead_runtime.errors import MissingDependencyError
try:
    open_backend(sys.argv[1])
except MissingDependencyError as exc:
    print("error:", exc)
sys.exit(main(["info", sys.argv[1]]))
"""


def test_missing_openvino_names_the_extra(ir_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", BLOCKED, str(ir_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "error: the openvino backend needs the OpenVINO runtime" in done.stdout
    assert "pip install 'edgead-runtime[openvino]'" in done.stdout
    err = done.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("edgead-runtime: error:") and "edgead-runtime[openvino]" in err[0]
