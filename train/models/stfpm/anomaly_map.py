"""STFPM's anomaly map: per-stage feature distances, upsampled to the finest stage and multiplied."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..layers import combine_stage_maps


def stage_distance(teacher: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
    """``0.5 ||t_n - s_n||^2`` over channels of the L2-normalized features: [N, C, h, w] -> [N, h, w]."""
    return 0.5 * (F.normalize(teacher, dim=1) - F.normalize(student, dim=1)).pow(2).sum(1)


def anomaly_map(teacher: Sequence[torch.Tensor], student: Sequence[torch.Tensor]) -> torch.Tensor:
    """The product of the per-stage distances at the finest stage's resolution (anomalib multiplies at image size)."""
    return combine_stage_maps([stage_distance(t, s) for t, s in zip(teacher, student, strict=True)], "multiply")
