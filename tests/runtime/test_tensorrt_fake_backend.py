"""The ``tensorrt`` runtime backend driven through the recording FAKE TensorRT + cuda-python (fake_tensorrt.py).

No GPU and no TensorRT here, so this is what runs of ``backends/tensorrt.py``: the I/O API per TensorRT line
(binding API on 8.x, tensor names and ``execute_async_v3`` on 10+), buffer allocation for the profile's largest
batch, the copies and the enqueue of each run, ``close``, the ``deserialize_cuda_engine`` -> None path with the
captured log, and ``import_cudart``'s fallback. The fake engine runs the graph with ONNX Runtime, so outputs are
checked against the fixture graph's numpy formula: that proves the data went through every buffer, nothing about
TensorRT's numbers (the real-GPU tests in tests/export/test_tensorrt_engines.py do that where a GPU exists).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgead_runtime.backends import open_backend
from edgead_runtime.backends.tensorrt import capturing_logger, import_cudart
from edgead_runtime.engine_file import EngineInfo, write_engine
from edgead_runtime.errors import BackendError, FrameMismatchError, ModelFileError

from .fake_tensorrt import LINES, Fakes, install
from .graphs import HEIGHT, WIDTH, reference

TENSOR_CALLS = ("IExecutionContext.set_input_shape", "IExecutionContext.execute_async_v3")
BINDING_CALLS = ("IExecutionContext.set_binding_shape", "IExecutionContext.execute_async_v2")


def build_plan(fakes: Fakes, model_path: Path, batch: tuple[int, int, int]) -> bytes:
    """Serialize ``model_path`` with the fake builder, the calls edgead's build makes (no edgead.export here)."""
    trt = fakes.trt
    logger = capturing_logger(trt)
    builder = trt.Builder(logger)
    flags = trt.NetworkDefinitionCreationFlag
    network = builder.create_network(1 << int(flags.EXPLICIT_BATCH) if "EXPLICIT_PRECISION" in flags.__members__ else 0)
    assert trt.OnnxParser(network, logger).parse_from_file(str(model_path))
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_shape("image", *((n, HEIGHT, WIDTH, 3) for n in batch))
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    assert plan is not None, logger.lines("ERROR")
    return plan


def engine_file(fakes: Fakes, tmp_path: Path, model_path: Path, batch=(1, 2, 4), built_with: str | None = None) -> Path:
    metadata = json.loads({p.key: p.value for p in onnx.load(model_path).metadata_props}["edgead"])
    info = EngineInfo(
        tensorrt_version=built_with or fakes.trt.__version__,
        device="Fake Orin",
        compute_capability="8.7",
        precision="fp32",
        precision_mode="graph",
        batch=batch,
        source_onnx=model_path.name,
        build_args=["--precision", "fp32"],
    )
    return write_engine(tmp_path / "model.engine", build_plan(fakes, model_path, batch), metadata, info)


def _frames(n: int) -> np.ndarray:
    return np.random.default_rng(n).integers(0, 256, (n, HEIGHT, WIDTH, 3), dtype=np.uint8)


@pytest.mark.parametrize("line", ["8.5", "8.6", "10", "11"])
def test_runs_every_batch_through_the_io_api_of_each_line(monkeypatch, tmp_path, model_path, line):
    fakes = install(monkeypatch, LINES[line])
    engine = engine_file(fakes, tmp_path, model_path)
    with open_backend(engine) as backend:
        assert type(backend.io).__name__ == ("_BindingIO" if line.startswith("8.") else "_TensorIO")
        assert (backend.min_batch, backend.max_batch) == (1, 4)
        assert backend.input_shape == ("batch<=4", HEIGHT, WIDTH, 3)
        assert backend.output_shapes["anomaly_map"] == ("batch<=4", HEIGHT, WIDTH)
        for n in (1, 3, 4):
            out, ref = backend.run(_frames(n)), reference(_frames(n))
            for name, value in ref.items():
                np.testing.assert_allclose(out[name], value, atol=1e-6, err_msg=name)
        with pytest.raises(FrameMismatchError, match="batches of 1 up to 4, got 5"):
            backend.run(_frames(5))
        described = backend.describe()
    assert described["version"] == LINES[line] and described["device"] == "Fake Orin" and described["max_batch"] == 4
    names = fakes.record.names()
    used, unused = (BINDING_CALLS, TENSOR_CALLS) if line.startswith("8.") else (TENSOR_CALLS, BINDING_CALLS)
    assert all(name in names for name in used) and not any(name in names for name in unused)
    profile = "ICudaEngine.get_profile_shape" if line.startswith("8.") else "ICudaEngine.get_tensor_profile_shape"
    assert fakes.record.args(profile)
    if not line.startswith("8."):  # each I/O tensor is bound by name once, at allocation
        bound = [a[0] for a in fakes.record.args("IExecutionContext.set_tensor_address")]
        assert sorted(bound) == sorted(["image", "score", "anomaly_map", "raw_score", "raw_anomaly_map"])


