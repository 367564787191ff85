"""Score calibration: a threshold and a scale per output, folded into the exported graph.

Contract: ``normalized = clip((raw - threshold) / (max - min) + 0.5, 0, 1)``, once for the image
score and once for the anomaly map. The threshold lands at 0.5 on every backend, ordering is kept
(below the clip), and raw scores stay recoverable from threshold, min and max.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from edgead_runtime.errors import EdgeadError

from .metrics import f1_max, pixel_f1_max

SIGMAS = 3.0
MIN_SPAN = 1e-6  # relative to the score magnitude: about 8 float32 steps, so the graph never divides by 0


def _field(data: Mapping[str, Any], key: str, what: str) -> Any:
    """Read one required key, naming it and the keys present when it is missing."""
    if key not in data:
        raise EdgeadError(f"{what} has no '{key}' (keys: {sorted(data)}); re-run calibration or re-export")
    return data[key]


@dataclass(frozen=True)
class Normalization:
    """Maps raw values so that ``threshold`` becomes 0.5; ``max - min`` sets the slope."""

    threshold: float
    min: float
    max: float

    def __post_init__(self) -> None:
        values = (self.threshold, self.min, self.max)
        if not all(math.isfinite(v) for v in values) or not self.max > self.min:
            raise EdgeadError(
                f"normalization needs finite values and max > min, got threshold={self.threshold}, "
                f"min={self.min}, max={self.max}; re-run calibration"
            )

    def apply(self, x: ArrayLike) -> np.ndarray:
        """The same formula the exported graph computes, in numpy."""
        return np.clip((np.asarray(x) - self.threshold) / (self.max - self.min) + 0.5, 0.0, 1.0)

    def to_dict(self) -> dict[str, float]:
        return {"threshold": self.threshold, "min": self.min, "max": self.max}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Normalization:
        return cls(*(float(_field(data, key, "normalization")) for key in ("threshold", "min", "max")))


@dataclass(frozen=True)
class Calibration:
    """Image and pixel normalization, how their thresholds were chosen, and from how many images."""

    image: Normalization
    pixel: Normalization
    source: str
    n_images: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image.to_dict(),
            "pixel": self.pixel.to_dict(),
            "source": self.source,
            "n_images": self.n_images,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        return cls(
            image=Normalization.from_dict(_field(data, "image", "calibration")),
            pixel=Normalization.from_dict(_field(data, "pixel", "calibration")),
            source=str(_field(data, "source", "calibration")),
            n_images=int(_field(data, "n_images", "calibration")),
        )


def _gaussian_threshold(values: np.ndarray) -> float:
    """mean + 3 std: about 0.13 % false alarms if good scores were Gaussian.

    A holdout of tens of images cannot estimate a tail percentile directly, but it can estimate a
    mean and a standard deviation.
    """
    return float(values.mean() + SIGMAS * values.std(ddof=1))


def _normalization(threshold: float, values: list[np.ndarray]) -> Normalization:
    """Normalization with min/max over all values seen; a zero span is widened so nothing divides by 0."""
    low = float(min(v.min() for v in values))
    high = float(max(v.max() for v in values))
    min_span = MIN_SPAN * max(1.0, abs(low), abs(high))
    if high - low < min_span:
        warnings.warn(
            f"all calibration values lie in [{low}, {high}]; max is set to min + {min_span:.3g} so "
            "normalization does not divide by zero (the normalized output becomes a step at the threshold)",
            stacklevel=3,
        )
        high = low + min_span
    return Normalization(float(threshold), low, high)


def _below_score(threshold: float, values: ArrayLike) -> float:
    """Midway between an F1-optimal threshold (itself a sample's score) and the next lower value.

    At the sample's exact score, float32 rounding of the normalization inside the graph can put
    that sample on either side of 0.5; halfway to the next value it stays anomalous.
    """
    values = np.asarray(values, dtype=np.float64)
    below = values[values < threshold]
    return float((threshold + below.max()) / 2) if below.size else float(threshold)


def _both_classes(labels: np.ndarray) -> bool:
    return bool(labels.any() and not labels.all())


def _image_threshold(scores: np.ndarray, labels: ArrayLike | None, test_scores: ArrayLike | None) -> tuple[float, str]:
    """F1-optimal threshold when labelled test scores hold both classes, else mean + 3 std of good scores."""
    if labels is not None:
        labels = np.asarray(labels).ravel().astype(bool)
        if _both_classes(labels):
            threshold = f1_max(labels, np.asarray(test_scores))[1]
            return _below_score(threshold, test_scores), f"F1-max on {labels.size} labelled test images"
        warnings.warn("test labels hold one class only; image threshold from held-out good images", stacklevel=3)
    return _gaussian_threshold(scores), f"mean + 3 std of {scores.size} held-out good scores"


def _pixel_threshold(maps: np.ndarray, masks: ArrayLike | None, test_maps: ArrayLike | None) -> tuple[float, str]:
    """F1-optimal threshold over all test mask pixels, else mean + 3 std of good map maxima."""
    if masks is not None:
        masks = np.asarray(masks, dtype=bool)
        if _both_classes(masks):
            threshold = pixel_f1_max(masks, test_maps)[1]
            return _below_score(threshold, test_maps), f"F1-max on {masks.size} test mask pixels"
        warnings.warn("test masks hold one class only; pixel threshold from held-out good maps", stacklevel=3)
    return _gaussian_threshold(maps.reshape(len(maps), -1).max(axis=1)), (
        f"mean + 3 std of {len(maps)} held-out good map maxima"
    )


def calibrate(
    good_scores: ArrayLike,
    good_maps: ArrayLike,
    test_labels: ArrayLike | None = None,
    test_scores: ArrayLike | None = None,
    test_masks: ArrayLike | None = None,
    test_maps: ArrayLike | None = None,
) -> Calibration:
    """Thresholds and min/max for the image score [N] and the anomaly map [N, H, W].

    Without labelled test data the thresholds come from held-out good images only: the image
    threshold is mean + 3 std of their scores, the pixel threshold mean + 3 std of each map's
    maximum, so about as many good images show a highlighted pixel as get flagged (pooled pixel
    percentiles would ignore that neighbouring pixels are correlated). With test data holding both
    classes, the F1-optimal thresholds are used instead. min/max span every score and map value seen;
    ``n_images`` counts the images behind the image scores.
    """
    scores = np.asarray(good_scores, dtype=np.float64).ravel()
    maps = np.asarray(good_maps)
    if scores.size < 2 or maps.ndim != 3 or len(maps) != scores.size:
        raise EdgeadError(
            f"calibration needs at least 2 held-out good images with one score and one [H, W] map each; "
            f"got scores {scores.shape} and maps {maps.shape}"
        )
    if test_labels is not None and test_scores is None:
        raise EdgeadError("test_labels were given without test_scores; pass both")
    if test_masks is not None and test_maps is None:
        raise EdgeadError("test_masks were given without test_maps; pass both")
    if not (np.isfinite(scores).all() and np.isfinite(maps).all()):
        raise EdgeadError("held-out good scores or maps contain NaN or inf; check the model output")

    image_threshold, image_source = _image_threshold(scores, test_labels, test_scores)
    pixel_threshold, pixel_source = _pixel_threshold(maps, test_masks, test_maps)
    score_values = [scores] if test_scores is None else [scores, np.asarray(test_scores, dtype=np.float64).ravel()]
    map_values = [maps] if test_maps is None else [maps, np.asarray(test_maps)]
    return Calibration(
        image=_normalization(image_threshold, score_values),
        pixel=_normalization(pixel_threshold, map_values),
        source=f"image: {image_source}; pixel: {pixel_source}",
        n_images=sum(v.size for v in score_values),
    )
