"""AUROC by ranks, in numpy: the runtime's accuracy check (``bench --accuracy``) without scikit-learn.

``edgead.train.metrics.image_auroc`` calls this too, so training, ``edgead evaluate`` and the
benchmark report one implementation's numbers.
"""

from __future__ import annotations

import numpy as np

from .errors import EdgeadError


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` against binary ``labels`` (1 = anomalous).

    The Mann-Whitney U statistic: the chance that a random anomalous sample outscores a random good
    one, ties counted half (average ranks), which is exactly the trapezoidal ROC area sklearn gives.
    One sort, so it also serves pixel AUROC over millions of pixels.
    """
    labels, scores = np.asarray(labels).ravel(), np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise EdgeadError(f"{labels.size} labels but {scores.size} scores; give one score per label")
    values = set(np.unique(labels).tolist())
    if not values <= {0, 1}:  # True and False compare equal to 1 and 0
        raise EdgeadError(f"labels must be 0 (good) or 1 (anomalous), got values {sorted(values)}")
    positive = labels.astype(bool)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise EdgeadError(
            f"AUROC needs good and anomalous samples; got {n_pos} anomalous and {n_neg} good "
            "(MVTec layout: test/good and test/<defect>)"
        )
    if not np.isfinite(scores).all():
        raise EdgeadError("scores contain NaN or inf; check the model output")
    order = np.argsort(scores)  # the order within ties does not matter: they share their mean rank
    ordered = scores[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # first index of each run of ties
    ends = np.r_[starts[1:], ordered.size]
    mean_rank = (starts + ends + 1) / 2.0  # 1-based ranks start+1 .. end share their mean
    ranks = np.repeat(mean_rank, ends - starts)
    u = ranks[positive[order]].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))
