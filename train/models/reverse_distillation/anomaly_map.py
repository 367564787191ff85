"""Reverse Distillation's anomaly map: per-stage ``1 - cos``, upsampled to the finest stage, added or multiplied."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..layers import combine_stage_maps
from .loss import cosine_distance


def anomaly_map(encoder: Sequence[torch.Tensor], decoder: Sequence[torch.Tensor], mode: str = "add") -> torch.Tensor:
    return combine_stage_maps([cosine_distance(e, d) for e, d in zip(encoder, decoder, strict=True)], mode)
