"""`edgead export --format openvino`: IR from an exported .onnx or a run directory, metadata, parity, precision."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgead.cli import main
from edgead.export.parity import ExportParityError
from edgead_runtime.backends import open_backend
from edgead_runtime.detector import Detector
from edgead_runtime.errors import EdgeadError
from edgead_runtime.metadata import METADATA_KEY

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
from graphs import HEIGHT, WIDTH, full_model, metadata  # noqa: E402 - the runtime tests' real fixture graphs

ov = pytest.importorskip("openvino", reason="no openvino here: pip install 'edgead-runtime[openvino]'")


def _test_images(data: Path) -> list[Path]:
    return sorted((data / "test").glob("*/*.png"))


def _scores(model: Path, images: list[Path]) -> np.ndarray:
    with Detector(model) as detector:
        return np.array([detector.predict_path(p).raw_score for p in images])


def test_ir_from_an_exported_onnx(trained: Callable, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = trained("patchcore")
    xml = tmp_path / "pc.xml"
    assert main(["export", str(t.onnx), "--format", "openvino", "-o", str(xml)]) == 0
    out = capsys.readouterr().out
    assert f"exported {xml} (" in out and "openvino fp32, full graph" in out
    assert "IR checked against the ONNX graph (onnxruntime) on 4 synthetic frames: score" in out
    assert f"edgead-runtime predict {xml}" in out
    assert xml.with_suffix(".bin").is_file()
    with open_backend(xml) as ir, open_backend(t.onnx) as graph:
        assert ir.name == "openvino" and ir.precision == "f32"
        assert ir.metadata == graph.metadata and ir.metadata.model == "patchcore"
    assert ov.Core().read_model(str(xml)).has_rt_info([METADATA_KEY])  # in the IR itself, not only the ONNX's

    images = _test_images(t.data)
    ir_scores, onnx_scores = _scores(xml, images), _scores(t.onnx, images)
    np.testing.assert_allclose(ir_scores, onnx_scores, rtol=1e-5)
    labels = np.array([p.parent.name != "good" for p in images])
    assert ir_scores[labels].mean() > ir_scores[~labels].mean()  # real scores, not a degenerate graph


def test_fp16_ir_is_half_the_size_and_close(trained: Callable, tmp_path: Path) -> None:
    t = trained("dfm")
    paths = {p: tmp_path / f"dfm-{p}.xml" for p in ("fp32", "fp16")}
    for precision, xml in paths.items():
        assert main(["export", str(t.onnx), "--format", "openvino", "--precision", precision, "-o", str(xml)]) == 0
    sizes = {p: xml.with_suffix(".bin").stat().st_size for p, xml in paths.items()}
    assert 0.45 < sizes["fp16"] / sizes["fp32"] < 0.55
    images = _test_images(t.data)[:6]
    full, half = _scores(paths["fp32"], images), _scores(paths["fp16"], images)
    assert np.abs(half - full).max() <= 1e-2 * np.abs(full).max()  # the tolerance the export checks against
    assert not np.array_equal(half, full)  # the weights really are fp16


@pytest.mark.slow
def test_ir_from_a_run_directory(trained: Callable, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = trained("patchcore")
    xml = tmp_path / "from-run.xml"
    assert main(["export", str(t.run), "--format", "openvino", "-o", str(xml)]) == 0
    out = capsys.readouterr().out
    assert "ONNX graph checked against torch on 8 real frames" in out
    assert "IR checked against the ONNX graph (onnxruntime) on 8 real frames" in out
    images = _test_images(t.data)
    np.testing.assert_allclose(_scores(xml, images), _scores(t.onnx, images), rtol=1e-5)


def test_options_the_format_lacks_are_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "fixture.onnx"
    onnx.save(full_model(metadata()), model)
    assert main(["export", str(model), "--format", "openvino", "--precision", "int8"]) == 1
    assert "format 'openvino' supports precision fp32, fp16, not 'int8'" in capsys.readouterr().err
    assert main(["export", str(model), "--format", "openvino", "--part", "backbone"]) == 1
    assert "--part applies to a run directory" in capsys.readouterr().err
    bare = tmp_path / "bare.onnx"
    onnx.save(full_model(None), bare)
    assert main(["export", str(bare), "--format", "openvino"]) == 1
    assert "bare.onnx' has no edgead metadata (metadata_props key 'edgead')" in capsys.readouterr().err


def test_parity_check_catches_an_ir_that_computes_other_numbers(tmp_path: Path) -> None:
    from edgead.export.onnx_files import onnx_metadata
    from edgead.export.openvino_export import convert, verify_ir

    good = tmp_path / "good.onnx"
    onnx.save(full_model(metadata()), good)
    shifted = full_model(metadata())
    for init in shifted.graph.initializer:
        if init.name == "t":  # the normalization threshold: same graph, other numbers
            init.CopyFrom(numpy_helper.from_array(np.array(0.3, np.float32), "t"))
    bad = tmp_path / "shifted.onnx"
    onnx.save(shifted, bad)
    xml = tmp_path / "shifted.xml"
    convert(bad, xml, onnx_metadata(bad), "fp32")
    frames = np.random.default_rng(0).integers(0, 256, (3, HEIGHT, WIDTH, 3), dtype=np.uint8)
    with pytest.raises(ExportParityError, match=r"shifted.xml' disagrees with the ONNX graph on 3 real frames"):
        verify_ir(good, xml, frames, "real", "fp32")
    report = verify_ir(bad, xml, frames, "real", "fp32")
    assert report.frames == 3 and max(report.relative.values()) < 1e-6
    with pytest.raises(EdgeadError, match="cannot read .*nope.onnx"):
        onnx_metadata(tmp_path / "nope.onnx")
