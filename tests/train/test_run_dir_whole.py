"""Issue 11 item 10: a run folder changes as a whole; export and bench refuse parts that disagree."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgead.train.calibration import Calibration, Normalization
from edgead.train.run_dir import CALIBRATION, CONFIG, MANIFEST, WEIGHTS, check_model_of_run, load_run, save_run
from edgead_runtime.errors import EdgeadError
from edgead_runtime.metadata import ModelMetadata
from tests.train.test_run_dir import _fitted_run


def test_a_save_writes_the_manifest_last_and_a_clean_run_loads(tmp_path: Path) -> None:
    _fitted_run(tmp_path)
    run = tmp_path / "run"
    names = sorted(p.name for p in run.iterdir())
    assert MANIFEST in names
    recorded = json.loads((run / MANIFEST).read_text())["sha256"]
    assert {WEIGHTS, CALIBRATION, CONFIG} <= set(recorded)
    assert max(p.stat().st_mtime_ns for p in run.iterdir()) == (run / MANIFEST).stat().st_mtime_ns
    load_run(run)


def test_new_weights_beside_old_calibration_are_refused(tmp_path: Path) -> None:
    # kill -9 between two renames of a re-save: the new weights are in, the old calibration (and manifest) stay
    _fitted_run(tmp_path / "a")
    _fitted_run(tmp_path / "b", options={"coreset_ratio": 0.5})
    shutil.copy(tmp_path / "b" / "run" / WEIGHTS, tmp_path / "a" / "run" / WEIGHTS)
    with pytest.raises(EdgeadError, match=f"{WEIGHTS} changed since the run was saved"):
        load_run(tmp_path / "a" / "run")


def test_threshold_folded_into_weights_must_match_calibration_json(tmp_path: Path) -> None:
    # a run without a manifest (saved before manifests existed), calibration.json edited by hand
    _fitted_run(tmp_path)
    run = tmp_path / "run"
    (run / MANIFEST).unlink()
    data = json.loads((run / CALIBRATION).read_text())
    data["image"]["threshold"] = 1.5
    (run / CALIBRATION).write_text(json.dumps(data))
    with pytest.raises(EdgeadError, match="threshold folded into"):
        load_run(run)


def test_weights_of_another_model_family_are_one_error(tmp_path: Path) -> None:
    _fitted_run(tmp_path / "pc")
    _fitted_run(tmp_path / "dfm", model="dfm", options={"pool_size": 1})
    run = tmp_path / "pc" / "run"
    shutil.copy(tmp_path / "dfm" / "run" / WEIGHTS, run / WEIGHTS)
    (run / MANIFEST).unlink()
    with pytest.raises(EdgeadError, match="does not fit model 'patchcore'"):
        load_run(run)


def test_a_model_from_another_run_is_refused_by_bench(tmp_path: Path) -> None:
    _fitted_run(tmp_path)
    config, _, calibration = load_run(tmp_path / "run")
    other = Calibration(Normalization(3.0, 0.0, 4.0), calibration.pixel, "test", 4)
    ours = ModelMetadata(config.model, config.backbone, 64, 64, normalization={"image": calibration.image.to_dict()})
    theirs = ModelMetadata(config.model, config.backbone, 64, 64, normalization={"image": other.image.to_dict()})
    check_model_of_run(ours, Path("m.onnx"), tmp_path / "run", config, calibration)
    with pytest.raises(EdgeadError, match="was not exported from"):
        check_model_of_run(theirs, Path("m.onnx"), tmp_path / "run", config, calibration)


def test_resave_is_atomic_per_file_and_the_manifest_follows(tmp_path: Path) -> None:
    graph, frames = _fitted_run(tmp_path)
    config, _, calibration = load_run(tmp_path / "run")
    save_run(tmp_path / "run", config, graph, calibration, frames.numpy(), {"metrics.json": {"image_auroc": 1.0}})
    load_run(tmp_path / "run")  # metrics written before the manifest: it records them
    assert "metrics.json" in json.loads((tmp_path / "run" / MANIFEST).read_text())["sha256"]
