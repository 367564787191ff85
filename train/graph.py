"""The whole per-frame computation as one torch module: what training evaluates and export traces.

uint8 BGR frames [N, H, W, 3] -> (score, anomaly_map, raw_score, raw_anomaly_map), with the
model's patch map upsampled to the input size, blurred (sigma 4) and normalized by the calibration
folded in as constants. The output order matches ``edgead_runtime.metadata.OUTPUT_NAMES``.
"""

from __future__ import annotations

import torch
from torch import nn

from edgead_runtime.errors import EdgeadError

from .backbones import FeatureExtractor
from .calibration import Calibration, Normalization
from .config import TrainConfig
from .models import make_options
from .models.layers import FrameInput, UpsampleBlur


class DetectorGraph(nn.Module):
    def __init__(self, model: nn.Module, size: tuple[int, int], sigma: float = 4.0):
        super().__init__()
        self.size = (int(size[0]), int(size[1]))
        self.input = FrameInput(model.backbone.mean, model.backbone.std)
        self.model = model
        self.upsample_blur = UpsampleBlur(self.size, sigma)
        # (threshold, 1 / (max - min)); identity-like until calibrated
        self.register_buffer("image_norm", torch.tensor([0.0, 1.0]))
        self.register_buffer("pixel_norm", torch.tensor([0.0, 1.0]))

    def set_calibration(self, calibration: Calibration) -> None:
        self.image_norm = _norm_constants(calibration.image).to(self.image_norm.device)
        self.pixel_norm = _norm_constants(calibration.pixel).to(self.pixel_norm.device)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        patch_map, raw_score = self.model(self.input(frames))
        raw_map = self.upsample_blur(patch_map)
        if raw_score is None:  # models without an image score of their own: the map's maximum (as anomalib)
            raw_score = raw_map.flatten(1).amax(1)
        return (
            _normalize(raw_score, self.image_norm),
            _normalize(raw_map, self.pixel_norm),
            raw_score,
            raw_map,
        )


def build_graph(config: TrainConfig, model_cls: type[nn.Module], pretrained: bool = True) -> DetectorGraph:
    """The untrained graph of ``config`` with ``model_cls`` (``get_model_class(config.model)``, resolved once by
    the caller); ``pretrained=False`` skips the weight lookup (a run's weights file has them)."""
    options = make_options(model_cls, config.options)
    layers = tuple(config.layers) if config.layers else tuple(model_cls.default_layers)
    backbone = FeatureExtractor(config.backbone, layers, config.weights, pretrained=pretrained)
    try:
        model = model_cls(backbone, options)
    except ValueError as exc:  # a model's own check of its options against the backbone
        raise EdgeadError(f"model '{config.model}': {exc}") from None
    return DetectorGraph(model, config.size).eval()


class BackboneGraph(nn.Module):
    """Input stage + backbone only: the reference that the full graph's latency is compared with."""

    def __init__(self, graph: DetectorGraph):
        super().__init__()
        self.input = graph.input
        self.backbone = graph.model.backbone

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.backbone(self.input(frames)))


def _norm_constants(norm: Normalization) -> torch.Tensor:
    return torch.tensor([norm.threshold, 1.0 / (norm.max - norm.min)], dtype=torch.float32)


def _normalize(values: torch.Tensor, constants: torch.Tensor) -> torch.Tensor:
    return ((values - constants[0]) * constants[1] + 0.5).clamp(0.0, 1.0)
