"""Reverse Distillation: "Anomaly Detection via Reverse Distillation from One-Class Embedding",
Deng and Li, CVPR 2022 (arXiv 2201.10703), with an anomaly map after anomalib's (README: what differs).

A frozen pretrained encoder (the teacher) gives three stages of features; the one-class bottleneck
fuses them into one compact embedding; a decoder (the student) that mirrors the encoder must
rebuild every stage's features from that embedding alone. Trained on good images, it cannot rebuild
what they never showed: ``1 - cos`` between encoder and decoder features is the anomaly map.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ...backbones import FeatureExtractor
from .. import register_model
from ..layers import MAP_COMBINE_MODES
from .anomaly_map import anomaly_map
from .blocks import Decoder, OneClassBottleneck
from .loss import reverse_distillation_loss


@register_model("reverse_distillation")
class ReverseDistillation(nn.Module):
    default_layers = (1, 2, 3)  # strides 4, 8, 16: the paper's layer1-3 of a wide ResNet-50
    # the paper trains 200 epochs; figures in benchmarks/results/distillation/reverse_distillation-*.evaluate.json
    default_epochs = 20
    fast_epochs = 3
    default_lr = 0.005

    @dataclass
    class Options:
        map_combine: str = field(
            default="add",
            metadata={"help": "how per-stage 1 - cos maps combine into one", "choices": MAP_COMBINE_MODES},
        )
        decoder_blocks: int = field(default=2, metadata={"help": "residual blocks per decoder stage"})

    def __init__(self, backbone: FeatureExtractor, options: Options):
        super().__init__()
        if options.map_combine not in MAP_COMBINE_MODES:
            raise ValueError(f"map_combine must be one of {', '.join(MAP_COMBINE_MODES)}, got '{options.map_combine}'")
        self.backbone = backbone  # the encoder: pretrained, frozen, always in eval mode
        self.options = options
        self.bottleneck = OneClassBottleneck(backbone.channels, backbone.strides)
        self.decoder = Decoder(
            self.bottleneck.embed_channels, backbone.channels, backbone.strides, options.decoder_blocks
        )

    def train(self, mode: bool = True) -> ReverseDistillation:
        super().train(mode)
        self.backbone.eval()
        return self

    def make_optimizer(self, lr: float) -> torch.optim.Optimizer:
        params = [*self.bottleneck.parameters(), *self.decoder.parameters()]
        return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))

    def encode_decode(self, images: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        # the encoder's parameters are frozen (requires_grad False), so no autograd graph is built through it;
        # no torch.no_grad() here: inside the traced graph it would hide the encoder's module scope, which the
        # fp16/int8 variants use to find the backbone's nodes
        encoder = self.backbone(images)
        return encoder, self.decoder(self.bottleneck(encoder))

    def loss(self, images: torch.Tensor) -> torch.Tensor:
        return reverse_distillation_loss(*self.encode_decode(images))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, None]:
        """Anomaly map [N, h, w] at the finest stage's resolution; no separate image score."""
        return anomaly_map(*self.encode_decode(images), self.options.map_combine), None
