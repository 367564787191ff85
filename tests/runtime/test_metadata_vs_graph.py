"""Metadata that disagrees with the graph (issue 11, item 9): a clear error when the model opens, not an engine
traceback at the first frame."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
from onnx import helper

from edgead_runtime.cli import main
from edgead_runtime.detector import Detector
from edgead_runtime.errors import ModelFileError

from .graphs import HEIGHT, WIDTH, full_model, metadata

BACKENDS = ["onnxruntime", pytest.param("openvino", marks=pytest.mark.filterwarnings("ignore"))]


def _edited(tmp_path: Path, **input_fields: object) -> Path:
    """The fixture graph with its metadata's input fields edited, as a user with a text editor would."""
    data = json.loads(metadata().to_json())
    data["input"].update(input_fields)
    model = full_model(metadata())
    del model.metadata_props[:]
    helper.set_model_props(model, {"edgead": json.dumps(data)})
    path = tmp_path / "edited.onnx"
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("backend", BACKENDS)
def test_edited_size_is_refused_when_the_model_opens(tmp_path: Path, backend: str) -> None:
    if backend == "openvino":
        pytest.importorskip("openvino")
    path = _edited(tmp_path, height=HEIGHT * 2)
    with pytest.raises(ModelFileError, match=rf"height {HEIGHT * 2} in the metadata but {HEIGHT} in the graph"):
        Detector(path, backend)


@pytest.mark.parametrize("value", [0, -48, 47.5, True, "48"])
def test_sizes_that_are_not_positive_whole_numbers_are_refused(tmp_path: Path, value: object) -> None:
    with pytest.raises(ModelFileError, match="not a positive whole number"):
        Detector(_edited(tmp_path, width=value))


def test_a_whole_float_size_is_accepted(tmp_path: Path) -> None:
    with Detector(_edited(tmp_path, height=float(HEIGHT), width=float(WIDTH))) as detector:
        assert detector.metadata.size == (HEIGHT, WIDTH)


def test_predict_says_so_in_one_line(tmp_path: Path, bottle_images: list[Path], capsys: pytest.CaptureFixture) -> None:
    path = _edited(tmp_path, width=WIDTH + 1)
    assert main(["predict", str(path), "--source", str(bottle_images[0])]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "disagrees with the graph" in err and f"width {WIDTH + 1}" in err
