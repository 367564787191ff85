"""`edgead export --format trt` end to end: plan, variant, doctor, build, write, parity, rebuild command.

Each end-to-end test runs twice over: with the recording FAKE TensorRT of ``tests/runtime/fake_tensorrt.py``
for the 8.5, 10.x and 11.x lines (always, here: it drives every TensorRT call edgead makes; its "engine" runs
the parsed ONNX file with ONNX Runtime, so its numbers equal ONNX Runtime's and say nothing of TensorRT's),
and with the real TensorRT on a CUDA GPU (``real``), which skips with the reason where either is missing.
The graphs are real exported family graphs (PatchCore on the reduced bottle set, 128 px), so the fp16 and
int8 variants are made from torch module scopes exactly as for a user's run. Tests named ``*_calls_*``
check what the fake recorded, per TensorRT line.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgead.export.formats import export
from edgead.export.parity import VARIANT_ATOL
from edgead.export.precision import quantize_int8
from edgead.export.tensorrt_build import write_engine_file
from edgead.export.tensorrt_plan import TrtBuildError, read_onnx, version_rules
from edgead_runtime.backends import open_backend
from edgead_runtime.datasets import calibration_frames, good_images
from edgead_runtime.engine_file import read_engine, sidecar_path
from edgead_runtime.errors import EdgeadError

from .trt_runs import patchcore_bank  # noqa: F401 - a fixture, used by name

RUNTIME_TESTS = Path(__file__).resolve().parents[1] / "runtime"
sys.path.insert(0, str(RUNTIME_TESTS))
from fake_tensorrt import LINES, install, make_fakes  # noqa: E402 - the fake TensorRT of the runtime tests
from graphs import HEIGHT, WIDTH, full_model, metadata  # noqa: E402 - real fixture graphs

SIZE = (HEIGHT, WIDTH)


def _gpu_reason() -> str | None:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "tensorrt is not installed (no TensorRT wheels from PyPI on these machines)"
    try:
        from edgead_runtime.backends.tensorrt import cuda_device, import_cudart

        cuda_device(import_cudart(), 0)
    except EdgeadError as exc:
        return f"no usable CUDA GPU / cuda-python: {exc}"
    return None


GPU_REASON = _gpu_reason()


@pytest.fixture(params=["fake-8.5", "fake-10", "fake-11", "real"])
def trt_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The TensorRT version the test builds with: a fake line installed in sys.modules, or the real one."""
    if request.param == "real":
        if GPU_REASON is not None:
            pytest.skip(GPU_REASON)
        import tensorrt

        return tensorrt.__version__
    return install(monkeypatch, LINES[request.param.removeprefix("fake-")]).trt.__version__


@pytest.fixture(scope="module")
def fixture_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("trt-fixture") / "fixture.onnx"
    onnx.save(full_model(metadata()), path)
    return path


def _copy(graph: Path, folder: Path) -> Path:
    """The graph (and its external data, if any) in ``folder``, so variants are written beside the copy."""
    shutil.copy(graph, folder / graph.name)
    data = graph.with_name(graph.name + ".data")
    if data.is_file():
        shutil.copy(data, folder / data.name)
    return folder / graph.name


def _ort(path: Path, batch: np.ndarray) -> dict[str, np.ndarray]:
    with open_backend(path, "onnxruntime", providers=["CPUExecutionProvider"]) as backend:
        return backend.run(batch)


def _engine_outputs(engine: Path, batch: np.ndarray) -> dict[str, np.ndarray]:
    with open_backend(engine) as backend:
        assert backend.name == "tensorrt"
        return backend.run(batch)


def _max_diff(got: dict[str, np.ndarray], ref: dict[str, np.ndarray], name: str) -> float:
    return float(np.abs(got[name].astype(np.float32) - ref[name]).max())


# ---------------------------------------------------------------- end to end (fake lines, real TensorRT)


