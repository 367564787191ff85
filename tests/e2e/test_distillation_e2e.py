"""STFPM and Reverse Distillation end to end on real bottle images: ``edgead train --fast`` (128 px,
reduced set) -> ``edgead export`` (which fails unless ONNX Runtime matches torch) -> the runtime.

Trained runs come from the session's ``trained`` fixture (tests/conftest.py), shared with
test_pipeline.py. The accuracy of full training is a benchmark figure (benchmarks/distillation.sh),
not asserted here; a few epochs must already rank defective bottles above good ones on average.

The options that change the exported graph (RD ``--map-combine multiply``; STAD several receptive
fields and the random projection) go through the same train -> export -> runtime path on a tiny set:
parity only, since a few steps on 6 images say nothing about accuracy.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

MODELS = ("stfpm", "reverse_distillation")


def _stad_multi_scale_random(model) -> bool:
    """Three groups of students with their own statistics, and a projection that, unlike PCA, does not sort the
    descriptor channels by variance."""
    return model.depths == (2, 3, 4) and len(model.score_stats) == 3 and bool((model.descriptor_std.diff() > 0).any())


# (model, flags, what the loaded model must show): every non-default option that changes the graph; STAD's two
# share one run, since an export costs about 20 s whatever the model
OPTION_RUNS = [
    ("reverse_distillation", ["--map-combine", "multiply"], lambda model: model.options.map_combine == "multiply"),
    ("stad", ["--student-depths", "2,3,4", "--projection", "random"], _stad_multi_scale_random),
]


def runtime_vs_torch(onnx_path: Path, run: Path, frames: np.ndarray) -> tuple[list, float, float]:
    """Runtime results on ``frames`` (one batch), and the runtime's largest relative difference from the torch graph
    on the raw score and the raw map; checks on the way that a batch of one gives the same score."""
    from edgead.train.fit import run_graph
    from edgead.train.run_dir import load_run
    from edgead_runtime.detector import Detector

    with Detector(onnx_path) as detector:
        results = detector.predict_batch(list(frames))
        single = detector.predict_batch(list(frames[:1]))[0]
    runtime_raw = np.array([r.raw_score for r in results])
    runtime_maps = np.stack([r.raw_anomaly_map for r in results])
    assert single.raw_score == pytest.approx(runtime_raw[0], rel=1e-5), "batch size changed the numbers"
    _, graph, _ = load_run(run)
    reference = run_graph(graph, frames, batch_size=8)
    score_diff = np.abs(runtime_raw - reference["raw_score"]).max() / np.abs(reference["raw_score"]).max()
    map_diff = np.abs(runtime_maps - reference["raw_anomaly_map"]).max() / np.abs(reference["raw_anomaly_map"]).max()
    return results, float(score_diff), float(map_diff)


@pytest.mark.parametrize("model", MODELS)
def test_fast_training_exports_with_parity_and_separates_defects(model: str, trained: Callable) -> None:
    from edgead.train.data import find_dataset, load_frames
    from edgead.train.gradient_loop import CHECKPOINT
    from edgead.train.models import get_model_class

    t = trained(model)  # train + export; export raises if the graph disagrees with torch on real frames
    assert (t.run / CHECKPOINT).is_file(), "the loop keeps the best epoch's weights in the run directory"
    history = json.loads((t.run / "training.json").read_text())
    assert 1 <= history["epochs_run"] <= get_model_class(model).fast_epochs
    assert all(np.isfinite(history["train_loss"] + history["val_loss"]))

    samples = find_dataset(t.data).test
    frames, _ = load_frames([s.path for s in samples], (128, 128))
    labels = np.array([s.label for s in samples])
    results, score_diff, map_diff = runtime_vs_torch(t.onnx, t.run, frames)
    assert score_diff <= 1e-4 and map_diff <= 1e-4, (score_diff, map_diff)

    scores = np.array([r.score for r in results])
    assert scores[labels == 1].mean() > scores[labels == 0].mean(), (scores, labels)


@pytest.fixture(scope="module")
def tiny_bottle(bottle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 good training images (6 fit, 2 held out) and 2 good + 2 broken_large test images, as symlinks."""
    from conftest import make_small_mvtec

    return make_small_mvtec(bottle, tmp_path_factory.mktemp("bottle_tiny"), 8, {"good": 2, "broken_large": 2})


@pytest.mark.parametrize(
    ("model", "flags", "in_effect"), OPTION_RUNS, ids=lambda v: " ".join(v) if isinstance(v, list) else None
)
def test_graph_changing_options_export_with_parity_and_run(
    model: str, flags: list[str], in_effect: Callable, tiny_bottle: Path, tmp_path: Path
) -> None:
    from edgead.cli import main
    from edgead.train.data import find_dataset, load_frames
    from edgead.train.run_dir import load_run

    run, onnx_path = tmp_path / "run", tmp_path / f"{model}.onnx"
    argv = ["train", "--model", model, "--data", str(tiny_bottle), "--image-size", "128", "--fast", "--out", str(run)]
    assert main([*argv, *flags]) == 0
    # export runs the graph in ONNX Runtime on the run's real parity frames and fails if it disagrees with torch
    assert main(["export", str(run), "--format", "onnx", "-o", str(onnx_path)]) == 0
    assert in_effect(load_run(run)[1].model), f"{' '.join(flags)} is not in the trained model"

    frames, _ = load_frames([s.path for s in find_dataset(tiny_bottle).test], (128, 128))
    results, score_diff, map_diff = runtime_vs_torch(onnx_path, run, frames)
    assert score_diff <= 1e-4 and map_diff <= 1e-4, (score_diff, map_diff)
    assert all(np.isfinite(r.raw_anomaly_map).all() and r.raw_anomaly_map.shape == (128, 128) for r in results)
