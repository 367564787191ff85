import json
import subprocess
import sys

import numpy as np
import pytest

from edgead.train.calibration import Calibration, Normalization, calibrate
from edgead.train.metrics import f1_max
from edgead_runtime.errors import EdgeadError

GOOD_SCORES = np.array([1.0, 2.0, 3.0, 4.0, 5.0])  # mean 3, sample std sqrt(2.5)


def good_maps(maxima: np.ndarray) -> np.ndarray:
    """Maps [N, 4, 4] of zeros with one pixel at each given maximum."""
    maps = np.zeros((len(maxima), 4, 4))
    maps[:, 1, 2] = maxima
    return maps


def test_normalization_formula_threshold_and_order():
    norm = Normalization(threshold=2.0, min=0.0, max=4.0)
    np.testing.assert_allclose(norm.apply([-5.0, 0.0, 2.0, 3.0, 4.0, 10.0]), [0, 0, 0.5, 0.75, 1, 1])
    raw = np.linspace(0.1, 3.9, 50, dtype=np.float32)
    normalized = norm.apply(raw)
    assert normalized.dtype == np.float32
    assert np.all(np.diff(normalized) > 0)


def test_normalization_round_trip_and_checks():
    cal = Calibration(Normalization(2.0, 0.0, 4.0), Normalization(0.3, 0.1, 0.9), "test", 7)
    assert Calibration.from_dict(json.loads(json.dumps(cal.to_dict()))) == cal
    with pytest.raises(EdgeadError, match="max > min"):
        Normalization(1.0, 2.0, 2.0)
    with pytest.raises(EdgeadError, match="no 'max'"):
        Normalization.from_dict({"threshold": 1.0, "min": 0.0})


def test_calibrate_from_good_holdout_only():
    maxima = np.array([0.2, 0.4, 0.6, 0.8])
    cal = calibrate(GOOD_SCORES[:4], good_maps(maxima))
    assert cal.image.threshold == pytest.approx(2.5 + 3 * np.std([1, 2, 3, 4], ddof=1))
    assert (cal.image.min, cal.image.max) == (1.0, 4.0)
    assert cal.pixel.threshold == pytest.approx(0.5 + 3 * np.std(maxima, ddof=1))
    assert (cal.pixel.min, cal.pixel.max) == (0.0, 0.8)
    assert cal.n_images == 4
    assert cal.source == (
        "image: mean + 3 std of 4 held-out good scores; pixel: mean + 3 std of 4 held-out good map maxima"
    )
    assert cal.image.apply(cal.image.threshold) == pytest.approx(0.5)


def test_calibrate_with_labelled_test_data_uses_f1():
    rng = np.random.default_rng(0)
    labels = np.array([0] * 6 + [1] * 6)
    scores = np.concatenate([rng.normal(3, 1, 6), rng.normal(8, 1, 6)])
    masks = np.zeros((12, 8, 8), dtype=bool)
    masks[6:, 2:5, 2:5] = True
    maps = rng.random(masks.shape) + 0.8 * masks
    cal = calibrate(GOOD_SCORES, good_maps(np.full(5, 0.5)), labels, scores, masks, maps)
    # the F1-optimal threshold is a sample's score; calibration moves it halfway to the next lower value,
    # so the same samples are flagged but float32 rounding in the graph cannot flip the boundary sample
    for threshold, values in ((cal.image.threshold, scores), (cal.pixel.threshold, maps.ravel())):
        labels_of = masks.ravel() if values is not scores else labels
        best = f1_max(labels_of, values)[1]  # sklearn
        assert values[values < best].max() < threshold < best
        assert threshold == pytest.approx((best + values[values < best].max()) / 2)
        assert np.array_equal(values >= threshold, values >= best)
    assert cal.image.min == pytest.approx(min(scores.min(), 1.0))
    assert cal.image.max == pytest.approx(max(scores.max(), 5.0))
    assert (cal.pixel.min, cal.pixel.max) == (0.0, pytest.approx(maps.max()))
    assert cal.n_images == 17
    assert cal.source == "image: F1-max on 12 labelled test images; pixel: F1-max on 768 test mask pixels"
    normalized = cal.image.apply(scores)
    assert np.array_equal(np.argsort(normalized[labels == 1]), np.argsort(scores[labels == 1]))
    assert (normalized >= 0.5).sum() == (scores >= cal.image.threshold).sum()


def test_calibrate_fallbacks_and_degenerate_input():
    with pytest.warns(UserWarning, match="one class only"):
        cal = calibrate(GOOD_SCORES, good_maps(np.ones(5)), [0, 0], [1.0, 2.0])
    assert cal.source.startswith("image: mean + 3 std")
    with pytest.warns(UserWarning, match="divide by zero"):
        cal = calibrate(np.full(3, 7.0), np.full((3, 4, 4), 7.0))
    assert cal.image.threshold == 7.0 and cal.image.max > cal.image.min
    np.testing.assert_allclose(cal.image.apply([6.0, 7.0, 8.0]), [0.0, 0.5, 1.0])
    assert np.float32(cal.image.max) > np.float32(cal.image.min)  # still a span in a float32 graph
    with pytest.raises(EdgeadError, match="at least 2 held-out good images"):
        calibrate([1.0], np.zeros((1, 4, 4)))
    with pytest.raises(EdgeadError, match="without test_scores"):
        calibrate(GOOD_SCORES, good_maps(np.ones(5)), test_labels=[0, 1])


def test_train_side_numpy_modules_do_not_import_torch():
    """Torch-side code uses these modules, not the reverse; importing them must stay cheap."""
    modules = "edgead.train.data, edgead.train.metrics, edgead.train.calibration"
    code = f"import sys, {modules}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