def test_fp32_engine_builds_runs_every_batch_and_reuses_the_timing_cache(trt_env, fixture_onnx, tmp_path, bottle):
    engine, cache = tmp_path / "fixture.engine", tmp_path / "timing.cache"
    written = write_engine_file(fixture_onnx, engine, "fp32", max_batch=4, timing_cache=cache)
    assert engine in written.files and sidecar_path(engine) in written.files and cache.is_file()
    assert not list(tmp_path.glob(".*partial*")), "the temporary engine was left behind"
    _, meta, info = read_engine(engine)
    assert info.tensorrt_version == trt_env and info.batch == (1, 1, 4) and info.device
    assert meta.to_dict() == metadata().to_dict()
    frames = calibration_frames(good_images(bottle), SIZE, 4)
    with open_backend(engine) as backend:
        for n in (1, 3, 4):
            got, ref = backend.run(frames[:n]), _ort(fixture_onnx, frames[:n])
            for name, value in ref.items():
                np.testing.assert_allclose(got[name], value, atol=1e-5, rtol=1e-5)
        with pytest.raises(EdgeadError, match="up to 4"):
            backend.run(np.concatenate([frames, frames[:1]]))
    second = write_engine_file(fixture_onnx, tmp_path / "again.engine", "fp32", max_batch=2, timing_cache=cache)
    assert any(line.startswith("reused timing cache") for line in second.checks), second.checks


def test_parity_check_takes_the_engines_minimum_batch(trt_env, fixture_onnx, tmp_path):
    engine = tmp_path / "big-batch.engine"
    written = write_engine_file(fixture_onnx, engine, "fp32", min_batch=6, opt_batch=6, max_batch=8)
    assert any("on 6 random frames" in line for line in written.checks), written.checks
    assert read_engine(engine)[2].batch == (6, 6, 8)


def test_int8_entropy_calibration_builds_an_engine_close_to_fp32(trt_env, fixture_onnx, tmp_path, bottle):
    if not version_rules(trt_env).builder_precision:
        pytest.skip(f"TensorRT {trt_env} has no int8 calibrator (strongly typed only)")
    engine = tmp_path / "int8.engine"
    written = write_engine_file(
        fixture_onnx, engine, "int8", precision_mode="builder", calibration_data=bottle, max_batch=4
    )
    assert any("calibration images" in line for line in written.checks)
    frames = calibration_frames(good_images(bottle), SIZE, 4)
    got, ref = _engine_outputs(engine, frames), _ort(fixture_onnx, frames)
    np.testing.assert_allclose(got["raw_score"], ref["raw_score"], atol=0.05)


def test_fp16_graph_engine_of_a_real_patchcore_graph_tracks_fp32(trt_env, trained, tmp_path):
    from edgead.train.run_dir import load_parity_frames

    graph = _copy(trained("patchcore").onnx, tmp_path)
    engine = tmp_path / "patchcore.fp16.engine"
    written = write_engine_file(graph, engine, "fp16", max_batch=4)
    variant = graph.with_name("patchcore.fp16.onnx")
    assert variant in written.files and read_onnx(variant)[1] == "fp16"
    assert read_engine(engine)[2].precision == "fp16"
    frames = load_parity_frames(trained("patchcore").run)[:4]
    got, ref = _engine_outputs(engine, frames), _ort(graph, frames)
    for name in ("score", "anomaly_map"):  # normalized, threshold 0.5: the bound the ONNX variant meets
        assert _max_diff(got, ref, name) <= VARIANT_ATOL["fp16"], name


