"""Issue 11 items 11 and 12: writes that keep the old model whole, never cross file systems, never follow planted
links, leave no temporaries behind; the doctor refuses empty files and external data outside the model's folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgead.export.doctor import diagnose
from edgead.export.onnx_files import save_model
from edgead_runtime.errors import ModelFileError
from edgead_runtime.files import atomic_write, remove_stale_temporaries, write_json
from tests.runtime.graphs import full_model, metadata

DEAD_PID = 2**22 + 12345  # above Linux's pid_max default (4194304): no process has it


def _with_weights(value: float) -> onnx.ModelProto:
    model = full_model(metadata())
    model.graph.initializer.append(numpy_helper.from_array(np.full(4096, value, np.float32), "big"))
    return model


def _external_save(model: onnx.ModelProto, path: Path) -> None:
    save_model(model, path, external_data_threshold=1024)


def test_reexport_over_external_data_keeps_the_old_model_when_the_write_fails(tmp_path, monkeypatch) -> None:
    path = tmp_path / "m.onnx"
    _external_save(_with_weights(1.0), path)
    data = path.with_name("m.onnx.data")
    before = (path.read_bytes(), data.read_bytes())

    def crash(model, f, *args, **kwargs):  # noqa: ANN001, ANN202 - a full disk halfway through the new .data
        if kwargs.get("save_as_external_data"):
            Path(str(f)).with_name(kwargs["location"]).write_bytes(b"half")
        else:
            Path(str(f)).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(onnx, "save_model", crash)
    with pytest.raises(OSError):
        _external_save(_with_weights(2.0), path)
    with pytest.raises(OSError):
        save_model(_with_weights(2.0), path)  # the inline form: the old .data must outlive the failed write
    assert (path.read_bytes(), data.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.data"]  # no staging left
    monkeypatch.undo()
    onnx.checker.check_model(str(path), full_check=True)
    save_model(_with_weights(3.0), path)  # inline now: the stale .data goes, after the graph is in place
    assert not data.exists()
    onnx.checker.check_model(str(path), full_check=True)


def test_stale_temporaries_of_a_killed_writer_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "calibration.json"
    dead = tmp_path / f".calibration.json.{DEAD_PID}.abc.tmp"
    dead.write_text("half")
    dead_stage = tmp_path / f".calibration.json.{DEAD_PID}.def.tmp"
    dead_stage.mkdir()
    live = tmp_path / f".calibration.json.{os.getppid()}.xyz.tmp"  # a running writer's file is left alone
    live.write_text("busy")
    write_json(target, {"a": 1})
    assert not dead.exists() and not dead_stage.exists() and live.exists()
    assert remove_stale_temporaries(target) == []


def test_writes_replace_a_planted_symlink_instead_of_following_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "report.json").symlink_to(victim)
    write_json(shared / "report.json", {"a": 1})
    assert victim.read_text() == "precious"
    assert not (shared / "report.json").is_symlink()
    atomic_write(shared / "x", lambda tmp: Path(tmp).write_text("ok"))  # the temporary is created O_EXCL


def test_doctor_refuses_an_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty"):
        diagnose(empty)


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink", "missing"])
def test_doctor_refuses_external_data_outside_the_models_folder(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    path = folder / "m.onnx"
    _external_save(_with_weights(1.0), path)
    outside = tmp_path / "secret.data"
    os.replace(folder / "m.onnx.data", outside)
    location = {"absolute": str(outside), "dotdot": "../secret.data", "symlink": "link.data", "missing": "gone.data"}
    if kind == "symlink":
        (folder / "link.data").symlink_to(outside)
    model = onnx.load(str(path), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location[kind]
    path.write_bytes(model.SerializeToString())
    for target in ("trt", "ort"):
        report = diagnose(path, target)
        assert not report.ok
        assert any(f.check == "external-data" and f.severity == "error" for f in report.findings)


def test_openvino_stages_beside_the_output_and_leaves_nothing_when_its_check_crashes(tmp_path, monkeypatch) -> None:
    from edgead.export import openvino_export

    source = tmp_path / "m.onnx"
    onnx.save(full_model(metadata()), source)
    out = tmp_path / "ir" / "m.xml"
    staged_in = []
    real_convert = openvino_export.convert

    def convert(onnx_path, output, *args):  # noqa: ANN001, ANN202
        staged_in.append(Path(output).parent.parent)
        real_convert(onnx_path, output, *args)

    def crash(*args):  # noqa: ANN002, ANN202
        raise RuntimeError("the check itself crashed")

    monkeypatch.setattr(openvino_export, "convert", convert)
    monkeypatch.setattr(openvino_export, "verify_ir", crash)
    with pytest.raises(RuntimeError):
        openvino_export.write_openvino(source, out, "fp32", "full")
    assert staged_in == [out.parent]  # same folder, so the final renames never cross file systems
    assert list(out.parent.iterdir()) == []  # no IR in place, no staging left
    monkeypatch.undo()
    written = openvino_export.write_openvino(source, out, "fp32", "full")
    assert out.is_file() and out.with_suffix(".bin").is_file() and len(written.checks) == 1