def test_buffers_are_sized_for_the_largest_batch_and_freed_on_close(monkeypatch, tmp_path, model_path):
    fakes = install(monkeypatch, LINES["10"])
    engine = engine_file(fakes, tmp_path, model_path, batch=(1, 1, 4))
    before = set(fakes.cudart.live_allocations)
    backend = open_backend(engine)
    frame, fmap = 4 * HEIGHT * WIDTH * 3, 4 * HEIGHT * WIDTH * 4  # uint8 frames, float32 maps
    sizes = sorted(a[0] for a in fakes.record.args("cudaMalloc"))
    assert sizes == sorted([frame, fmap, fmap, 16, 16])  # image, two maps, two scores
    assert sorted(a[0] for a in fakes.record.args("cudaMallocHost")) == sizes  # a pinned twin of each
    backend.run(_frames(2))
    copies = fakes.record.args("cudaMemcpyAsync")
    assert ("cudaMemcpyHostToDevice", 2 * HEIGHT * WIDTH * 3) in copies  # only the batch's bytes move
    assert ("cudaMemcpyDeviceToHost", 2 * HEIGHT * WIDTH * 4) in copies
    assert fakes.record.names().count("cudaStreamSynchronize") == 1  # one sync per run
    backend.close()
    assert set(fakes.cudart.live_allocations) == before, "device or pinned memory leaked"
    assert "cudaStreamDestroy" in fakes.record.names()
    with pytest.raises(BackendError, match="closed"):
        backend.run(_frames(1))


def test_a_plan_that_does_not_deserialize_quotes_the_tensorrt_log(monkeypatch, tmp_path, model_path):
    """Same major.minor.patch passes the sidecar check; TensorRT refuses the plan and says why only in its log."""
    fakes = install(monkeypatch, "10.3.0.26")
    engine = engine_file(fakes, tmp_path, model_path)
    install(monkeypatch, "10.3.0.30")
    with pytest.raises(ModelFileError) as error:
        open_backend(engine)
    text = str(error.value)
    assert "could not load" in text and "Version tag does not match: plan 10.3.0.26, runtime 10.3.0.30" in text
    assert "edgead export" in text and "--format trt --precision fp32" in text  # how to rebuild


def test_an_engine_of_another_tensorrt_line_is_refused_before_deserializing(monkeypatch, tmp_path, model_path):
    fakes = install(monkeypatch, LINES["10"])
    engine = engine_file(fakes, tmp_path, model_path, built_with=LINES["8.6"])
    with pytest.raises(ModelFileError, match="built with TensorRT 8.6.1.6.*this machine runs TensorRT 10.3.0.26"):
        open_backend(engine)
    assert "Runtime.deserialize_cuda_engine" not in fakes.record.names()


def test_no_cuda_device_is_a_clear_error(monkeypatch, tmp_path, model_path):
    fakes = install(monkeypatch, LINES["10"])
    engine = engine_file(fakes, tmp_path, model_path)
    install(monkeypatch, LINES["10"], devices=[])
    with pytest.raises(BackendError, match="cudaGetDeviceCount failed: cudaErrorNoDevice"):
        open_backend(engine)


@pytest.mark.parametrize("module", ["cuda.bindings.runtime", "cuda.cudart"])
def test_import_cudart_takes_cuda_bindings_and_falls_back_to_cuda_cudart(monkeypatch, module):
    fakes = install(monkeypatch, cuda_module=module)
    assert import_cudart() is fakes.cudart and import_cudart().__name__ == module


def test_import_cudart_without_cuda_python_says_how_to_install_it(monkeypatch):
    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.cudart"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(BackendError, match="cuda-python is not installed.*pip install"):
        import_cudart()


def test_an_8_5_engine_opens_with_numpy_1_24_to_1_26_where_trt_nptype_fails(monkeypatch, tmp_path, model_path):
    """TensorRT 8.5.x's ``nptype`` reads ``np.bool``, which numpy 1.24-1.26 lack (NVIDIA/TensorRT#2557)."""
    fakes = install(monkeypatch, LINES["8.5"])
    engine = engine_file(fakes, tmp_path, model_path)
    monkeypatch.delattr(np, "bool", raising=False)  # what numpy 1.24-1.26 look like to `np.bool`
    with pytest.raises(AttributeError):
        fakes.trt.nptype(fakes.trt.float32)  # the fake fails as 8.5.2 does
    with open_backend(engine) as backend:
        assert backend.run(_frames(2))["score"].dtype == np.float32


@pytest.mark.parametrize("failing", [("cudaMalloc", 3), ("cudaMallocHost", 2), ("cudaMallocHost", 5)])
def test_a_failed_allocation_in_open_frees_everything_allocated_before_it(monkeypatch, tmp_path, model_path, failing):
    fakes = install(monkeypatch, LINES["10"])
    engine = engine_file(fakes, tmp_path, model_path)
    before = set(fakes.cudart.live_allocations)
    fakes.cudart.fail_allocation[failing[0]] = failing[1]  # that call runs out of memory
    with pytest.raises(BackendError, match=f"CUDA {failing[0]}.* failed: cudaErrorMemoryAllocation"):
        open_backend(engine)
    assert set(fakes.cudart.live_allocations) == before, "device or pinned memory leaked"
    assert not fakes.cudart.live_streams, "the CUDA stream leaked"