def test_int8_qdq_engine_from_the_fp32_graph_and_from_the_prequantized_file(trt_env, trained, tmp_path):
    """Workstation: the Q/DQ variant is calibrated on good images. Jetson: the int8 .onnx alone, no images."""
    from edgead.train.run_dir import load_parity_frames

    run = trained("patchcore")
    graph = _copy(run.onnx, tmp_path)
    from_fp32 = tmp_path / "from-fp32.engine"
    written = write_engine_file(graph, from_fp32, "int8", calibration_data=run.data, max_batch=4)
    variant = graph.with_name("patchcore.int8.onnx")
    assert variant in written.files and read_onnx(variant)[1] == "int8"
    assert read_engine(from_fp32)[2].build_args[-2:] == ["--calibration-data", str(run.data)]

    device = tmp_path / "on-device"
    device.mkdir()
    prequantized = _copy(variant, device)
    on_device = device / "model.engine"
    checks = write_engine_file(prequantized, on_device, "int8", max_batch=4).checks
    assert any("random frames" in line for line in checks)  # nothing to calibrate: no images were read
    assert [p.name for p in device.iterdir() if p.suffix == ".onnx"] == ["patchcore.int8.onnx"]  # no new variant
    assert "--calibration-data" not in read_engine(on_device)[2].build_args

    frames = load_parity_frames(run.run)[:4]
    ref = _ort(graph, frames)
    for engine in (from_fp32, on_device):
        got = _engine_outputs(engine, frames)
        for name in ("score", "anomaly_map"):
            assert _max_diff(got, ref, name) <= VARIANT_ATOL["int8"], (engine.name, name)


def test_an_fp16_bank_graph_is_an_fp32_graph(trt_env, patchcore_bank, tmp_path):  # noqa: F811 - the fixture
    """PatchCore --bank-dtype fp16: fp32 builds it as it is; fp16 converts the backbone (it was fp32)."""
    bank = patchcore_bank("patchcore-bank-fp16")
    graph = _copy(bank.onnx, tmp_path)
    assert any(t.data_type == TensorProto.FLOAT16 for t in onnx.load(graph).graph.initializer)  # the bank
    assert read_onnx(graph)[1] == "fp32"
    write_engine_file(graph, tmp_path / "bank.fp32.engine", "fp32", max_batch=2)
    assert read_engine(tmp_path / "bank.fp32.engine")[2].precision == "fp32"
    written = write_engine_file(graph, tmp_path / "bank.fp16.engine", "fp16", max_batch=2)
    variant = graph.with_name(f"{graph.stem}.fp16.onnx")
    assert variant in written.files
    convs = [n for n in onnx.load(variant).graph.node if n.op_type == "Conv"]
    types = {t.name: t.data_type for t in onnx.load(variant).graph.initializer}
    assert convs and all(types[n.input[1]] == TensorProto.FLOAT16 for n in convs)  # the backbone is fp16 now


# ---------------------------------------------------------------- what the fake recorded, per line


@pytest.mark.parametrize(
    ("line", "precision", "network_bits", "set_flags"),
    [
        ("8.5", "fp16", 1 << 0, ["FP16", "OBEY_PRECISION_CONSTRAINTS"]),  # EXPLICIT_BATCH, weak typing + pins
        ("8.5", "int8", 1 << 0, ["INT8"]),  # Q/DQ graph + INT8 flag
        ("10", "fp16", 1 << 1, []),  # STRONGLY_TYPED, no precision flag
        ("10", "int8", 1 << 1, []),
        ("11", "fp16", 0, []),  # no flag exists: always strongly typed
        ("11", "int8", 0, []),
    ],
)
def test_graph_path_calls_per_line(monkeypatch, trained, tmp_path, capsys, line, precision, network_bits, set_flags):
    fakes = install(monkeypatch, LINES[line])
    run = trained("patchcore")
    graph = _copy(run.onnx, tmp_path)
    options = {"calibration_data": run.data} if precision == "int8" else {}
    write_engine_file(graph, tmp_path / "m.engine", precision, min_batch=2, opt_batch=3, max_batch=4,
                      workspace_gb=0.5, **options)  # fmt: skip
    rec = fakes.record
    assert rec.args("Builder.create_network") == [(network_bits,)]
    assert [a[0] for a in rec.args("IBuilderConfig.set_flag")] == set_flags
    assert rec.args("IBuilderConfig.clear_flag") == [("TF32",)]
    assert rec.args("IBuilderConfig.set_memory_pool_limit") == [("WORKSPACE", 1 << 29)]
    shapes = ((2, 128, 128, 3), (3, 128, 128, 3), (4, 128, 128, 3))
    assert rec.args("IOptimizationProfile.set_shape") == [("image", *shapes)]
    assert rec.args("OnnxParser.parse_from_file") == [(str(graph.with_name(f"patchcore.{precision}.onnx")),)]
    pinned = {a[0] for a in rec.args("ILayer.precision")}
    if line == "8.5" and precision == "fp16":  # the fp16 graph's fp32 layers (kNN, map, scores), no backbone Conv
        conv = {n.name for n in onnx.load(graph.with_name("patchcore.fp16.onnx")).graph.node if n.op_type == "Conv"}
        assert pinned and not pinned & conv
        assert {a[0] for a in rec.args("ILayer.set_output_type")} == pinned
    else:
        assert not pinned
    io = "IExecutionContext.execute_async_v2" if line == "8.5" else "IExecutionContext.execute_async_v3"
    assert rec.args(io), "the parity check did not run the engine"
    assert ("IBuilderConfig.progress_monitor" in rec.names()) is (line != "8.5")  # IProgressMonitor is 10+
    label = line if line == "8.5" else f"{line}.x"
    assert f"doctor: patchcore.{precision}.onnx for TensorRT {label}" in capsys.readouterr().out


