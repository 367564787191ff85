"""Issue 11 items 1 and 13: every bad value is refused before any work, as one line, at both CLIs and the API."""

from __future__ import annotations

import json
import math
from pathlib import Path

import onnx
import pytest

from edgead_runtime import values
from edgead_runtime.errors import EdgeadError, EdgeadWarning, ModelFileError
from edgead_runtime.metadata import ModelMetadata
from tests.runtime.graphs import full_model, metadata


def _exit(main, argv: list[str]) -> int:  # noqa: ANN001 - either CLI's main
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's usage error (a flag's type= check)
        return int(exc.code)


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    return lines[-1]


@pytest.mark.parametrize(
    "flags",
    [
        ["--image-size", "0"],
        ["--image-size", "abc"],
        ["--coreset-ratio", "0"],
        ["--coreset-ratio", "nan"],
        ["--coreset-ratio", "1.5"],
        ["--batch-size", "-1"],
        ["--holdout", "inf"],
        ["--num-neighbors", "0"],
        ["--seed", "-3"],
    ],
)
def test_train_refuses_bad_numbers_before_any_work(flags: list[str], tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from edgead.cli import main

    argv = ["train", "--model", "patchcore", "--data", str(tmp_path / "absent"), "--out", str(tmp_path / "run")]
    assert _exit(main, argv + flags) == 2
    line = _one_line(capsys.readouterr().err)
    assert flags[0] in line and "error" in line
    assert not (tmp_path / "run").exists()


def test_api_refuses_what_the_flags_refuse(tmp_path: Path) -> None:
    import edgead

    cases = [({"coreset_ratio": float("nan")}, "--coreset-ratio"), ({"coreset_ratio": 0.0}, "--coreset-ratio"),
             ({"image_size": 0}, "--image-size"), ({"batch_size": 0}, "--batch-size")]  # fmt: skip
    for bad, flag in cases:
        with pytest.raises(EdgeadError, match=flag):  # the value's own error, before the data folder is looked at
            edgead.train("patchcore", tmp_path / "absent", out=tmp_path / "run", **bad)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "RUN", "M.onnx", "--iters", "0"],
        ["bench", "RUN", "M.onnx", "--batch", "-1"],
        ["evaluate", "M.onnx", "--data", "D", "--batch", "0"],
        ["export", "RUN", "--format", "onnx", "--precision", "int8", "--calibration-images", "-5"],
        ["export", "RUN", "--format", "trt", "--max-batch", "0"],
    ],
)
def test_edgead_commands_refuse_bad_numbers(argv: list[str], capsys) -> None:  # noqa: ANN001
    from edgead.cli import main

    assert _exit(main, argv) == 2
    assert "must be at least 1" in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "m.onnx", "--source", "x", "--threshold", "nan"],
        ["predict", "m.onnx", "--source", "x", "--threshold", "inf"],
        ["run", "m.onnx", "--source", "x", "--threshold=-inf"],
        ["predict", "m.onnx", "--source", "x", "--batch", "0"],
        ["run", "m.onnx", "--source", "x", "--max-frames", "-1"],
        ["bench", "m.onnx", "--iters", "0"],
    ],
)
def test_runtime_refuses_bad_numbers(argv: list[str], capsys) -> None:  # noqa: ANN001
    from edgead_runtime.cli import main

    assert _exit(main, argv) == 2
    line = _one_line(capsys.readouterr().err)
    assert "finite" in line or "at least 1" in line


def test_output_paths_are_checked_before_the_work(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from edgead.cli import main

    assert _exit(main, ["export", str(tmp_path), "--format", "onnx", "-o", str(tmp_path)]) == 2
    assert "is a folder" in _one_line(capsys.readouterr().err)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(EdgeadError, match="is a file, not a folder"):
        values.output_path(blocker / "sub" / "m.onnx", "--output")
    with pytest.raises(EdgeadError, match="not valid UTF-8"):
        values.output_path(tmp_path / b"\xff.onnx".decode("utf-8", "surrogateescape"), "--output")


def test_unloadable_weights_file_is_one_error(tmp_path: Path) -> None:
    from edgead.train.backbones import BackboneWeightsError, FeatureExtractor

    bad = tmp_path / "w.pth"
    bad.write_bytes(b"not a zip or a pickle")
    with pytest.raises(BackboneWeightsError, match="cannot load weights file"):
        FeatureExtractor("resnet18", (2,), bad)


def test_an_os_error_at_the_boundary_is_one_line(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from edgead_runtime.cli import dispatch

    def fail(_args: object) -> int:
        raise OSError(28, "No space left on device", str(tmp_path / "out.json"))

    def interrupted() -> object:
        raise KeyboardInterrupt  # Ctrl+C while the parser (and its imports) is still being built

    assert dispatch("edgead", lambda: type("A", (), {"func": staticmethod(fail)})()) == 1
    assert "No space left on device" in _one_line(capsys.readouterr().err)
    assert dispatch("edgead", interrupted) == 130
    assert _one_line(capsys.readouterr().err) == "edgead: interrupted"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_threshold_in_metadata_or_sidecar_is_refused(bad: float, tmp_path: Path) -> None:
    data = metadata().to_dict()
    data["threshold"] = bad
    with pytest.raises(ModelFileError, match="finite"):
        ModelMetadata.from_json(json.dumps(data), source="m.engine.json")  # an engine's sidecar reads through this
    model = full_model(metadata())
    for prop in model.metadata_props:
        if prop.key == "edgead":
            prop.value = json.dumps(data)
    path = tmp_path / "nan.onnx"
    onnx.save(model, path)
    from edgead_runtime.detector import Detector

    with pytest.raises(ModelFileError, match="finite"):
        Detector(path)


def test_threshold_override_nan_refused_and_outside_unit_range_warned(tmp_path: Path) -> None:
    from edgead_runtime.detector import Detector

    path = tmp_path / "m.onnx"
    onnx.save(full_model(metadata()), path)
    with pytest.raises(EdgeadError, match="finite"):
        Detector(path, threshold=float("nan"))
    with pytest.warns(EdgeadWarning, match="outside"):
        Detector(path, threshold=1.5).close()


def test_at_threshold_is_the_runtime_rule_and_refuses_nan() -> None:
    from edgead.train.metrics import at_threshold

    v = at_threshold([0, 0, 1, 1, 1], [0.1, 0.5, 0.5, 0.7, 0.2], 0.5)  # >= flags the ties, as Result does
    assert (v["tp"], v["fn"], v["fp"], v["tn"]) == (2, 1, 1, 1)
    assert v["f1"] == pytest.approx(2 * (2 / 3) * (2 / 3) / (4 / 3))
    with pytest.raises(EdgeadError, match="finite"):
        at_threshold([0, 1], [0.1, 0.9], float("nan"))


def test_evaluate_reports_the_confusion_matrix_at_the_deployed_threshold(
    bottle_small: Path,
    tmp_path: Path,
    capsys,  # noqa: ANN001
) -> None:
    from edgead.evaluation import evaluate_model

    path = tmp_path / "m.onnx"
    onnx.save(full_model(metadata()), path)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "r.json").symlink_to(victim)  # planted in a shared output folder: replaced, never written through
    report = evaluate_model(path, bottle_small, json_out=tmp_path / "r.json")
    assert victim.read_text() == "precious"
    v = report["deployed_threshold"]
    assert v["threshold"] == 0.5
    assert v["tp"] + v["fn"] + v["fp"] + v["tn"] == report["images"]
    assert "at the deployed threshold 0.5" in capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text())["deployed_threshold"] == v
