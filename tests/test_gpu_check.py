"""``benchmarks/gpu_check.sh`` and ``benchmarks/compare_runs.py``: their CPU-side logic (no GPU here).

The script itself trains on a GPU only where one exists; here its dry run (every check but the GPU, and the
plan) and its refusal on a machine without a GPU run for real, and ``compare_runs.py`` is held to its stated
tolerances on run directories whose differences are known.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parents[1]
COMPARE = REPO / "benchmarks" / "compare_runs.py"


def _run_dir(path: Path, tensors: dict[str, torch.Tensor], image_auroc: float = 0.99) -> Path:
    path.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path / "model.safetensors"))
    metrics = {"image_auroc": image_auroc, "pixel_auroc": 0.95, "fit_seconds": 2.0, "device": "cpu"}
    (path / "metrics.json").write_text(json.dumps(metrics))
    (path / "calibration.json").write_text("{}")
    return path


def _load_compare():
    spec = importlib.util.spec_from_file_location("compare_runs", COMPARE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compare_runs = _load_compare()


@dataclass
class Result:
    returncode: int
    stdout: str


@pytest.fixture
def compare(capsys):
    """compare_runs.py's main in this process (a subprocess would import torch again: seconds per call)."""

    def run(ref: Path, other: Path, *flags: str) -> Result:
        code = compare_runs.main([str(ref), str(other), *flags])
        return Result(code, capsys.readouterr().out)

    return run


@pytest.fixture
def tensors() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    bank = torch.randn(200, 16, generator=g)
    return {
        "model.bank": bank,
        "model.bank_sq_norm": (bank * bank).sum(1),
        "model.support": torch.arange(200 * 3).reshape(200, 3),
        "model.backbone.weight": torch.randn(32, 8, generator=g),
        "model.backbone.bn.num_batches_tracked": torch.tensor(5),
    }


def test_identical_runs_pass_exact_and_a_float_rounding_passes_only_the_tolerances(tmp_path, tensors, compare):
    ref = _run_dir(tmp_path / "ref", tensors)
    assert compare(ref, _run_dir(tmp_path / "same", tensors), "--exact").returncode == 0
    nudged = dict(tensors, **{"model.backbone.weight": tensors["model.backbone.weight"] * (1 + 1e-4)})
    other = _run_dir(tmp_path / "nudged", nudged)
    exact = compare(ref, other, "--exact")
    assert exact.returncode == 1 and "differ: ['model.backbone.weight']" in exact.stdout
    within = compare(ref, other)
    assert within.returncode == 0, within.stdout
    assert "largest relative L2 difference 1.00e-04 (model.backbone.weight)" in within.stdout


def test_a_bank_picked_in_another_order_matches_as_a_set(tmp_path, tensors, compare):
    ref = _run_dir(tmp_path / "ref", tensors)
    order = torch.randperm(200, generator=torch.Generator().manual_seed(1))
    shuffled = dict(tensors, **{"model.bank": tensors["model.bank"][order]})
    out = compare(ref, _run_dir(tmp_path / "shuffled", shuffled))
    assert out.returncode == 0, out.stdout
    assert "100.0% of rows within 0.001" in out.stdout and "row for row equal: False" in out.stdout


@pytest.mark.parametrize("what", ["other bank", "weights", "auroc"])
def test_differences_beyond_the_tolerances_fail(tmp_path, tensors, what, compare):
    ref = _run_dir(tmp_path / "ref", tensors)
    changed, auroc = dict(tensors), 0.99
    if what == "other bank":
        changed["model.bank"] = torch.randn(200, 16, generator=torch.Generator().manual_seed(2))
    elif what == "weights":
        changed["model.backbone.weight"] = tensors["model.backbone.weight"] * 1.05
    else:
        auroc = 0.989  # differs in the third decimal
    out = compare(ref, _run_dir(tmp_path / "other", changed, auroc))
    assert out.returncode == 1 and "FAIL" in out.stdout


def test_gpu_check_dry_run_checks_the_machine_and_prints_the_plan(data_root, tmp_path):
    env = {"EDGEAD_DATA": str(data_root), "PYTHON": sys.executable, "PATH": "/usr/bin:/bin"}
    script = REPO / "benchmarks" / "gpu_check.sh"
    dry = subprocess.run(
        ["bash", str(script), "--dry-run", str(tmp_path / "out")], capture_output=True, text=True, env=env
    )
    assert dry.returncode == 0, dry.stderr
    plan = [line for line in dry.stdout.splitlines() if line.startswith("would run: ")]
    assert len(plan) == 6
    for model in ("patchcore", "stfpm"):
        for device in ("cuda", "cpu"):
            assert any(f"--model {model} " in line and f"--device {device} " in line for line in plan), plan
    assert not (tmp_path / "out").exists()  # a dry run writes nothing
    if torch.cuda.is_available():
        return
    real = subprocess.run(["bash", str(script), str(tmp_path / "out")], capture_output=True, text=True, env=env)
    assert real.returncode == 2 and "sees no CUDA GPU" in real.stderr and real.stderr.count("\n") == 1
    missing = subprocess.run(
        ["bash", str(script), "--dry-run"], capture_output=True, text=True, env={**env, "EDGEAD_DATA": str(tmp_path)}
    )
    assert missing.returncode == 2 and "MVTec bottle not found" in missing.stderr