@pytest.mark.parametrize("line", ["8.5", "10"])
def test_builder_int8_calls_calibrate_with_a_calibration_profile(monkeypatch, fixture_onnx, tmp_path, bottle, line):
    fakes = install(monkeypatch, LINES[line])
    data = tmp_path / "good"
    data.mkdir()
    for path in sorted((bottle / "train" / "good").glob("*.png"))[:5]:
        shutil.copy(path, data / path.name)
    write_engine_file(fixture_onnx, tmp_path / "m.engine", "int8", precision_mode="builder", calibration_data=data,
                      max_batch=4)  # fmt: skip
    rec = fakes.record
    assert [a[0] for a in rec.args("IBuilderConfig.set_flag")] == ["INT8", "FP16"]
    assert rec.args("IBuilderConfig.set_calibration_profile") == [({"image": ((5, *SIZE, 3),) * 3},)]
    assert rec.args("IBuilderConfig.int8_calibrator") == [("calibrator",)]
    assert len(rec.args("calibration batch")) == 1 and rec.args("calibrated") == [(1,)]  # 5 images, one batch of 5
    assert rec.args("cudaFree"), "the calibrator's device buffer was not freed"


def test_timing_cache_from_another_tensorrt_is_replaced(monkeypatch, fixture_onnx, tmp_path):
    cache = tmp_path / "timing.cache"
    install(monkeypatch, LINES["8.5"])
    write_engine_file(fixture_onnx, tmp_path / "a.engine", "fp32", max_batch=2, timing_cache=cache)
    fakes = install(monkeypatch, LINES["10"])
    checks = write_engine_file(fixture_onnx, tmp_path / "b.engine", "fp32", max_batch=2, timing_cache=cache).checks
    assert any("is from another TensorRT/GPU: started a new one" in line for line in checks)
    assert [a[2] for a in fakes.record.args("IBuilderConfig.set_timing_cache")] == [False, False]  # ignore_mismatch
    assert fakes.record.args("ITimingCache.serialize") == [(1,)]  # the new cache, with this build's entry only


