"""PatchCore runs with its edge bank options, trained and exported once per session, for the TensorRT/doctor tests.

``--bank-dtype fp16`` writes an fp32 graph whose bank initializer is fp16, ``--bank-dim N`` adds a projection
GEMM in front of the kNN, and ``--search-dim N`` a projection before the kNN GEMM and the exact distance after it:
all are graphs the export writes, so all are doctored and built like the others.
Same reduced bottle set and options as the session's ``trained`` runs (tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SMALL_IMAGE_SIZE, SMALL_OPTIONS, Trained

BANK_OPTIONS = {
    "patchcore-bank-fp16": ["--bank-dtype", "fp16"],
    "patchcore-bank-dim32": ["--bank-dim", "32"],
    "patchcore-search-dim32": ["--search-dim", "32"],
}
_RUNS: dict[str, Trained] = {}  # shared by every module that imports the fixture: each run is trained once


@pytest.fixture(scope="session")
def patchcore_bank(bottle_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Trained]:
    """``patchcore_bank(name)`` for a name in BANK_OPTIONS: train + export via the ``edgead`` CLI, once."""

    def get(name: str) -> Trained:
        if name not in _RUNS:
            from edgead.cli import main

            base = tmp_path_factory.mktemp(name)
            run, onnx_path = base / "run", base / f"{name}.onnx"
            argv = ["train", "--model", "patchcore", "--data", str(bottle_small), "--image-size", str(SMALL_IMAGE_SIZE)]
            argv += ["--out", str(run), *SMALL_OPTIONS["patchcore"], *BANK_OPTIONS[name]]
            assert main(argv) == 0, f"edgead {' '.join(argv)} failed"
            assert main(["export", str(run), "--format", "onnx", "-o", str(onnx_path)]) == 0
            _RUNS[name] = Trained("patchcore", bottle_small, run, onnx_path)
        return _RUNS[name]

    return get
