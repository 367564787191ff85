"""The C++ runtime (cpp_bindings/, `pip install ./cpp_bindings`) against the Python runtime.

Frame conversion bit-exact on real images, the errors, the `cpp` backend row, and the whole result's parity on
all 83 bottle test images for PatchCore and DFM (C++ on OpenVINO f32 vs Python on ONNX Runtime). Without the
bindings these tests skip, except where EDGEAD_REQUIRE_CPP=1 (CI builds them, so there a skip would hide a break).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edgead_runtime.backends import open_backend
from edgead_runtime.datasets import find_test_split
from edgead_runtime.detector import Detector
from edgead_runtime.errors import BackendError, EdgeadError, FrameMismatchError, ModelFileError
from edgead_runtime.metrics import auroc
from edgead_runtime.opencv import cv2
from edgead_runtime.preprocess import prepare_frame, read_image

from .graphs import HEIGHT, WIDTH, reference

if os.environ.get("EDGEAD_REQUIRE_CPP") == "1":
    import edgead_cpp
else:
    edgead_cpp = pytest.importorskip("edgead_cpp", reason="C++ bindings not installed: pip install ./cpp_bindings")


def _variants(image: np.ndarray) -> dict[str, np.ndarray]:
    """The layouts a camera or file gives, made from one real image."""
    rng = np.random.default_rng(0)
    deep = image.astype(np.uint16) * 257 + rng.integers(0, 257, image.shape, dtype=np.uint16)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return {
        "bgr": image,
        "grey": grey,
        "grey_hw1": grey[:, :, None],
        "bgra": cv2.cvtColor(image, cv2.COLOR_BGR2BGRA),
        "bgr16": deep,
        "grey16": deep[:, :, 0],
        "bgra16": np.dstack([deep, deep[:, :, :1]]),
        "crop_view": image[13:301, 7:500],  # not contiguous
    }


@pytest.mark.parametrize("size", [(HEIGHT, WIDTH), (256, 256), (700, 600), (200, 900)])
def test_prepare_frame_bit_exact_on_real_images(bottle_images: list[Path], size: tuple[int, int]) -> None:
    """Shrink (INTER_AREA), grow (INTER_LINEAR), mixed; every depth and channel layout: identical bytes."""
    for path in bottle_images:
        for name, frame in _variants(read_image(path)).items():
            want = prepare_frame(frame, size)
            got = edgead_cpp.prepare_frame(frame, size)
            assert got.shape == want.shape and got.dtype == np.uint8, (path.name, name)
            diff = int(np.abs(got.astype(int) - want.astype(int)).max())
            assert diff == 0, f"{path.name} {name} -> {size}: max |diff| {diff}"


def test_read_image_and_refused_frames(bottle_images: list[Path], tmp_path: Path) -> None:
    assert np.array_equal(edgead_cpp.read_image(str(bottle_images[0])), read_image(bottle_images[0]))
    deep = tmp_path / "deep.png"
    cv2.imwrite(str(deep), np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000)
    assert np.array_equal(edgead_cpp.read_image(str(deep)), read_image(deep))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(edgead_cpp.ImageReadError, match="not a decodable image"):
        edgead_cpp.read_image(str(tmp_path / "bad.png"))
    with pytest.raises(edgead_cpp.FrameMismatchError, match="give uint8 or uint16"):
        edgead_cpp.prepare_frame(np.zeros((4, 4), np.float32), (2, 2))
    with pytest.raises(edgead_cpp.FrameMismatchError, match="expected 1, 3 or 4 channels"):
        edgead_cpp.prepare_frame(np.zeros((4, 4, 2), np.uint8), (2, 2))
    with pytest.raises(edgead_cpp.FrameMismatchError, match="frame dtype bool is not supported"):
        edgead_cpp.prepare_frame(np.zeros((4, 4), bool), (2, 2))
    with pytest.raises(edgead_cpp.FrameMismatchError, match=r"4 dimensions; expected \(H, W\)"):
        edgead_cpp.prepare_frame(np.zeros((1, 4, 4, 3), np.uint8), (2, 2))
    with pytest.raises(edgead_cpp.FrameMismatchError, match="frame is empty"):
        edgead_cpp.prepare_frame(np.zeros((0, 0, 3), np.uint8), (2, 2))


def test_backend_matches_the_graph_formula(model_path: Path) -> None:
    backend = edgead_cpp.Backend.open(str(model_path), "openvino")
    assert backend.metadata.height == HEIGHT and backend.metadata.width == WIDTH
    assert dict(backend.describe())["precision"] == "f32"
    batch = np.random.default_rng(1).integers(0, 256, (3, HEIGHT, WIDTH, 3), dtype=np.uint8)
    out = backend.run(batch)
    for name, want in reference(batch).items():
        np.testing.assert_allclose(out[name], want, atol=1e-5, err_msg=name)
    with pytest.raises(edgead_cpp.FrameMismatchError, match=r"got shape \[1, 4, 4, 3\]; use prepare_frame"):
        backend.run(np.zeros((1, 4, 4, 3), np.uint8))


def test_openvino_ir_by_suffix_and_its_errors(model_path: Path, tmp_path: Path) -> None:
    """An IR as `edgead export --format openvino` writes it opens by its suffix; the same errors as Python's."""
    from .test_openvino import save_ir

    with open_backend(model_path) as backend:
        ir = save_ir(model_path, tmp_path / "fixture.xml", backend.metadata.to_json())
    native = edgead_cpp.Backend.open(str(ir))  # auto: .xml -> openvino
    assert native.name == "openvino" and native.metadata.height == HEIGHT
    batch = np.random.default_rng(2).integers(0, 256, (2, HEIGHT, WIDTH, 3), dtype=np.uint8)
    np.testing.assert_allclose(native.run(batch)["anomaly_map"], reference(batch)["anomaly_map"], atol=1e-5)
    bare = save_ir(model_path, tmp_path / "bare.xml", None)
    with pytest.raises(
        edgead_cpp.ModelFileError, match=r"no edgead metadata \(rt_info key 'edgead'\).*format openvino"
    ):
        edgead_cpp.Backend.open(str(bare))
    lonely = tmp_path / "lonely.xml"
    lonely.write_text(ir.read_text())
    with pytest.raises(edgead_cpp.ModelFileError, match=r"cannot load .*lonely.xml.*'lonely.bin' beside it"):
        edgead_cpp.Backend.open(str(lonely))


