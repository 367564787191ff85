"""Export takes the model's size from the traced graph (issue 11, item 9): a run folder whose config disagrees
with its frames is refused, instead of writing metadata that every runtime command then trips over."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from edgead_runtime.errors import EdgeadError


def test_export_refuses_a_run_whose_config_size_is_not_the_traced_size(trained: Callable, tmp_path: Path) -> None:
    from edgead.export.onnx_export import export_onnx
    from edgead.train.run_dir import write_manifest

    run = shutil.copytree(trained("patchcore").run, tmp_path / "run")
    config = json.loads((run / "config.json").read_text())
    size = config["image_size"]
    config["image_size"] = size // 2 if isinstance(size, int) else [s // 2 for s in size]
    (run / "config.json").write_text(json.dumps(config))
    write_manifest(run)  # a consistent save of a wrong size: the manifest check passes, the traced size must not
    with pytest.raises(EdgeadError, match="disagrees with itself"):
        export_onnx(run, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()
