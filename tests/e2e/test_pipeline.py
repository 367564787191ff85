"""End to end on real bottle images: ``edgead train`` -> ``edgead export`` -> ``edgead-runtime predict``
-> ``edgead evaluate --compare-torch``, once per registered model, plus the CLI's error paths and the
export parity guard.

The data is a reduced MVTec-layout copy (symlinks, see tests/conftest.py) at 128 px so that both
models train and export in well under a minute each on two cores. Nothing here hard-codes a score:
the checks are ranking quality (AUROC), agreement between torch and the runtime, and file contracts.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edgead.train.models import model_names

RUN_FILES = ("config.json", "model.safetensors", "calibration.json", "metrics.json", "parity_frames.npz")
OUTPUTS = ("score", "anomaly_map", "raw_score", "raw_anomaly_map")


def auroc(labels: list[int], scores: list[float]) -> float:
    """Image AUROC as the Mann-Whitney statistic (ties count half); independent of the code under test."""
    labels_a, scores_a = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    pos, neg = scores_a[labels_a == 1], scores_a[labels_a == 0]
    assert len(pos) and len(neg), "AUROC needs both good and anomalous images"
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_auroc_helper() -> None:
    assert auroc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert auroc([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1]) == 0.0
    assert auroc([0, 1], [0.5, 0.5]) == 0.5


@pytest.mark.parametrize("model", model_names())
def test_train_export_predict_evaluate(
    model: str, trained: Callable, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import onnx

    from edgead.cli import main as edgead_main
    from edgead_runtime.cli import main as runtime_main
    from edgead_runtime.detector import Detector
    from edgead_runtime.metadata import METADATA_KEY

    t = trained(model)
    data = t.data

    # --- the run directory
    for name in RUN_FILES:
        assert (t.run / name).is_file(), f"run directory lacks {name}"
    config = json.loads((t.run / "config.json").read_text())
    assert config["model"] == model and config["image_size"] == 128
    # the run records the options and stages it used, so a later change of a default cannot alter it
    from edgead.train.models import get_model_class

    assert set(config["options"]) == {f.name for f in dataclasses.fields(get_model_class(model).Options)}
    assert config["layers"] == list(get_model_class(model).default_layers)
    calibration = json.loads((t.run / "calibration.json").read_text())
    assert {"image", "pixel", "source"} <= set(calibration)
    train_metrics = json.loads((t.run / "metrics.json").read_text())
    assert 0.0 <= train_metrics["image_auroc"] <= 1.0
    with np.load(t.run / "parity_frames.npz") as npz:
        parity = npz["frames"]
    assert parity.dtype == np.uint8 and parity.ndim == 4 and parity.shape[1:] == (128, 128, 3) and len(parity) > 0

    # --- the model file describes itself
    props = {p.key: p.value for p in onnx.load(str(t.onnx), load_external_data=False).metadata_props}
    assert METADATA_KEY in props, f"no '{METADATA_KEY}' in metadata_props: {sorted(props)}"
    meta = json.loads(props[METADATA_KEY])
    assert meta["model"] == model
    assert meta["backbone"] == config["backbone"]
    assert (meta["input"]["height"], meta["input"]["width"]) == (128, 128)
    assert meta["threshold"] == pytest.approx(0.5)
    assert meta["normalization"]["image"]["threshold"] == pytest.approx(calibration["image"]["threshold"])

    # --- edgead-runtime predict, one folder per defect type (as a user points it at a folder)
    records: list[dict] = []
    types = sorted(p.name for p in (data / "test").iterdir())
    for defect in types:
        out = tmp_path / f"{defect}.jsonl"
        assert runtime_main(["predict", str(t.onnx), "--source", str(data / "test" / defect), "--json", str(out)]) == 0
        lines = read_jsonl(out)
        assert len(lines) == len(list((data / "test" / defect).iterdir())), "one JSON line per image"
        records += lines
    for r in records:
        assert {"path", "score", "raw_score", "is_anomalous"} <= set(r), r
        assert 0.0 <= r["score"] <= 1.0
        assert r["is_anomalous"] == (r["score"] >= r["threshold"]), r
    labels = [int(Path(r["path"]).parent.name != "good") for r in records]
    assert sum(labels) == 8 and len(labels) - sum(labels) == 8
    raw = [r["raw_score"] for r in records]
    runtime_auroc = auroc(labels, raw)
    assert runtime_auroc > 0.9, f"{model}: image AUROC {runtime_auroc:.3f} on the reduced bottle set"
    scores = np.array([r["score"] for r in records])
    assert scores[np.array(labels) == 1].mean() > scores[np.array(labels) == 0].mean()

    # the same numbers through the Python API; and the map maxima for the relative parity check below
    with Detector(t.onnx) as detector:
        api = [detector.predict_path(r["path"]) for r in records]
    np.testing.assert_allclose([a.raw_score for a in api], raw, rtol=1e-6)
    raw_score_max = max(abs(a.raw_score) for a in api)
    raw_map_max = max(float(np.abs(a.raw_anomaly_map).max()) for a in api)

    # --- edgead evaluate --compare-torch
    eval_json = tmp_path / "eval.json"
    capsys.readouterr()
    argv = ["evaluate", str(t.onnx), "--data", str(data), "--compare-torch", str(t.run), "--json", str(eval_json)]
    assert edgead_main(argv) == 0
    report = json.loads(eval_json.read_text())
    assert report["images"] == 16
    diffs = report["torch"]["max_abs_diff"]
    assert set(OUTPUTS) <= set(diffs)
    assert diffs["score"] < 1e-4, diffs
    assert diffs["anomaly_map"] < 1e-4, diffs
    assert diffs["raw_score"] / raw_score_max < 1e-4, (diffs, raw_score_max)
    assert diffs["raw_anomaly_map"] / raw_map_max < 1e-4, (diffs, raw_map_max)
    onnx_metrics, torch_metrics = report["metrics"], report["torch"]["metrics"]
    assert round(onnx_metrics["image_auroc"], 4) == round(torch_metrics["image_auroc"], 4)
    assert onnx_metrics["image_auroc"] == pytest.approx(runtime_auroc, abs=1e-4), "evaluate and predict disagree"
    assert onnx_metrics["pixel_auroc"] == pytest.approx(torch_metrics["pixel_auroc"], abs=1e-3)
    # train-time (torch, before export) metrics are on the same test images
    assert train_metrics["image_auroc"] == pytest.approx(torch_metrics["image_auroc"], abs=1e-4)


def test_predict_on_a_test_split_folder_as_in_the_cli_examples(trained: Callable, tmp_path: Path) -> None:
    from edgead_runtime.cli import main as runtime_main

    t = trained("patchcore")
    out = tmp_path / "preds.jsonl"
    assert runtime_main(["predict", str(t.onnx), "--source", str(t.data / "test"), "--json", str(out)]) == 0
    assert len(read_jsonl(out)) == 16


# ---------------------------------------------------------------- CLI error paths


def test_export_of_a_missing_run_dir_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgead.cli import main

    missing = tmp_path / "no-such-run"
    assert main(["export", str(missing), "--format", "onnx", "-o", str(tmp_path / "x.onnx")]) == 1
    err = capsys.readouterr().err
    assert str(missing) in err and "error" in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "x.onnx").exists()


def test_train_on_an_empty_folder_fails_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgead.cli import main

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", "--model", "dfm", "--data", str(empty), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert str(empty) in err, err
    assert not (tmp_path / "run").exists(), "a failed train must not leave a run directory"


def test_train_rejects_an_option_of_another_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgead.cli import main

    empty = tmp_path / "empty"  # the option check comes first; if it is skipped, the error names the folder instead
    empty.mkdir()
    code = main(["train", "--model", "patchcore", "--pool-size", "2", "--data", str(empty), "--out", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert "--pool-size" in err and "patchcore" in err and "not apply" in err, err


# ---------------------------------------------------------------- export guard and external data


def _corrupt_bank(src: Path, dst: Path, bank_shape: tuple[int, ...]) -> str:
    """Copy ``src`` to ``dst`` with the memory-bank initializer scaled; return its name."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    inits = list(model.graph.initializer)
    same = [i for i in inits if tuple(i.dims) in (bank_shape, bank_shape[::-1])]
    target = same[0] if same else max(inits, key=lambda i: int(np.prod(i.dims)))
    array = numpy_helper.to_array(target)
    target.CopyFrom(numpy_helper.from_array((array * 1.5 + 0.1).astype(array.dtype), target.name))
    onnx.save(model, str(dst))
    return target.name


