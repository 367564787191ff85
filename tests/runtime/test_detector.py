from pathlib import Path

import numpy as np
import pytest

from edgead_runtime.detector import Detector
from edgead_runtime.errors import ModelFileError
from edgead_runtime.preprocess import prepare_frame, read_image

from .graphs import HEIGHT, WIDTH, reference


def test_results_match_the_formula(model_path: Path, bottle_images: list[Path], tile_images: list[Path]) -> None:
    frames = [read_image(p) for p in bottle_images + tile_images]
    expected = reference(np.stack([prepare_frame(f, (HEIGHT, WIDTH)) for f in frames]))
    with Detector(model_path) as detector:
        assert detector.threshold == 0.5
        results = detector.predict_batch(frames)
    for i, (frame, result) in enumerate(zip(frames, results, strict=True)):
        assert result.score == pytest.approx(expected["score"][i], abs=1e-6)
        assert result.raw_score == pytest.approx(expected["raw_score"][i], abs=1e-6)
        assert result.is_anomalous == (result.score >= 0.5)
        assert result.anomaly_map.shape == frame.shape[:2] and result.anomaly_map.dtype == np.float32
        assert result.raw_anomaly_map.shape == (HEIGHT, WIDTH)
        np.testing.assert_allclose(result.raw_anomaly_map, expected["raw_anomaly_map"][i], atol=1e-6)
    labels = {r.is_anomalous for r in results}
    assert labels == {True, False}, "the fixture is tuned so real frames fall on both sides"


def test_threshold_override_flips_labels(model_path: Path, bottle_images: list[Path]) -> None:
    with Detector(model_path) as detector:
        results = [detector.predict_path(p) for p in bottle_images]
    scores = sorted(r.score for r in results)
    middle = (scores[0] + scores[-1]) / 2
    with Detector(model_path, threshold=middle) as low, Detector(model_path, threshold=1.01) as high:
        assert all(r.threshold == middle for r in [low.predict_path(p) for p in bottle_images])
        assert any(low.predict_path(p).is_anomalous for p in bottle_images)
        assert not any(high.predict_path(p).is_anomalous for p in bottle_images)


def test_predict_equals_batch_and_map_is_resized_from_model_map(model_path: Path, tile_images: list[Path]) -> None:
    frame = read_image(tile_images[0])
    with Detector(model_path) as detector:
        single = detector.predict(frame)
        (batched,) = detector.predict_batch([frame])
    assert single.score == batched.score
    np.testing.assert_array_equal(single.anomaly_map, batched.anomaly_map)
    # a uniform frame gives a uniform map at any resolution
    with Detector(model_path) as detector:
        flat = detector.predict(np.full((301, 173), 200, np.uint8))
    assert flat.anomaly_map.shape == (301, 173)
    np.testing.assert_allclose(flat.anomaly_map, flat.score, atol=1e-6)


def test_backbone_part_cannot_predict(backbone_model_path: Path) -> None:
    with pytest.raises(ModelFileError, match="'backbone' graph.*bench.*export the full model"):
        Detector(backbone_model_path)