@pytest.mark.parametrize("content", [None, b"NOT A TIMING CACHE"], ids=["truncated", "foreign"])
def test_a_timing_cache_tensorrt_cannot_read_is_replaced_not_a_crash(monkeypatch, fixture_onnx, tmp_path, content):
    """``create_timing_cache`` returns None for bytes it cannot deserialize (Polygraphy's CreateConfig checks)."""
    cache = tmp_path / "timing.cache"
    install(monkeypatch, LINES["10"])
    write_engine_file(fixture_onnx, tmp_path / "a.engine", "fp32", max_batch=2, timing_cache=cache)
    good = cache.read_bytes()
    cache.write_bytes(good[: len(good) // 2] if content is None else content)  # cut in half, or not a cache at all
    fakes = install(monkeypatch, LINES["10"])
    written = write_engine_file(fixture_onnx, tmp_path / "b.engine", "fp32", max_batch=2, timing_cache=cache)
    assert any("is unreadable (truncated, or another TensorRT's format): started a new one" in line
               for line in written.checks), written.checks  # fmt: skip
    assert fakes.record.args("ITimingCache.serialize") == [(1,)] and cache.read_bytes() != content


def test_dla_calls_and_the_engine_loads_on_the_same_core(monkeypatch, fixture_onnx, tmp_path):
    fakes = install(monkeypatch, LINES["8.6"], dla_cores=2)
    engine = tmp_path / "dla.engine"
    write_engine_file(fixture_onnx, engine, "fp16", precision_mode="builder", dla_core=1, max_batch=2)
    rec = fakes.record
    assert rec.args("IBuilderConfig.default_device_type") == [(fakes.trt.DeviceType.DLA,)]
    assert rec.args("IBuilderConfig.DLA_core") == [(1,)]
    assert "GPU_FALLBACK" in [a[0] for a in rec.args("IBuilderConfig.set_flag")]
    assert read_engine(engine)[2].dla_core == 1 and read_engine(engine)[2].batch == (2, 2, 2)
    assert rec.args("Runtime.DLA_core") == [(1,)]  # the parity check loaded it on core 1


def test_dla_on_a_device_without_one_builds_for_the_gpu_and_says_so(monkeypatch, fixture_onnx, tmp_path, capsys):
    fakes = install(monkeypatch, LINES["10"], dla_cores=0)
    written = write_engine_file(fixture_onnx, tmp_path / "m.engine", "fp16", precision_mode="builder", dla_core=0)
    assert any("no DLA core" in line for line in written.checks) and "no DLA core" in capsys.readouterr().err
    assert not fakes.record.args("IBuilderConfig.default_device_type")
    assert read_engine(tmp_path / "m.engine")[2].dla_core is None


def _custom_op_graph() -> onnx.ModelProto:
    """The fixture contract with a vendor op in the middle: neither the doctor's table nor the parser has it."""
    nodes = [
        helper.make_node("Cast", ["image"], ["x"], to=TensorProto.FLOAT, name="to_float"),
        helper.make_node("Scorer", ["x"], ["score"], name="vendor_scorer", domain="com.vendor"),
    ]
    image = helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", HEIGHT, WIDTH, 3])
    score = helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])
    graph = helper.make_graph(nodes, "custom", [image], [score])
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.vendor", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    helper.set_model_props(model, {"edgead": metadata().to_json()})
    return model


@pytest.mark.parametrize(("line", "op_named"), [("8.5", False), ("10", True)])
def test_parser_errors_are_collected_by_node(monkeypatch, tmp_path, line, op_named):
    """8.x's ParserError gives the node index only (the name comes from the graph); 10.x also its name and op."""
    fakes = install(monkeypatch, LINES[line])
    path = tmp_path / "custom.onnx"
    onnx.save(_custom_op_graph(), path)
    with pytest.raises(TrtBuildError, match="no engine built: edgead doctor") as doctored:
        write_engine_file(path, tmp_path / "m.engine", "fp32")
    assert "vendor_scorer" in str(doctored.value) and not fakes.record.args("OnnxParser.parse_from_file")
    with pytest.raises(TrtBuildError, match="rejected") as parsed:
        write_engine_file(path, tmp_path / "m.engine", "fp32", doctor=False)
    text = str(parsed.value)
    assert "node 'vendor_scorer'" in text and "No importer registered for op: Scorer" in text
    assert ("(Scorer)" in text) is op_named
    assert not (tmp_path / "m.engine").exists()


