"""The runtime's rank-based AUROC against scikit-learn (a dev-only dependency), ties and edge cases included."""

from __future__ import annotations

import numpy as np
import pytest

from edgead_runtime.errors import EdgeadError
from edgead_runtime.metrics import auroc

roc_auc_score = pytest.importorskip("sklearn.metrics").roc_auc_score


@pytest.mark.parametrize("seed", range(6))
def test_matches_sklearn_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 2000))
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    scores = np.round(rng.normal(size=n) + 0.8 * labels, int(rng.integers(0, 3)))  # rounding makes many ties
    assert auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_matches_sklearn_on_pixel_sized_input() -> None:
    rng = np.random.default_rng(7)
    masks = rng.random((20, 64, 64)) < 0.05
    maps = (rng.random(masks.shape) + 0.3 * masks).astype(np.float32)  # float32 maps, bool masks
    assert auroc(masks, maps) == pytest.approx(roc_auc_score(masks.ravel(), maps.ravel()), abs=1e-12)


def test_known_values() -> None:
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert auroc([0, 1], [0.2, 0.9]) == 1.0 and auroc([1, 0], [0.2, 0.9]) == 0.0
    assert auroc([0, 1, 0, 1], [0.5] * 4) == 0.5  # all tied: chance
    assert auroc(np.array([False, True]), np.array([1, 2], dtype=np.int64)) == 1.0


def test_errors_say_what_is_wrong() -> None:
    with pytest.raises(EdgeadError, match="3 labels but 2 scores"):
        auroc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(EdgeadError, match=r"got 0 anomalous and 3 good.*test/good and test/<defect>"):
        auroc([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(EdgeadError, match=r"labels must be 0 \(good\) or 1 \(anomalous\), got values \[0, 2\]"):
        auroc([0, 2], [0.1, 0.2])
    with pytest.raises(EdgeadError, match="NaN or inf"):
        auroc([0, 1], [0.1, np.nan])
