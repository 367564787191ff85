"""STFPM and Reverse Distillation end to end on real bottle images: ``edgead train --fast`` (128 px,
reduced set) -> ``edgead export`` (which fails unless ONNX Runtime matches torch) -> the runtime.

Trained runs come from the session's ``trained`` fixture (tests/conftest.py), shared with
test_pipeline.py. The accuracy of full training is a benchmark figure (benchmarks/distillation.sh),
not asserted here; a few epochs must already rank defective bottles above good ones on average.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest

MODELS = ("stfpm", "reverse_distillation")


@pytest.mark.parametrize("model", MODELS)
def test_fast_training_exports_with_parity_and_separates_defects(model: str, trained: Callable) -> None:
    from edgead.train.data import find_dataset, load_frames
    from edgead.train.distill import CHECKPOINT
    from edgead.train.fit import run_graph
    from edgead.train.models import get_model_class
    from edgead.train.run import load_run
    from edgead_runtime.detector import Detector

    t = trained(model)  # train + export; export raises if the graph disagrees with torch on real frames
    assert (t.run / CHECKPOINT).is_file(), "the loop keeps the best epoch's weights in the run directory"
    history = json.loads((t.run / "training.json").read_text())
    assert 1 <= history["epochs_run"] <= get_model_class(model).fast_epochs
    assert all(np.isfinite(history["train_loss"] + history["val_loss"]))

    samples = find_dataset(t.data).test
    frames, _ = load_frames([s.path for s in samples], (128, 128))
    labels = np.array([s.label for s in samples])
    with Detector(t.onnx) as detector:
        results = detector.predict_batch(list(frames))
        single = detector.predict_batch(list(frames[:1]))[0]
    runtime_raw = np.array([r.raw_score for r in results])
    runtime_maps = np.stack([r.raw_anomaly_map for r in results])
    assert single.raw_score == pytest.approx(runtime_raw[0], rel=1e-5), "batch size changed the numbers"

    _, graph, _ = load_run(t.run)
    reference = run_graph(graph, frames, batch_size=8)
    score_diff = np.abs(runtime_raw - reference["raw_score"]).max() / np.abs(reference["raw_score"]).max()
    map_diff = np.abs(runtime_maps - reference["raw_anomaly_map"]).max() / np.abs(reference["raw_anomaly_map"]).max()
    assert score_diff <= 1e-4 and map_diff <= 1e-4, (score_diff, map_diff)

    scores = np.array([r.score for r in results])
    assert scores[labels == 1].mean() > scores[labels == 0].mean(), (scores, labels)