def test_an_engine_that_does_not_load_back_is_not_written(monkeypatch, fixture_onnx, tmp_path):
    fakes = install(monkeypatch, LINES["10"])

    def refuse(self, data):  # what TensorRT does on a bad plan: None, the reason only in the log
        self.logger.log(fakes.trt.ILogger.Severity.ERROR, "Error Code 1: Serialization (magic tag mismatch)")

    monkeypatch.setattr(fakes.trt.Runtime, "deserialize_cuda_engine", refuse)
    engine = tmp_path / "m.engine"
    with pytest.raises(TrtBuildError, match="nothing was written to .*magic tag mismatch"):
        write_engine_file(fixture_onnx, engine, "fp32")
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "a half-valid engine or sidecar was left"


def test_export_doctors_the_parsed_graph_once_before_the_build(monkeypatch, fixture_onnx, tmp_path, capsys):
    fakes = install(monkeypatch, LINES["10"])
    export(fixture_onnx, "trt", "fp32", tmp_path / "m.engine")
    out = capsys.readouterr().out
    assert out.count("doctor: fixture.onnx") == 1 and "doctor: fixture.onnx for TensorRT 10.x" in out
    assert fakes.record.args("OnnxParser.parse_from_file")
    export(fixture_onnx, "trt", "fp32", tmp_path / "n.engine", doctor=False)
    assert "doctor:" not in capsys.readouterr().out


def test_int8_from_a_run_dir_records_the_run_as_calibration_data_and_the_rebuild_command_works(
    monkeypatch, trained, tmp_path, capsys
):
    """The run's own fit images calibrate (as for its int8 .onnx); the sidecar's rebuild command names the run
    directory, so the rebuild calibrates on the same images, and rebuilds as printed."""
    from edgead.cli import main

    install(monkeypatch, LINES["10"])
    run = trained("patchcore")
    engine = tmp_path / "from-run.engine"
    written = write_engine_file(run.run, engine, "int8", max_batch=2)
    fp32 = run.run / "patchcore.onnx"
    assert fp32 in written.files
    out = capsys.readouterr().out
    for version in ("8.5", "10.x", "11.x"):  # the fp32 graph export wrote is doctored like any export
        assert f"doctor: patchcore.onnx for TensorRT {version}" in out
    info = read_engine(engine)[2]
    assert info.build_args[-2:] == ["--calibration-data", str(run.run)]
    command = next(line for line in written.checks if line.startswith("rebuild")).split(": ", 1)[1]
    argv = shlex.split(command)
    assert argv[:2] == ["edgead", "export"] and Path(argv[2]).resolve() == fp32.resolve()
    engine.unlink()
    assert main(argv[1:]) == 0
    assert read_engine(engine)[2].build_args == info.build_args


JETSON = """
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
sys.path.insert(0, sys.argv[1])
from fake_tensorrt import make_fakes
sys.modules.update(make_fakes(sys.argv[2]).modules)  # TensorRT + cuda-python, as JetPack has them
from edgead.cli import main
code = main(["export", *sys.argv[3:]])
assert "torch" not in [m for m, v in sys.modules.items() if v is not None], "torch was imported"
print("exit", code)
"""


