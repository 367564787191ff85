"""The layering holds: import-linter's contracts in pyproject.toml ([tool.importlinter]), checked by `lint-imports`.

grimp (import-linter's graph) finds modules by walking each root package's folder, but edgead.train and
edgead.export live in train/ and export/ (package-dir). So the check runs on the installed layout, made of
symlinks in a temporary folder: edgead/{cli,...}.py, edgead/train -> train/, edgead/export -> export/,
edgead_runtime -> runtime/edgead_runtime. By hand: the same layout, then `lint-imports REPO/pyproject.toml`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _lint_imports() -> str:
    script = Path(sys.executable).parent / "lint-imports"
    found = str(script) if script.is_file() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports is not installed: pip install -e '.[dev]' (import-linter is a dev dependency)")
    return found


def _layout(root: Path, probe: str | None = None) -> Path:
    """The installed layout under ``root``; ``probe``: a module added to edgead_runtime (to show a violation)."""
    (root / "edgead").mkdir(parents=True)
    for entry in (REPO / "edgead").iterdir():
        if entry.name != "__pycache__":
            (root / "edgead" / entry.name).symlink_to(entry)
    (root / "edgead" / "train").symlink_to(REPO / "train")
    (root / "edgead" / "export").symlink_to(REPO / "export")
    runtime = REPO / "runtime" / "edgead_runtime"
    if probe is None:
        (root / "edgead_runtime").symlink_to(runtime)
    else:
        (root / "edgead_runtime").mkdir()
        for entry in runtime.iterdir():
            (root / "edgead_runtime" / entry.name).symlink_to(entry)
        (root / "edgead_runtime" / "_layering_probe.py").write_text(probe)
    return root


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    cmd = [_lint_imports(), str(REPO / "pyproject.toml"), "--no-cache"]
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_import_contracts_are_kept(tmp_path: Path) -> None:
    done = _check(_layout(tmp_path))
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout and "KEPT" in done.stdout


def test_import_contracts_catch_a_runtime_module_that_imports_torch_or_train(tmp_path: Path) -> None:
    done = _check(_layout(tmp_path, probe="import torch\n\nfrom edgead.train import config\n"))
    assert done.returncode == 1, done.stdout + done.stderr
    out = " ".join(done.stdout.split())
    assert "edgead_runtime imports nothing of edgead, and no torch BROKEN" in out
    assert "edgead_runtime._layering_probe -> torch" in out and "edgead_runtime._layering_probe -> edgead.train" in out