def test_model_errors(model_path: Path, bare_model_path: Path, backbone_model_path: Path, tmp_path: Path) -> None:
    with pytest.raises(edgead_cpp.ModelFileError, match="has no edgead metadata .* --format onnx"):
        edgead_cpp.Detector(str(bare_model_path), "openvino")
    with pytest.raises(edgead_cpp.ModelFileError, match="'backbone' graph .* export the full model"):
        edgead_cpp.Detector(str(backbone_model_path), "openvino")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(model_path.read_bytes()[:200])
    with pytest.raises(edgead_cpp.ModelFileError, match="openvino cannot load"):
        edgead_cpp.Detector(str(truncated), "openvino")
    with pytest.raises(edgead_cpp.BackendError, match="precision 'f64' is not supported"):
        edgead_cpp.Detector(str(model_path), "openvino", precision="f64")
    if "tensorrt" not in edgead_cpp.available_backends():
        with pytest.raises(edgead_cpp.BackendError, match="-DEDGEAD_WITH_TENSORRT=ON"):
            edgead_cpp.Detector(str(tmp_path / "m.engine"))


def test_detector_threshold_and_map_size(model_path: Path, bottle_images: list[Path]) -> None:
    frame = read_image(bottle_images[0])
    detector = edgead_cpp.Detector(str(model_path), "openvino")
    result = detector.predict(frame)
    assert result.anomaly_map.shape == frame.shape[:2] and result.raw_anomaly_map.shape == (HEIGHT, WIDTH)
    assert result.threshold == detector.metadata.threshold
    strict = edgead_cpp.Detector(str(model_path), "openvino", threshold=result.score + 1e-3)
    assert strict.predict(frame).is_anomalous is False
    assert edgead_cpp.Detector(str(model_path), "openvino", threshold=result.score).predict(frame).is_anomalous