@pytest.mark.parametrize(
    ("name", "precision"), [("patchcore.onnx", "fp16"), ("patchcore.int8.onnx", "int8"), ("patchcore.onnx", "fp32")]
)
def test_jetson_build_from_onnx_needs_no_torch(trained, tmp_path, name, precision):
    """`edgead export model.onnx --format trt` on a device with TensorRT and no torch: fp16 and fp32 from the
    workstation's fp32 .onnx, int8 from its model.int8.onnx (no calibration images on the device)."""
    from edgead.train.run_dir import load_parity_frames

    run = trained("patchcore")
    graph = _copy(run.onnx, tmp_path)
    if name == "patchcore.int8.onnx":
        graph = quantize_int8(graph, tmp_path / name, load_parity_frames(run.run))
    engine = tmp_path / "model.engine"
    args = [str(graph), "--format", "trt", "--precision", precision, "--max-batch", "2", "-o", str(engine)]
    done = subprocess.run(
        [sys.executable, "-c", JETSON, str(RUNTIME_TESTS), LINES["10"], *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "exit 0" in done.stdout, done.stdout + done.stderr
    assert read_engine(engine)[2].precision == precision
    assert "engine vs onnxruntime" in done.stdout and "next: edgead-runtime predict" in done.stdout
    sidecar = json.loads(sidecar_path(engine).read_text())
    assert sidecar["precision"] == precision  # the ONNX metadata of the graph that was built


def test_make_fakes_names_the_cuda_module():
    with pytest.raises(ValueError, match="cuda_module"):
        make_fakes(cuda_module="pycuda")


def _dequantize_input_types(path: Path) -> set[str]:
    model = onnx.load(str(path))
    inits = {t.name: t.data_type for t in model.graph.initializer}
    types = {v.name: v.type.tensor_type.elem_type for v in onnx.shape_inference.infer_shapes(model).graph.value_info}
    types.update(inits)
    return {TensorProto.DataType.Name(types[n.input[0]]) for n in model.graph.node if n.op_type == "DequantizeLinear"}


@pytest.mark.parametrize("line", ["8.5", "10", "11"])
def test_an_int32_bias_qdq_graph_is_stopped_by_the_doctor_and_refused_by_the_parser(
    monkeypatch, trained, tmp_path, line
):
    """onnxruntime's default QuantizeBias=True (edgead before this fix): the parser fails on every line."""
    from edgead.export import precision
    from edgead.export.calibration import calibration_set
    from edgead.export.doctor import diagnose

    t = trained("patchcore")
    frames = calibration_set(t.run, (128, 128), 8)[0]
    graph = _copy(t.onnx, tmp_path)
    fixed = quantize_int8(graph, tmp_path / "patchcore.int8.onnx", frames)
    assert _dequantize_input_types(fixed) == {"INT8"}  # weights and activations only: no INT32 bias
    assert diagnose(fixed, "trt", line).ok
    monkeypatch.setattr(precision, "INT8_EXTRA_OPTIONS", {"ActivationSymmetric": True, "WeightSymmetric": True})
    old = quantize_int8(graph, tmp_path / "old.int8.onnx", frames)
    assert _dequantize_input_types(old) == {"INT8", "INT32"}
    assert {f.check for f in diagnose(old, "trt", line).findings if f.severity == "error"} == {"qdq"}
    install(monkeypatch, LINES[line])
    with pytest.raises(TrtBuildError, match="only activation types allowed as input to this layer"):
        write_engine_file(old, tmp_path / "old.engine", "int8", doctor=False, max_batch=2)
    with pytest.raises(TrtBuildError, match="no engine built: edgead doctor found errors"):
        write_engine_file(old, tmp_path / "old.engine", "int8", max_batch=2)
    written = write_engine_file(fixed, tmp_path / "fixed.engine", "int8", max_batch=2)
    assert (tmp_path / "fixed.engine").is_file() and written.checks


def test_8x_fp16_pins_come_from_the_onnx_types_not_from_itensor_dtype(monkeypatch, trained, tmp_path):
    """Real 8.x computes ITensor.dtype itself while the network is defined; if it said FLOAT everywhere, pins read
    from it would cover the backbone too and the "fp16" engine would be fp32."""
    fakes = install(monkeypatch, LINES["8.5"])
    fakes.trt.fake_definition_types = "float"
    graph = _copy(trained("patchcore").onnx, tmp_path)
    write_engine_file(graph, tmp_path / "m.engine", "fp16", max_batch=2)
    variant = graph.with_name("patchcore.fp16.onnx")
    conv = {n.name for n in onnx.load(variant).graph.node if n.op_type == "Conv"}
    pinned = {a[0] for a in fakes.record.args("ILayer.precision")}
    assert conv and pinned and not pinned & conv
    from edgead.export.tensorrt_plan import fp32_nodes

    assert pinned == fp32_nodes(variant)  # the fake names one layer per node, after the node
