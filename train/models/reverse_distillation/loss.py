"""Reverse Distillation's training loss (Deng and Li, 2022, Eq. 2-3)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def cosine_distance(encoder: torch.Tensor, decoder: torch.Tensor) -> torch.Tensor:
    """``1 - cos`` over channels at each position: [N, C, h, w] -> [N, h, w].

    Written as a dot product of L2-normalized vectors: plain ops that export the same everywhere.
    """
    return 1.0 - (F.normalize(encoder, dim=1) * F.normalize(decoder, dim=1)).sum(1)


def reverse_distillation_loss(encoder: Sequence[torch.Tensor], decoder: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum over stages of the mean over images and positions of ``1 - cos``."""
    return sum(cosine_distance(e, d).mean() for e, d in zip(encoder, decoder, strict=True))