def test_cpp_backend_row(model_path: Path, bottle_images: list[Path], tmp_path: Path) -> None:
    """`--backend cpp`: the runtime's Detector on the C++ backend gives the Python OpenVINO backend's numbers."""
    frames = [read_image(p) for p in bottle_images]
    with Detector(model_path, backend="cpp") as cpp, Detector(model_path, backend="openvino") as py:
        assert cpp.backend.describe()["engine"] == "openvino"
        for a, b in zip(cpp.predict_batch(frames), py.predict_batch(frames), strict=True):
            assert a.score == pytest.approx(b.score, abs=1e-6) and a.is_anomalous == b.is_anomalous
            np.testing.assert_allclose(a.anomaly_map, b.anomaly_map, atol=1e-5)
        with pytest.raises(FrameMismatchError, match="use prepare_frame"):
            cpp.backend.run(np.zeros((1, 4, 4, 3), np.uint8))
    with pytest.raises(ModelFileError, match="does not exist"):
        open_backend(tmp_path / "missing.onnx", "cpp")
    with pytest.raises(BackendError, match="no 'tpu' backend|unknown backend 'tpu'"):
        open_backend(model_path, "cpp", engine="tpu")


@pytest.mark.parametrize("model", ["patchcore", "dfm"])
def test_parity_with_python_runtime_on_bottle(model: str, trained, bottle: Path) -> None:
    """All 83 bottle test images: C++ (OpenVINO f32) vs Python (ONNX Runtime), whole result."""
    onnx_path = trained(model).onnx
    samples = find_test_split(bottle)
    assert len(samples) == 83
    cpp = edgead_cpp.Detector(str(onnx_path), "openvino")
    labels, py_scores, cpp_scores, score_diff, map_diff = [], [], [], 0.0, 0.0
    with Detector(onnx_path, backend="onnxruntime") as py:
        for start in range(0, len(samples), 8):
            chunk = samples[start : start + 8]
            frames = [read_image(s.path) for s in chunk]
            for s, a, b in zip(chunk, py.predict_batch(frames), cpp.predict_batch(frames), strict=True):
                assert a.is_anomalous == b.is_anomalous, s.path
                score_diff = max(score_diff, abs(a.score - b.score))
                map_diff = max(map_diff, float(np.abs(a.anomaly_map - b.anomaly_map).max()))
                labels.append(s.label)
                py_scores.append(a.raw_score)
                cpp_scores.append(b.raw_score)
    assert score_diff < 1e-4 and map_diff < 1e-3, (score_diff, map_diff)
    y = np.array(labels)
    assert round(auroc(y, np.array(py_scores)), 4) == round(auroc(y, np.array(cpp_scores)), 4)


def test_cpp_bench_report_merges_into_python_bench(model_path: Path, tmp_path: Path) -> None:
    """edgead-cpp-bench writes edgead-bench/2; `edgead-runtime bench --merge` renders it beside a Python run."""
    import shutil
    import subprocess

    from edgead_runtime.bench import bench, format_report, parse_targets
    from edgead_runtime.bench.merge import load_report, merge_reports

    exe = os.environ.get("EDGEAD_CPP_BENCH") or shutil.which("edgead-cpp-bench")
    if not exe:
        pytest.skip("edgead-cpp-bench not built: set EDGEAD_CPP_BENCH (docs/cpp.md)")
    out = tmp_path / "cpp.json"
    cmd = [exe, str(model_path), "--batch", "1", "2", "--warmup", "1", "--iters", "5", "--json", str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    report = bench(parse_targets([model_path], backend="openvino"), (1, 2), 1, 5, memory=False)
    merged = merge_reports(report, [(out, load_report(out))])
    cpp = merged["targets"][-1]
    assert cpp["backend"] == "cpp-openvino" and cpp["reference"] == report["targets"][0]["label"]
    assert [g["batch"] for g in cpp["batches"]] == [1, 2] and len(cpp["batches"][0]["samples_ms"]) == 5
    assert cpp["batches"][0]["ratio_to_reference"] == pytest.approx(
        cpp["batches"][0]["p50_ms"] / report["targets"][0]["batches"][0]["p50_ms"]
    )
    assert "cpp-openvino [cpp.json]" in format_report(merged)
    (tmp_path / "old.json").write_text('{"schema": "edgead-bench/1"}')
    with pytest.raises(EdgeadError, match="'edgead-bench/1', not 'edgead-bench/2'"):
        load_report(tmp_path / "old.json")
