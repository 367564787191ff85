"""``--device``: auto picks CUDA only when PyTorch sees it; a missing GPU is one line; CPU runs are deterministic.

The CUDA path itself runs in ``benchmarks/gpu_check.sh`` on a GPU machine (none here); these tests pin the
choice of device and, on the CPU, that ``--device cpu`` reproduces the default run bit for bit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edgead.cli import main
from edgead.train.device import resolve_device
from edgead_runtime.errors import EdgeadError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_auto_is_the_cpu_without_a_gpu(no_gpu):
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_auto_is_cuda_when_pytorch_sees_one(two_gpus):
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("CUDA:1") == torch.device("cuda:1")


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_without_a_gpu_names_the_fix(no_gpu, name):
    with pytest.raises(EdgeadError, match=rf"--device {name}: PyTorch .* sees no CUDA GPU.*--device cpu"):
        resolve_device(name)


def test_a_gpu_index_beyond_the_machine_lists_the_ones_it_has(two_gpus):
    with pytest.raises(EdgeadError, match=r"--device cuda:2: this machine has 2 CUDA GPU\(s\), cuda:0..cuda:1"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "mps", "cuda:-1", ""])
def test_unknown_devices_list_the_choices(name):
    with pytest.raises(EdgeadError, match="choose one of auto, cpu, cuda, cuda:N"):
        resolve_device(name)


def test_train_with_cuda_on_a_machine_without_one_is_one_line(no_gpu, tmp_path, capsys):
    # the device is checked before anything is read: the data folder need not even exist
    argv = ["train", "--model", "patchcore", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "run")]
    assert main([*argv, "--device", "cuda"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgead: error: --device cuda: PyTorch") and "\n" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["evaluate", "bench"])
def test_evaluate_and_bench_check_the_device_before_any_work(no_gpu, tmp_path, capsys, command):
    model = tmp_path / "model.onnx"  # never opened: the device is checked first
    argv = ["evaluate", str(model), "--data", str(tmp_path), "--compare-torch", str(tmp_path)]
    if command == "bench":
        argv = ["bench", str(tmp_path), str(model)]
    assert main([*argv, "--device", "cuda:1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgead: error: --device cuda:1: PyTorch") and "\n" not in err


def test_cli_without_a_gpu_exits_1_with_no_traceback(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    # a real process: what a user sees, with PyTorch's own availability check (no monkeypatching)
    out = subprocess.run(
        [sys.executable, "-m", "edgead.cli", "train", "--model", "dfm", "--data", str(tmp_path), "--device", "cuda"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert "sees no CUDA GPU" in out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("model", ["patchcore", "dfm", "stfpm", "reverse_distillation", "stad"])
def test_device_cpu_reproduces_the_default_run_bit_for_bit(trained, model, tmp_path):
    """The session's run (``--device`` left at auto) and a ``--device cpu`` run: the same tensors, bit for bit.

    Auto is the CPU on a machine without a GPU, so this holds the device plumbing to today's numbers; on a GPU
    machine auto is CUDA, and benchmarks/gpu_check.sh compares the two within tolerances instead.
    """
    from conftest import SMALL_IMAGE_SIZE, SMALL_OPTIONS
    from safetensors.torch import load_file

    t = trained(model)
    if json.loads((t.run / "metrics.json").read_text()).get("device", "cpu") != "cpu":
        pytest.skip("the session's runs trained on a GPU; benchmarks/gpu_check.sh compares GPU and CPU")
    run = tmp_path / "run"
    argv = ["train", "--model", model, "--data", str(t.data), "--image-size", str(SMALL_IMAGE_SIZE)]
    assert main([*argv, "--out", str(run), "--device", "cpu", *SMALL_OPTIONS[model]]) == 0
    ref, new = load_file(str(t.run / "model.safetensors")), load_file(str(run / "model.safetensors"))
    assert sorted(ref) == sorted(new)
    differ = [k for k in ref if not torch.equal(ref[k], new[k])]
    assert not differ, f"--device cpu changed {len(differ)} tensors, e.g. {differ[:5]}"
    assert (t.run / "calibration.json").read_text() == (run / "calibration.json").read_text()
