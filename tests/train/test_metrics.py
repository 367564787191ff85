import time

import numpy as np
import pytest
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from edgead.train.metrics import (
    aupro,
    evaluate,
    f1_max,
    format_metrics_table,
    image_auroc,
    pixel_auroc,
    pixel_f1_max,
)
from edgead_runtime.errors import EdgeadError

LABELS = np.array([0, 0, 1, 1])
SCORES = np.array([0.1, 0.4, 0.35, 0.8])


def reference_aupro(masks: np.ndarray, maps: np.ndarray, fpr_limit: float = 0.3) -> float:
    """The definition, one threshold at a time: slow and obviously right."""
    region_masks = []
    for image, mask in enumerate(masks):
        labeled, n = ndimage.label(mask, structure=np.ones((3, 3)))
        region_masks += [(image, labeled == k) for k in range(1, n + 1)]
    normal = maps[~masks]
    fprs, pros = [0.0], [0.0]
    for threshold in np.unique(maps)[::-1]:
        fprs.append(np.mean(normal >= threshold))
        pros.append(np.mean([np.mean(maps[image][region] >= threshold) for image, region in region_masks]))
    fprs.append(1.0)
    pros.append(1.0)
    fprs, pros = np.array(fprs), np.array(pros)
    area = 0.0
    for i in range(1, len(fprs)):
        x0, x1, y0, y1 = fprs[i - 1], fprs[i], pros[i - 1], pros[i]
        if x0 >= fpr_limit:
            break
        if x1 > fpr_limit:
            y1 = y0 + (y1 - y0) * (fpr_limit - x0) / (x1 - x0)
            x1 = fpr_limit
        area += (x1 - x0) * (y0 + y1) / 2
    return area / fpr_limit


def random_regions(rng: np.random.Generator, n: int = 6, size: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Masks with several rectangles per image (some touching), maps with signal, noise and ties."""
    masks = np.zeros((n, size, size), dtype=bool)
    for image in range(1, n):  # image 0 stays good
        for _ in range(rng.integers(1, 4)):
            top, left = rng.integers(0, size - 4, 2)
            height, width = rng.integers(1, 6, 2)
            masks[image, top : top + height, left : left + width] = True
    maps = np.round(rng.random(masks.shape) + 0.6 * masks * rng.random(masks.shape), 2)
    return masks, maps


def test_image_auroc_and_f1_max_known_values():
    assert image_auroc(LABELS, SCORES) == pytest.approx(0.75)
    # At 0.35 three images are flagged, two of them anomalous: precision 2/3, recall 1.
    assert f1_max(LABELS, SCORES) == pytest.approx((0.8, 0.35))


def test_one_class_explains_what_is_needed():
    with pytest.raises(EdgeadError, match="both good and anomalous test images"):
        image_auroc([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(EdgeadError, match="4 labels but 3 scores"):
        f1_max(LABELS, SCORES[:3])


@pytest.mark.parametrize("seed", range(3))
def test_pixel_metrics_match_sklearn(seed):
    masks, maps = random_regions(np.random.default_rng(seed))
    assert pixel_auroc(masks, maps) == pytest.approx(roc_auc_score(masks.ravel(), maps.ravel()), abs=1e-12)
    assert pixel_f1_max(masks, maps) == pytest.approx(f1_max(masks.ravel(), maps.ravel()), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_aupro_matches_reference(seed):
    masks, maps = random_regions(np.random.default_rng(seed))
    for limit in (0.3, 0.05, 1.0):
        assert aupro(masks, maps, limit) == pytest.approx(reference_aupro(masks, maps, limit), abs=1e-12)


def test_aupro_edge_cases():
    masks, _ = random_regions(np.random.default_rng(0))
    assert aupro(masks, masks.astype(float)) == pytest.approx(1.0)
    # A constant map puts every pixel at one threshold: a straight line to (1, 1), 0.15 below FPR 0.3.
    assert aupro(masks, np.full(masks.shape, 0.5)) == pytest.approx(0.15)
    assert aupro(masks, -masks.astype(float)) == pytest.approx(0.0)
    with pytest.raises(EdgeadError, match="the masks have 0 anomalous pixels"):
        aupro(np.zeros_like(masks), masks.astype(float))
    with pytest.raises(EdgeadError, match="same shape"):
        pixel_auroc(masks, masks[:, :-1])


def test_aupro_averages_over_regions_not_pixels():
    masks = np.zeros((1, 20, 20), dtype=bool)
    masks[0, :10, :10] = True  # big region, found
    masks[0, 15, 15] = True  # one-pixel region, missed
    maps = np.zeros(masks.shape)
    maps[0, :10, :10] = 1.0
    # Curve (0, 0) -> (0, 0.5) -> (1, 1): area up to 0.3 is 0.3 * 0.5 + 0.3**2 / 4.
    assert aupro(masks, maps) == pytest.approx((0.15 + 0.0225) / 0.3)
    masks[0, 15, 15], masks[0, 10, 10] = False, True  # the missed pixel touches the square diagonally:
    found = 100 / 101  # one 8-connected region, 100 of its 101 pixels found
    assert aupro(masks, maps) == pytest.approx(found + 0.15 * (1 - found))


def test_aupro_is_fast_on_a_bottle_sized_test_set():
    rng = np.random.default_rng(0)
    masks = np.zeros((83, 256, 256), dtype=bool)
    masks[20:, 100:140, 60:90] = True
    maps = rng.random(masks.shape, dtype=np.float32) + masks
    start = time.perf_counter()
    aupro(masks, maps)
    assert time.perf_counter() - start < 3.0


def test_evaluate_keys_and_table():
    masks, maps = random_regions(np.random.default_rng(2))
    labels = masks.any(axis=(1, 2)).astype(int)
    scores = maps.reshape(len(maps), -1).max(axis=1)
    assert set(evaluate(labels, scores)) == {"image_auroc", "image_f1_max"}
    metrics = evaluate(labels, scores, masks, maps)
    assert set(metrics) == {"image_auroc", "image_f1_max", "pixel_auroc", "pixel_f1_max", "aupro"}
    assert metrics["aupro"] == pytest.approx(reference_aupro(masks, maps))
    with pytest.warns(UserWarning, match="no anomalous pixel"):
        assert set(evaluate(labels, scores, np.zeros_like(masks), maps)) == {"image_auroc", "image_f1_max"}

    table = format_metrics_table({"image_auroc": 0.98765, "aupro": 0.5})
    assert table.splitlines() == [
        "metric       value",
        "-----------  ------",
        "image_auroc  0.9877",
        "aupro        0.5000",
    ]
