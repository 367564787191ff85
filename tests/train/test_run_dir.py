"""Run directories: a saved run reloads to the same graph, and a crash never leaves half a file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgead.train.calibration import Calibration, Normalization
from edgead.train.config import TrainConfig
from edgead.train.graph import build_graph
from edgead.train.models import get_model_class
from edgead.train.run_dir import WEIGHTS, atomic_write, load_run, save_run
from edgead_runtime.errors import EdgeadError


def _fitted_run(tmp_path, model="patchcore", options=None):
    config = TrainConfig(model=model, data="unused", out=str(tmp_path / "run"), image_size=64, options=options or {})
    graph = build_graph(config, get_model_class(model))
    torch.manual_seed(0)
    frames = torch.randint(0, 256, (4, 64, 64, 3), dtype=torch.uint8)
    graph.model.fit([graph.input(frames)])
    calibration = Calibration(Normalization(1.0, 0.0, 4.0), Normalization(2.0, 0.0, 8.0), "test", 4)
    graph.set_calibration(calibration)
    save_run(tmp_path / "run", config, graph, calibration, frames.numpy())
    return graph, frames


@pytest.mark.parametrize(("model", "options"), [("patchcore", {"coreset_ratio": 0.25}), ("dfm", {"pool_size": 1})])
def test_saved_run_reloads_to_the_same_outputs(tmp_path, model, options):
    graph, frames = _fitted_run(tmp_path, model, options)
    config, loaded, calibration = load_run(tmp_path / "run")
    assert config.model == model and config.options == options
    assert calibration.image.threshold == 1.0
    with torch.no_grad():
        for a, b in zip(graph(frames), loaded(frames), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    # normalization is folded in: threshold -> 0.5
    score, _, raw, _ = loaded(frames)
    np.testing.assert_allclose(score.numpy(), np.clip((raw.numpy() - 1.0) / 4.0 + 0.5, 0, 1), atol=1e-6)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "model.bin"
    target.write_text("old")

    def crash(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, crash)
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]  # no temporary left behind


def test_missing_or_corrupt_run_is_a_clear_error(tmp_path):
    with pytest.raises(EdgeadError, match="not a run directory"):
        load_run(tmp_path)
    _fitted_run(tmp_path)
    weights = tmp_path / "run" / WEIGHTS
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(EdgeadError, match="re-train"):
        load_run(tmp_path / "run")
