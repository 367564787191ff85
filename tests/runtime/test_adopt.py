"""``edgead-runtime adopt``: an engine built outside edgead (here by the FAKE TensorRT's builder, as trtexec would)
gets the sidecar `edgead export --format trt` writes, and what TensorRT refuses, adopt refuses.

The fake (fake_tensorrt.py) deserializes only plans of its own version, like TensorRT; the I/O readers are the
backend's, per line (binding API on 8.x, tensor names on 10+). No GPU here: these runs say nothing about real
engines beyond those API calls.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import onnx
import pytest

from edgead_runtime.adopt import adopt
from edgead_runtime.backends import open_backend
from edgead_runtime.cli import main
from edgead_runtime.engine_file import read_engine, sidecar_path
from edgead_runtime.errors import EdgeadError, ModelFileError
from edgead_runtime.onnx_proto import read_summary

from .fake_tensorrt import LINES, install
from .graphs import HEIGHT, WIDTH, reference
from .test_tensorrt_fake_backend import build_plan, engine_file


def _trtexec(fakes, tmp_path, model_path, batch=(1, 2, 4)):
    """An engine file as trtexec leaves it: the plan alone, no sidecar."""
    path = tmp_path / "built-elsewhere.engine"
    path.write_bytes(build_plan(fakes, model_path, batch))
    return path


@pytest.mark.parametrize("line", ["8.5", "8.6", "10", "11"])
def test_adopted_engine_gets_the_sidecar_export_writes_and_runs(monkeypatch, tmp_path, model_path, line):
    fakes = install(monkeypatch, LINES[line])
    engine = _trtexec(fakes, tmp_path, model_path)
    side = adopt(engine, model_path)
    assert side == sidecar_path(engine)
    _, meta, info = read_engine(engine)
    assert (info.tensorrt_version, info.device, info.compute_capability) == (LINES[line], "Fake Orin", "8.7")
    assert info.batch == (1, 2, 4) and (info.precision, info.precision_mode) == ("fp32", "graph")
    assert info.build_args == ["--precision", "fp32", "--min-batch", "1", "--opt-batch", "2", "--max-batch", "4"]
    # the model metadata is the graph's, as the sidecar of an edgead build has it
    (tmp_path / "edgead").mkdir()
    assert meta == read_engine(engine_file(fakes, tmp_path / "edgead", model_path))[1]
    profile_call = "ICudaEngine.get_profile_shape" if line.startswith("8.") else "ICudaEngine.get_tensor_profile_shape"
    assert fakes.record.args(profile_call)
    frames = np.random.default_rng(0).integers(0, 256, (3, HEIGHT, WIDTH, 3), dtype=np.uint8)
    with open_backend(engine) as backend:
        out = backend.run(frames)
    for name, value in reference(frames).items():
        np.testing.assert_allclose(out[name], value, atol=1e-6, err_msg=name)


def test_builder_precision_is_recorded_as_a_builder_build(monkeypatch, tmp_path, model_path):
    fakes = install(monkeypatch, LINES["10"])
    engine = _trtexec(fakes, tmp_path, model_path, (1, 1, 8))
    adopt(engine, model_path, precision="f16")  # the runtime CLI's spelling, as --precision takes it
    info = read_engine(engine)[2]
    assert (info.precision, info.precision_mode, info.batch) == ("fp16", "builder", (1, 1, 8))
    assert info.build_args[:4] == ["--precision", "fp16", "--precision-mode", "builder"]


def test_an_engine_of_another_tensorrt_version_is_refused_with_tensorrts_reason(monkeypatch, tmp_path, model_path):
    engine = _trtexec(install(monkeypatch, LINES["8.6"]), tmp_path, model_path)
    install(monkeypatch, LINES["10"])  # a machine with another TensorRT
    with pytest.raises(ModelFileError, match=r"cannot load .*Version tag does not match.*machine that built it"):
        adopt(engine, model_path)
    assert not sidecar_path(engine).exists()


def test_a_file_that_is_no_plan_is_refused(monkeypatch, tmp_path, model_path):
    install(monkeypatch, LINES["10"])
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"not a plan")
    with pytest.raises(ModelFileError, match="Magic tag does not match"):
        adopt(engine, model_path)


def test_an_engine_from_another_graph_or_a_graph_without_metadata_is_refused(
    monkeypatch, tmp_path, model_path, bare_model_path, backbone_model_path
):
    fakes = install(monkeypatch, LINES["10"])
    engine = _trtexec(fakes, tmp_path, model_path)
    with pytest.raises(ModelFileError, match="no edgead metadata"):
        adopt(engine, bare_model_path)
    with pytest.raises(ModelFileError, match="was not built from this graph"):
        adopt(engine, backbone_model_path)
    assert not sidecar_path(engine).exists()


def test_an_existing_sidecar_is_kept_unless_forced(monkeypatch, tmp_path, model_path):
    fakes = install(monkeypatch, LINES["10"])
    engine = _trtexec(fakes, tmp_path, model_path)
    sidecar_path(engine).write_text("{}")
    with pytest.raises(ModelFileError, match="exists already; pass --force"):
        adopt(engine, model_path)
    assert sidecar_path(engine).read_text() == "{}"
    adopt(engine, model_path, force=True)
    assert "tensorrt" in json.loads(sidecar_path(engine).read_text())


def test_cli_adopts_and_without_tensorrt_says_how_to_install_it(monkeypatch, tmp_path, model_path, capsys):
    fakes = install(monkeypatch, LINES["10"])
    engine = _trtexec(fakes, tmp_path, model_path)
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # as on a machine without TensorRT
    assert main(["adopt", str(engine), "--from", str(model_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgead-runtime: error: TensorRT is not installed") and "\n" not in err
    install(monkeypatch, LINES["10"])
    assert main(["adopt", str(engine), "--from", str(model_path)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {sidecar_path(engine)}" in out and "next: edgead-runtime bench" in out


def test_onnx_summary_reads_what_onnx_reads(model_path, tmp_path):
    summary = read_summary(model_path)
    model = onnx.load(model_path)
    assert summary.metadata == {p.key: p.value for p in model.metadata_props}
    assert [(t.name, t.dtype, t.shape) for t in summary.inputs] == [("image", "uint8", ("N", HEIGHT, WIDTH, 3))]
    assert [t.name for t in summary.outputs] == [o.name for o in model.graph.output]
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(model_path.read_bytes()[:-7])
    with pytest.raises(EdgeadError, match="not a readable ONNX model"):
        read_summary(truncated)
