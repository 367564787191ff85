"""STFPM's training loss (Wang et al., 2021, Eq. 1-2)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def stfpm_loss(teacher: Sequence[torch.Tensor], student: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum over stages of ``0.5 / (h w) * sum_ij ||t_ij - s_ij||^2`` on channel-L2-normalized features.

    Averaged over the images of the batch (the paper's per-image loss), so the value and the step
    size do not depend on the batch size and the held-out loss is comparable between epochs.
    """
    total = teacher[0].new_zeros(())
    for t, s in zip(teacher, student, strict=True):
        n, _, h, w = t.shape
        diff = F.normalize(t, dim=1) - F.normalize(s, dim=1)
        total = total + 0.5 / (h * w) * diff.pow(2).sum() / n
    return total
