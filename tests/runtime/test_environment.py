"""``edgead-runtime env`` and the ONNX Runtime install checks, on this machine's real engines where they exist.

Here (no GPU, CPU onnxruntime, OpenVINO, no TensorRT) the report must say: ONNX Runtime's CPU provider and
OpenVINO's CPU load; the CUDA/TensorRT providers are not in this build, with the command that installs them;
TensorRT does not load, with the reason. What cannot happen here (a GPU provider that falls back, two
onnxruntime builds, a TensorRT that imports) is driven through stand-ins: the FAKE TensorRT, a stand-in
onnxruntime that logs to the real stderr file descriptor, and a patched list of installed distributions.
"""

from __future__ import annotations

import json
import os
import sys
import types

import onnx
import pytest

from edgead_runtime import environment, ort_install
from edgead_runtime.backends import open_backend
from edgead_runtime.cli import main
from edgead_runtime.errors import BackendError

from .fake_tensorrt import LINES, install


def _by_name(checks):
    return {(c.engine, c.name): c for c in checks}


def test_probe_graph_is_one_relu_at_opset_17():
    model = onnx.load_from_string(environment.PROBE_ONNX)
    onnx.checker.check_model(model)
    assert [n.op_type for n in model.graph.node] == ["Relu"] and model.opset_import[0].version == 17


def test_here_ort_cpu_and_openvino_load_and_tensorrt_does_not_with_the_reason():
    pytest.importorskip("openvino")
    try:
        import tensorrt  # noqa: F401

        pytest.skip("TensorRT is installed on this machine")
    except ImportError:
        pass
    checks = environment.collect()
    found = _by_name(checks)
    assert found[("onnxruntime", "CPUExecutionProvider")].ok
    assert found[("openvino", "CPU")].ok and "compiles the probe graph" in found[("openvino", "CPU")].detail
    trt = found[("tensorrt", "module")]
    assert not trt.ok and "TensorRT is not installed" in trt.detail and "docs/tensorrt.md" in trt.detail
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        cuda = found[("onnxruntime", "CUDAExecutionProvider")]
        assert not cuda.ok and "not in this build" in cuda.detail and "edgead-runtime[gpu]" in cuda.detail
    backends = environment.usable_backends(checks)
    assert backends["onnxruntime"] and backends["openvino"] and not backends["tensorrt"]


def test_cli_prints_every_check_and_json(capsys):
    assert main(["env"]) == 0
    text = capsys.readouterr().out
    assert "onnxruntime CPUExecutionProvider" in text and "backends that run here: onnxruntime" in text
    assert main(["env", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["backends"]["onnxruntime"] is True
    assert {"engine", "name", "ok", "detail"} <= set(data["checks"][0])


def test_a_provider_that_falls_back_shows_what_onnxruntime_logged():
    """onnxruntime-gpu without cuDNN: the session starts on the CPU and only the C++ log says why."""

    class Session:
        def __init__(self, model, providers):
            os.write(
                2,
                b"2026-01-01 [E:onnxruntime:Default, provider_bridge_ort.cc:2036 TryGetProviderInfo_CUDA] "
                b"libcudnn.so.9: cannot open shared object file: No such file or directory\n",
            )

        def get_providers(self):
            return ["CPUExecutionProvider"]

    ort = types.SimpleNamespace(InferenceSession=Session)
    check = environment._attempt(
        "onnxruntime",
        "CUDAExecutionProvider",
        lambda: environment._ort_probe(ort, "CUDAExecutionProvider"),
        "does not load",
    )
    assert not check.ok
    assert "libcudnn.so.9: cannot open shared object file" in check.detail
    assert "[E:onnxruntime" not in check.detail


def test_two_onnxruntime_builds_are_reported_with_the_way_out(monkeypatch, model_path):
    both = {"onnxruntime": "1.22.0", "onnxruntime-gpu": "1.22.0"}
    monkeypatch.setattr(ort_install, "installed", lambda: dict(both))
    message = ort_install.conflict()
    assert "onnxruntime 1.22.0, onnxruntime-gpu 1.22.0 are all installed" in message
    assert "pip uninstall -y onnxruntime onnxruntime-gpu && pip install 'edgead-runtime[gpu]'" in message
    install_check = _by_name(environment.onnxruntime_checks())[("onnxruntime", "install")]
    assert not install_check.ok and install_check.detail == message
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():  # the CPU build won, as here
        with pytest.raises(BackendError, match=r"has no CUDAExecutionProvider.*Here: .*are all installed"):
            open_backend(model_path, "ort-cuda")
    assert ort_install.conflict({"onnxruntime-gpu": "1.22.0"}) is None


@pytest.mark.parametrize(
    ("module", "message"),
    [
        (None, r"onnxruntime is not installed .*edgead-runtime\[cpu\].*edgead-runtime\[gpu\]"),
        (types.ModuleType("onnxruntime"), "incomplete .*pip uninstall -y onnxruntime onnxruntime-gpu"),
    ],
)
def test_a_missing_or_half_uninstalled_onnxruntime_says_what_to_install(monkeypatch, model_path, module, message):
    monkeypatch.setitem(sys.modules, "onnxruntime", module)
    with pytest.raises(BackendError, match=message):
        open_backend(model_path)
    assert _by_name(environment.onnxruntime_checks())[("onnxruntime", "module")].ok is False


@pytest.mark.parametrize("line", ["8.5", "10"])
def test_tensorrt_with_a_gpu_loads(monkeypatch, line):
    install(monkeypatch, LINES[line])
    found = _by_name(environment.tensorrt_checks())
    assert found[("tensorrt", "module")].detail == f"tensorrt {LINES[line]}"
    assert found[("tensorrt", "cuda")].detail == "Fake Orin, compute capability 8.7"
    assert found[("tensorrt", "runtime")].ok


def test_tensorrt_without_a_cuda_device_says_so(monkeypatch):
    install(monkeypatch, LINES["10"], devices=[])
    found = _by_name(environment.tensorrt_checks())
    assert found[("tensorrt", "module")].ok and not found[("tensorrt", "cuda")].ok
    assert "cudaErrorNoDevice" in found[("tensorrt", "cuda")].detail  # what cudaGetDeviceCount returns with no GPU