def test_export_parity_guard_catches_a_corrupted_graph(trained: Callable, tmp_path: Path) -> None:
    from edgead.export.onnx_export import verify
    from edgead.export.parity import ExportParityError
    from edgead.train.run_dir import load_parity_frames, load_run
    from edgead_runtime.metadata import OUTPUT_NAMES

    t = trained("patchcore")
    _, graph, _ = load_run(t.run)
    frames = load_parity_frames(t.run)
    names = list(OUTPUT_NAMES)

    report = verify(graph, t.onnx, frames, names)  # the good file passes: the guard is not trivially failing
    assert report.frames == len(frames) and max(report.relative.values()) <= 1e-4

    bad = tmp_path / "corrupt.onnx"
    _corrupt_bank(t.onnx, bad, tuple(graph.model.bank.shape))
    with pytest.raises(ExportParityError, match="disagrees with torch"):
        verify(graph, bad, frames, names)


def test_export_with_external_data_loads_and_matches(trained: Callable, tmp_path: Path) -> None:
    import onnx
    import onnxruntime as ort

    from edgead.export.onnx_export import export_onnx
    from edgead.train.run_dir import load_parity_frames
    from edgead_runtime.metadata import INPUT_NAME, OUTPUT_NAMES

    t = trained("patchcore")
    out = tmp_path / "ext" / "model.onnx"
    report = export_onnx(t.run, out, external_data_threshold=1000)
    data_file = out.parent / (out.name + ".data")
    assert data_file.is_file(), f"no external data file beside {out}: {sorted(p.name for p in out.parent.iterdir())}"
    assert data_file.stat().st_size > out.stat().st_size, "weights should live in the .data file"
    assert not list(out.parent.glob("*.tmp")), "temporary files left behind"
    onnx.checker.check_model(str(out), full_check=True)
    assert max(report.relative.values()) <= 1e-4

    frames = load_parity_frames(t.run)
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {INPUT_NAME: frames})
    ref = ort.InferenceSession(str(t.onnx), providers=["CPUExecutionProvider"]).run(None, {INPUT_NAME: frames})
    assert len(got) == len(OUTPUT_NAMES)
    for name, a, b in zip(OUTPUT_NAMES, got, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=name)
