"""TensorRT engine files and the GPU backends: what is checkable without a GPU is checked here.

The sidecar round trip, the version/device mismatch messages, the backend registry and the
missing-provider errors are pure Python or real ONNX Runtime. Running an engine needs TensorRT,
cuda-python and a CUDA GPU, and running ort-trt/ort-cuda needs onnxruntime-gpu: those tests skip
with the reason where that is missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edgead_runtime.backends import backend_for, onnxruntime_gpu, open_backend
from edgead_runtime.backends.onnxruntime_gpu import (
    CPU_EP,
    CUDA_EP,
    TRT_EP,
    providers_error,
    tensorrt_provider_options,
    tensorrt_providers,
)
from edgead_runtime.backends.tensorrt import io_api
from edgead_runtime.engine_file import (
    EngineInfo,
    compatibility_problem,
    deserialize_failure,
    device_warning,
    read_engine,
    rebuild_command,
    sidecar_path,
    write_engine,
)
from edgead_runtime.errors import BackendError, ModelFileError

from .graphs import metadata, reference

PLAN = b"serialized-engine-bytes" * 64  # stands for a plan: the file format is what is tested here
INFO = EngineInfo(
    tensorrt_version="8.6.1.6",
    device="Orin",
    compute_capability="8.7",
    precision="fp16",
    precision_mode="graph",
    batch=(1, 1, 4),
    source_onnx="model.onnx",
    build_args=["--precision", "fp16", "--max-batch", "4"],
)


def _onnx_metadata(model_path: Path) -> dict:
    text = {p.key: p.value for p in onnx.load(model_path).metadata_props}["edgead"]
    return json.loads(text)


@pytest.fixture()
def engine(tmp_path: Path, model_path: Path) -> Path:
    return write_engine(tmp_path / "model.engine", PLAN, _onnx_metadata(model_path), INFO)


# ---------------------------------------------------------------- engine file + sidecar


def test_engine_and_sidecar_round_trip(engine: Path, model_path: Path) -> None:
    assert engine.read_bytes() == PLAN  # a plain plan: trtexec --loadEngine reads it unchanged
    side = json.loads(sidecar_path(engine).read_text())
    assert sidecar_path(engine).name == "model.engine.json"
    onnx_meta = _onnx_metadata(model_path)
    assert {k: v for k, v in side.items() if k != "tensorrt"} == onnx_meta  # the same JSON as metadata_props
    data, meta, info = read_engine(engine)
    assert data == PLAN
    assert meta.to_dict() == metadata().to_dict()
    assert info.engine_bytes == len(PLAN) and len(info.engine_sha256) == 64
    assert (info.tensorrt_version, info.device, info.compute_capability) == ("8.6.1.6", "Orin", "8.7")
    assert info.batch == (1, 1, 4) and info.build_args == INFO.build_args
    assert side["tensorrt"]["batch"] == {"min": 1, "opt": 1, "max": 4}


def test_engine_without_its_sidecar_says_to_copy_both(engine: Path) -> None:
    sidecar_path(engine).unlink()
    with pytest.raises(ModelFileError, match="no metadata file 'model.engine.json' beside it"):
        read_engine(engine)


def test_mismatched_pair_is_caught_by_the_checksum(engine: Path) -> None:
    engine.write_bytes(PLAN[:-1] + b"!")
    with pytest.raises(ModelFileError, match="is not the engine 'model.engine.json' describes.*edgead export"):
        read_engine(engine)


def test_malformed_sidecar_is_a_clear_error(engine: Path) -> None:
    side = sidecar_path(engine)
    data = json.loads(side.read_text())
    del data["tensorrt"]["device"]
    side.write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match="'tensorrt' metadata is malformed"):
        read_engine(engine)
    side.write_text("{not json")
    with pytest.raises(ModelFileError, match="cannot read"):
        read_engine(engine)


def test_missing_engine_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist; build it with `edgead export"):
        read_engine(tmp_path / "none.engine")


# ---------------------------------------------------------------- version / device mismatch


def test_same_release_and_architecture_loads(tmp_path: Path) -> None:
    assert compatibility_problem(tmp_path / "m.engine", INFO, "8.6.1.6", "Orin", "8.7") is None
    assert compatibility_problem(tmp_path / "m.engine", INFO, "8.6.1", "Orin", "8.7") is None  # build number aside


def test_other_tensorrt_version_says_to_rebuild_with_the_exact_command(tmp_path: Path) -> None:
    engine = tmp_path / "model.engine"
    text = compatibility_problem(engine, INFO, "10.3.0.30", "Orin", "8.7")
    assert text is not None
    assert "built with TensorRT 8.6.1.6 on Orin (compute capability 8.7)" in text
    assert "this machine runs TensorRT 10.3.0.30 on Orin" in text
    expected = f"edgead export {tmp_path / 'model.onnx'} --format trt --precision fp16 --max-batch 4 -o {engine}"
    assert f"`{expected}`" in text
    assert rebuild_command(engine, INFO) == expected


def test_other_gpu_architecture_says_to_rebuild(tmp_path: Path) -> None:
    text = compatibility_problem(tmp_path / "model.engine", INFO, "8.6.1.6", "NVIDIA H100 80GB HBM3", "9.0")
    assert text is not None and "NVIDIA H100 80GB HBM3 (compute capability 9.0)" in text and "rebuild" in text


def test_same_architecture_other_gpu_model_is_a_warning_not_an_error(tmp_path: Path) -> None:
    engine = tmp_path / "model.engine"
    assert compatibility_problem(engine, INFO, "8.6.1.6", "Orin NX", "8.7") is None
    warning = device_warning(engine, INFO, "Orin NX")
    assert warning is not None and "built on Orin and runs on Orin NX" in warning
    assert device_warning(engine, INFO, "Orin") is None


def test_deserialize_failure_quotes_what_tensorrt_logged(tmp_path: Path) -> None:
    log = ["1: [stdArchiveReader.cpp::StdArchiveReader::40] Error Code 1: Serialization (Version tag does not match)"]
    engine = tmp_path / "Line-A" / "Model.engine"  # the command keeps the path's case
    text = deserialize_failure(engine, INFO, "8.6.1.6", "Orin", log)
    assert "Version tag does not match" in text and "Rebuild it on this machine" in text
    assert rebuild_command(engine, INFO) in text


def test_rebuild_command_quotes_paths_with_spaces(tmp_path: Path) -> None:
    engine = tmp_path / "my models" / "line 7.engine"
    command = rebuild_command(engine, INFO)
    assert f"'{tmp_path / 'my models' / 'model.onnx'}'" in command and f"-o '{engine}'" in command


@pytest.mark.parametrize(("version", "api"), [("8.5.2.2", "binding"), ("8.6.1", "binding"), ("10.3.0", "tensor")])
def test_io_api_follows_the_tensorrt_release(version: str, api: str) -> None:
    assert io_api(version) == api
    assert io_api("11.0.0.14") == "tensor"


# ---------------------------------------------------------------- registry and missing engines


def test_engine_suffixes_pick_the_tensorrt_backend() -> None:
    assert backend_for("line.engine") == "tensorrt"
    assert backend_for("line.plan") == "tensorrt"
    assert backend_for("line.onnx") == "onnxruntime"


def _importable(module: str) -> bool:
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


@pytest.mark.skipif(
    _importable("tensorrt"), reason="tensorrt is installed here: the missing-TensorRT message cannot show"
)
def test_opening_an_engine_without_tensorrt_says_how_to_install_it(engine: Path) -> None:
    with pytest.raises(BackendError, match="TensorRT is not installed.*JetPack"):
        open_backend(engine)


def test_runtime_tensorrt_modules_import_without_torch_or_onnx() -> None:
    script = (
        "import sys\n"
        "sys.modules['torch'] = None\nsys.modules['onnx'] = None\n"
        "import edgead_runtime.backends.tensorrt, edgead_runtime.backends.onnxruntime_gpu, edgead_runtime.engine_file\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr


# ---------------------------------------------------------------- onnxruntime GPU providers


def test_tensorrt_provider_options_for_fp16_and_an_engine_cache(tmp_path: Path) -> None:
    options = tensorrt_provider_options("fp16", tmp_path / "cache", device_id=1, workspace_gb=2, ort_version="1.17.0")
    assert options["trt_fp16_enable"] == "True" and options["trt_int8_enable"] == "False"
    assert options["trt_engine_cache_enable"] == "True"
    assert options["trt_engine_cache_path"] == str(tmp_path / "cache")
    assert options["trt_timing_cache_path"] == str(tmp_path / "cache")
    assert options["device_id"] == "1" and options["trt_max_workspace_size"] == str(2 << 30)
    plain = tensorrt_provider_options()
    assert "trt_engine_cache_enable" not in plain and plain["trt_fp16_enable"] == "False"
    assert tensorrt_provider_options("int8")["trt_int8_enable"] == "True"
    with pytest.raises(BackendError, match="precision 'bf16' is not one of: fp32 \\(f32\\), fp16 \\(f16\\), int8"):
        tensorrt_provider_options("bf16")


def test_ort_trt_hands_every_option_to_the_tensorrt_provider(
    model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """open() -> the providers the session gets; onnxruntime-gpu is absent here, so the session is recorded."""
    opened = {}

    def record(cls, path, options):  # stands in for the base ONNX Runtime open
        opened.update(path=path, providers=options.providers, threads=options.intra_op_threads)

    monkeypatch.setattr(onnxruntime_gpu, "_check_available", lambda requested: None)
    monkeypatch.setattr(onnxruntime_gpu.OnnxRuntimeBackend, "_open", classmethod(record))
    cache = tmp_path / "cache"
    open_backend(model_path, "ort-trt", precision="f16", engine_cache_dir=cache, device_id=1, workspace_gb=1.5)
    assert opened["providers"] == tensorrt_providers("fp16", cache, 1, 1.5, input_size=metadata().size)
    trt_name, trt_options = opened["providers"][0]
    assert trt_name == TRT_EP and trt_options["trt_max_workspace_size"] == str(3 << 29)
    assert trt_options["trt_fp16_enable"] == "True" and trt_options["device_id"] == "1"
    assert opened["providers"][1:] == [(CUDA_EP, {"device_id": "1"}), CPU_EP] and cache.is_dir()
    with pytest.raises(BackendError, match="workspace_gb must be > 0, got 0"):
        tensorrt_provider_options(workspace_gb=0)


def test_onnxruntime_1_16_gets_no_timing_cache_path_which_it_would_reject(tmp_path: Path) -> None:
    """``trt_timing_cache_path`` is new in onnxruntime 1.17 (microsoft/onnxruntime#17865); 1.16 rejects unknown keys."""
    old = tensorrt_provider_options("fp32", tmp_path, ort_version="1.16.3")
    assert "trt_timing_cache_path" not in old and old["trt_timing_cache_enable"] == "True"
    assert old["trt_engine_cache_path"] == str(tmp_path)  # where 1.16 keeps the timing cache too
    assert tensorrt_provider_options("fp32", tmp_path, ort_version="1.17.1")["trt_timing_cache_path"] == str(tmp_path)


def test_ort_trt_gives_the_engine_one_profile_for_every_batch(model_path: Path, monkeypatch) -> None:
    """Without trt_profile_*_shapes the provider builds a new engine for each new batch size."""
    opened = {}
    monkeypatch.setattr(onnxruntime_gpu, "_check_available", lambda requested: None)
    monkeypatch.setattr(onnxruntime_gpu.OnnxRuntimeBackend, "_open",
                        classmethod(lambda cls, path, options: opened.update(providers=options.providers)))  # fmt: skip
    open_backend(model_path, "ort-trt", max_batch=16)
    options = opened["providers"][0][1]
    height, width = metadata().size
    assert options["trt_profile_min_shapes"] == f"image:1x{height}x{width}x3"
    assert options["trt_profile_opt_shapes"] == f"image:1x{height}x{width}x3"
    assert options["trt_profile_max_shapes"] == f"image:16x{height}x{width}x3"


def test_ort_trt_refuses_int8_on_a_graph_without_qdq(model_path: Path) -> None:
    """TensorRT's int8 flag on an fp32 graph without a calibration table would run it without int8, silently."""
    with pytest.raises(BackendError, match=r"ort-trt int8 runs a Q/DQ graph, and '.*' is fp32.*--precision int8"):
        open_backend(model_path, "ort-trt", precision="int8")


def test_providers_error_names_the_missing_ones_and_the_fix() -> None:
    assert providers_error([CUDA_EP], [TRT_EP, CUDA_EP, "CPUExecutionProvider"], "1.20.0") is None
    text = providers_error([TRT_EP, CUDA_EP], ["CPUExecutionProvider"], "1.32.0")
    assert text is not None
    assert f"onnxruntime 1.32.0 has no {TRT_EP}, {CUDA_EP} (it has CPUExecutionProvider)" in text
    assert "onnxruntime-gpu" in text


@pytest.mark.parametrize(("backend", "provider"), [("ort-trt", TRT_EP), ("ort-cuda", CUDA_EP)])
def test_gpu_backends_without_onnxruntime_gpu_fail_before_running(model_path: Path, backend: str, provider: str):
    if provider in ort.get_available_providers():
        pytest.skip(f"{provider} is available here: the missing-provider error cannot show")
    with pytest.raises(BackendError, match=f"has no .*{provider}.*install onnxruntime-gpu"):
        open_backend(model_path, backend)


def test_onnxruntime_backend_takes_providers_with_options(model_path: Path) -> None:
    """The GPU backends hand (name, options) pairs to the base backend; the CPU provider proves the path."""
    batch = np.random.default_rng(0).integers(0, 256, (2, *metadata().size, 3), dtype=np.uint8)
    with open_backend(model_path, "onnxruntime", providers=[("CPUExecutionProvider", {})]) as backend:
        out = backend.run(batch)
    np.testing.assert_allclose(out["score"], reference(batch)["score"], atol=1e-6)


@pytest.mark.skipif(
    TRT_EP not in ort.get_available_providers(), reason="onnxruntime-gpu with TensorRT is not installed"
)
def test_ort_trt_runs_and_fills_the_engine_cache(model_path: Path, tmp_path: Path) -> None:
    batch = np.random.default_rng(0).integers(0, 256, (2, *metadata().size, 3), dtype=np.uint8)
    cache = tmp_path / "trt-cache"
    with open_backend(model_path, "ort-trt", engine_cache_dir=cache) as backend:
        out = backend.run(batch)
    np.testing.assert_allclose(out["score"], reference(batch)["score"], atol=1e-4)
    assert any(cache.iterdir()), "the TensorRT provider wrote no engine cache"
