"""``edgead export --format triton``: every generated config.pbtxt is parsed with Triton's own protobuf schema.

``tritonclient.grpc.model_config_pb2`` is the ModelConfig message Triton reads ``config.pbtxt`` into, so a
misspelt field, a wrong enum or a malformed string fails here as it would on the server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest

from edgead.cli import main
from edgead.export.formats import export
from edgead_runtime.engine_file import EngineInfo, write_engine
from edgead_runtime.errors import EdgeadError
from edgead_runtime.metadata import METADATA_KEY

from .graphs import HEIGHT, WIDTH, full_model, metadata

pb = pytest.importorskip("tritonclient.grpc.model_config_pb2", reason="needs edgead-runtime[triton] (tritonclient)")
text_format = pytest.importorskip("google.protobuf.text_format")


def parse_config(model_dir: Path) -> object:
    """config.pbtxt as Triton's ModelConfig message; a field or enum Triton lacks raises ParseError."""
    return text_format.Parse((model_dir / "config.pbtxt").read_text(), pb.ModelConfig())


@pytest.fixture(scope="module")
def fixture_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("triton-src") / "fixture.onnx"
    onnx.save(full_model(metadata()), path)
    return path


def test_onnx_repository_matches_the_graph(fixture_onnx: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    export(fixture_onnx, "triton", "fp32", repo, doctor=False, max_batch=4, instances=2, queue_delay_us=500)
    config = parse_config(repo / "fixture")
    assert (repo / "fixture" / "1" / "model.onnx").read_bytes() == fixture_onnx.read_bytes()
    assert config.name == "fixture" and config.platform == "onnxruntime_onnx" and config.max_batch_size == 4
    (inp,) = config.input
    assert (inp.name, pb.DataType.Name(inp.data_type), list(inp.dims)) == ("image", "TYPE_UINT8", [HEIGHT, WIDTH, 3])
    outputs = {o.name: o for o in config.output}
    assert sorted(outputs) == ["anomaly_map", "raw_anomaly_map", "raw_score", "score"]
    for name in ("score", "raw_score"):  # [N] in the graph: dims [1] on the wire, reshaped to [] for the model
        assert list(outputs[name].dims) == [1] and outputs[name].HasField("reshape")
        assert list(outputs[name].reshape.shape) == []
    for name in ("anomaly_map", "raw_anomaly_map"):
        assert list(outputs[name].dims) == [HEIGHT, WIDTH] and not outputs[name].HasField("reshape")
        assert pb.DataType.Name(outputs[name].data_type) == "TYPE_FP32"
    assert list(config.dynamic_batching.preferred_batch_size) == [4]
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    (group,) = config.instance_group
    assert group.count == 2 and pb.ModelInstanceGroup.Kind.Name(group.kind) == "KIND_CPU"
    served = json.loads(config.parameters[METADATA_KEY].string_value)
    assert served == json.loads(onnx.load(fixture_onnx).metadata_props[0].value)


def test_engine_repository_is_a_tensorrt_plan(fixture_onnx: Path, tmp_path: Path) -> None:
    """From an engine + sidecar + source graph (written the way `edgead export --format trt` writes them)."""
    engine = _engine(fixture_onnx, tmp_path, batch=(1, 4, 16))
    repo = tmp_path / "repo"
    export(engine, "triton", "fp32", repo, doctor=False, name="pc-trt")
    config = parse_config(repo / "pc-trt")
    assert (repo / "pc-trt" / "1" / "model.plan").read_bytes() == engine.read_bytes()
    assert not (repo / "pc-trt" / "1" / "model.onnx").exists()
    assert config.platform == "tensorrt_plan" and config.max_batch_size == 8  # min(8, the profile's max)
    assert list(config.dynamic_batching.preferred_batch_size) == [4, 8]  # the profile's opt batch, and the max
    assert pb.ModelInstanceGroup.Kind.Name(config.instance_group[0].kind) == "KIND_GPU"
    assert json.loads(config.parameters["edgead_tensorrt"].string_value)["tensorrt_version"] == "10.3.0"


@pytest.mark.parametrize(
    ("batch", "options", "message"),
    [
        ((1, 1, 4), {"max_batch": 8}, "larger than the 4"),
        ((2, 4, 8), {}, "--min-batch 1"),
        ((1, 1, 8), {"kind": "cpu"}, "GPU only"),
    ],
)
def test_engine_repository_refuses_what_triton_would(
    fixture_onnx: Path, tmp_path: Path, batch: tuple[int, int, int], options: dict, message: str
) -> None:
    engine = _engine(fixture_onnx, tmp_path, batch)
    with pytest.raises(EdgeadError, match=message):
        export(engine, "triton", "fp32", tmp_path / "repo", doctor=False, **options)


def test_tampered_engine_fails_the_sidecar_check(fixture_onnx: Path, tmp_path: Path) -> None:
    engine = _engine(fixture_onnx, tmp_path, (1, 1, 8))
    engine.write_bytes(b"another engine")
    with pytest.raises(EdgeadError, match="is not the engine"):
        export(engine, "triton", "fp32", tmp_path / "repo", doctor=False)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"name": "bad name"}, "letters, digits"), ({"max_batch": 0}, "--max-batch must be >= 1")],
)
def test_bad_options_are_one_line_errors(fixture_onnx: Path, tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(EdgeadError, match=message):
        export(fixture_onnx, "triton", "fp32", tmp_path / "repo", doctor=False, **options)


def test_patchcore_repository_from_the_cli(
    trained: Callable, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The deliverable as users make it: a trained PatchCore's .onnx, through `edgead export` (doctor on)."""
    run = trained("patchcore")
    repo = tmp_path / "model_repository"
    assert main(["export", str(run.onnx), "--format", "triton", "-o", str(repo), "--name", "patchcore"]) == 0
    printed = capsys.readouterr().out
    assert "next: tritonserver --model-repository" in printed
    config = parse_config(repo / "patchcore")
    print((repo / "patchcore" / "config.pbtxt").read_text())  # shown with -s: the file the issue asks to see
    assert config.platform == "onnxruntime_onnx" and config.max_batch_size == 8
    assert list(config.input[0].dims) == [128, 128, 3]
    assert json.loads(config.parameters[METADATA_KEY].string_value)["model"] == "patchcore"


def _engine(source_onnx: Path, folder: Path, batch: tuple[int, int, int]) -> Path:
    """An engine file + sidecar as `edgead export --format trt` leaves them (the bytes are opaque to the writer)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fixture.onnx").write_bytes(source_onnx.read_bytes())
    info = EngineInfo("10.3.0", "NVIDIA Jetson Orin", "8.7", "fp16", "graph", batch, "fixture.onnx")
    return write_engine(folder / "fixture.engine", b"\x00plan bytes", metadata().to_dict(), info)
