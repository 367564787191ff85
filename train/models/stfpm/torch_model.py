"""STFPM: "Student-Teacher Feature Pyramid Matching for Anomaly Detection", Wang, Wu, Cui, Xiao, 2021
(arXiv 2103.04257), with an anomaly map after anomalib's STFPM (README: what differs).

The teacher is the pretrained backbone over three stages, frozen. The student is the same timm
architecture with random weights, trained to reproduce the teacher's L2-normalized features on good
images. Where the image is unlike the training images the student fails to, and the per-stage
distances, multiplied, are the anomaly map. The image score is the max of the blurred map (the graph's).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...backbones import FeatureExtractor, create_features
from .. import register_model
from .anomaly_map import anomaly_map
from .loss import stfpm_loss


@register_model("stfpm")
class STFPM(nn.Module):
    default_layers = (1, 2, 3)  # strides 4, 8, 16: resnet18's layer1-3 in the paper
    default_epochs = 10  # the paper trains 100; figures: benchmarks/results/distillation/stfpm-*.evaluate.json
    # a random-init student needs ~25 steps to separate defects: on the CI set (36 images, batch 8) 3 epochs give
    # image AUROC 0.63, 5 epochs 0.97-1.00 over seeds 0-2 (benchmarks/results/distillation/stfpm-fast-epochs.txt)
    fast_epochs = 5
    default_lr = 0.4

    @dataclass
    class Options:
        """No model-specific options: SGD's momentum 0.9 and weight decay 1e-4 are the paper's."""

    def __init__(self, backbone: FeatureExtractor, options: Options):
        super().__init__()
        self.backbone = backbone  # the teacher: pretrained, frozen, always in eval mode
        self.options = options
        self.student = create_features(backbone.name, backbone.layers)

    def train(self, mode: bool = True) -> STFPM:
        super().train(mode)
        self.backbone.eval()
        return self

    def make_optimizer(self, lr: float) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.student.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)

    def loss(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            teacher = self.backbone(images)
        return stfpm_loss(teacher, self.student(images))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, None]:
        """Anomaly map [N, h, w] at the finest stage's resolution; no separate image score."""
        return anomaly_map(self.backbone(images), self.student(images)), None
