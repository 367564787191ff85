"""STAD: "Uninformed Students: Student-Teacher Anomaly Detection with Discriminative Latent Embeddings",
Bergmann, Fauser, Sattlegger, Steger, CVPR 2020 (arXiv 1911.02357), in its dense form.

The teacher maps every position of the feature grid to a d-dimensional descriptor: frozen pretrained
backbone features (the stages upsampled to the finest one and concatenated), projected to d dimensions
by a fixed linear map fitted in ``prepare`` and normalized per channel with training-set statistics.
An ensemble of randomly initialized, fully convolutional students regresses those descriptors from the
image, so one forward pass gives every position's descriptor. A position is anomalous where the
students' mean misses the teacher (regression error) or where the students disagree (predictive
variance); both are normalized by their training-set statistics (``finalize``) and added.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from edgead_runtime.errors import EdgeadError

from ...backbones import FeatureExtractor
from .. import register_model
from ..layers import concat_at_finest

PROJECTIONS = ("pca", "random")


def student_network(out_stride: int, width: int, depth: int, out_dim: int) -> nn.Sequential:
    """A small random-init FCN from the image to ``out_dim`` channels at ``out_stride``.

    log2(stride) strided 3x3 convolutions (widths growing to ``width``), then ``depth`` 3x3
    convolutions at full stride and a 1x1 head. Receptive field: 2*stride - 1 + 2*stride*depth pixels
    (63 px for stride 8, depth 3, like the paper's 65 px students).
    """
    n_down = int(math.log2(out_stride))
    if 2**n_down != out_stride:
        raise EdgeadError(f"STAD students need a power-of-two feature stride, got {out_stride}; choose other --layers")
    layers: list[nn.Module] = []
    channels = 3
    for i in range(n_down):
        out = max(width >> (n_down - 1 - i), 16)
        layers += [nn.Conv2d(channels, out, 3, 2, 1, bias=False), nn.BatchNorm2d(out), nn.LeakyReLU(0.01)]
        channels = out
    for _ in range(depth):
        layers += [nn.Conv2d(channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.LeakyReLU(0.01)]
        channels = width
    layers.append(nn.Conv2d(channels, out_dim, 1))
    return nn.Sequential(*layers)


def receptive_field(out_stride: int, depth: int) -> int:
    return 2 * out_stride - 1 + 2 * out_stride * depth


def parse_depths(text: str) -> tuple[int, ...]:
    try:
        depths = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        depths = ()
    if not depths or min(depths) < 0:
        raise EdgeadError(f"--student-depths must be comma-separated integers >= 0 like '3' or '2,4', got '{text}'")
    return depths


def ensemble_scores(predictions: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Regression error ||mean - t||^2 and predictive variance mean_i ||s_i||^2 - ||mean||^2 per position.

    predictions [M, N, d, h, w], target [N, d, h, w] -> two maps [N, h, w].
    """
    mean = predictions.mean(0)
    error = (mean - target).pow(2).sum(1)
    variance = (predictions.pow(2).sum(2).mean(0) - mean.pow(2).sum(1)).clamp_min(0.0)
    return error, variance


@register_model("stad")
class STAD(nn.Module):
    default_layers = (2, 3)
    default_epochs = 10
    fast_epochs = 2
    default_lr = 1e-3
    weight_decay = 1e-5  # the paper's

    @dataclass
    class Options:
        descriptor_dim: int = field(default=128, metadata={"help": "teacher descriptor size d"})
        projection: str = field(
            default="pca",
            metadata={
                "help": "fixed map from backbone features to d dims, fitted on training features",
                "choices": PROJECTIONS,
            },
        )
        n_students: int = field(default=3, metadata={"help": "students per receptive field (ensemble size M)"})
        student_width: int = field(default=64, metadata={"help": "channels of each student's convolutions"})
        student_depths: str = field(
            default="3",
            metadata={
                "help": "stride-1 3x3 layers per student, comma-separated for several receptive fields "
                "(each a group of students, maps averaged); receptive field = 15 + 16*depth px at stride 8"
            },
        )

    def __init__(self, backbone: FeatureExtractor, options: Options):
        super().__init__()
        if options.projection not in PROJECTIONS:
            raise EdgeadError(f"--projection must be one of {', '.join(PROJECTIONS)}, got '{options.projection}'")
        if options.n_students < 1:
            raise EdgeadError(f"--n-students must be at least 1, got {options.n_students}")
        feature_dim = sum(backbone.channels)
        if not 1 <= options.descriptor_dim <= feature_dim:
            raise EdgeadError(
                f"--descriptor-dim must be in 1..{feature_dim} (the channels of stages {list(backbone.layers)}), "
                f"got {options.descriptor_dim}"
            )
        self.backbone = backbone
        self.options = options
        self.depths = parse_depths(options.student_depths)
        stride, d = min(backbone.strides), options.descriptor_dim
        # one group of M students per receptive field
        self.groups = nn.ModuleList(
            nn.ModuleList(student_network(stride, options.student_width, depth, d) for _ in range(options.n_students))
            for depth in self.depths
        )
        # teacher: t = ((f - feature_mean) @ projection) / descriptor_std, fitted in prepare
        self.register_buffer("feature_mean", torch.zeros(feature_dim))
        self.register_buffer("projection", torch.zeros(feature_dim, d))
        self.register_buffer("descriptor_std", torch.ones(d))
        # per group: (error mean, error std, variance mean, variance std), fitted in finalize
        self.register_buffer("score_stats", torch.tensor([[0.0, 1.0, 0.0, 1.0]] * len(self.depths)))

    def train(self, mode: bool = True) -> STAD:
        super().train(mode)
        self.backbone.eval()  # the teacher is frozen, batch norm included
        return self

    def make_optimizer(self, lr: float) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.groups.parameters(), lr=lr, weight_decay=self.weight_decay)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Backbone stages upsampled to the finest one and concatenated: [N, C, h, w]."""
        return concat_at_finest(self.backbone(images))

    def teacher(self, images: torch.Tensor) -> torch.Tensor:
        """Normalized teacher descriptors [N, d, h, w]: one 1x1 convolution over the backbone features."""
        weight = (self.projection / self.descriptor_std).T  # [d, C]
        bias = -(self.feature_mean @ weight.T)
        return F.conv2d(self.features(images), weight[:, :, None, None], bias)

    def students(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Per receptive-field group, the students' descriptor maps stacked: [M, N, d, h, w]."""
        return [torch.stack([s(images) for s in group]) for group in self.groups]

    @torch.no_grad()
    def prepare(self, batches: Iterable[torch.Tensor]) -> None:
        """Fit the teacher's projection and per-channel normalization on training features (one pass)."""
        total, outer, count = None, None, 0
        for images in batches:
            f = self.features(images).permute(0, 2, 3, 1).reshape(-1, self.feature_mean.numel()).double()
            total = f.sum(0) if total is None else total + f.sum(0)
            outer = f.T @ f if outer is None else outer + f.T @ f
            count += f.shape[0]
        if count < 2:
            raise EdgeadError("STAD needs training images to fit the teacher's projection")
        mean = total / count
        cov = outer / count - torch.outer(mean, mean)
        d = self.options.descriptor_dim
        if self.options.projection == "pca":
            eigvals, eigvecs = torch.linalg.eigh(cov)  # ascending
            projection = eigvecs[:, -d:].flip(1)
        else:
            gaussian = torch.randn(cov.shape[0], d, dtype=torch.float64)  # CPU generator: `edgead train --seed`
            projection, _ = torch.linalg.qr(gaussian.to(cov.device))  # orthonormal columns
        variance = ((cov @ projection) * projection).sum(0)
        self.feature_mean = mean.float()
        self.projection = projection.float().contiguous()
        self.descriptor_std = variance.clamp_min(1e-12).sqrt().float()

    def loss(self, images: torch.Tensor) -> torch.Tensor:
        """Mean squared regression error of every student, summed over students and groups (paper Eq. 4)."""
        with torch.no_grad():
            target = self.teacher(images)
        return sum((s - target).pow(2).sum(2).mean((1, 2, 3)).sum() for s in self.students(images))

    @torch.no_grad()
    def finalize(self, batches: Iterable[torch.Tensor]) -> None:
        """Mean and std of the error and variance maps over the training images, per group."""
        # sum e, sum e^2, sum v, sum v^2
        sums = torch.zeros(len(self.groups), 4, dtype=torch.float64, device=self.score_stats.device)
        count = 0
        for images in batches:
            target = self.teacher(images)
            for g, predictions in enumerate(self.students(images)):
                error, variance = (m.double() for m in ensemble_scores(predictions, target))
                sums[g] += torch.stack([error.sum(), error.pow(2).sum(), variance.sum(), variance.pow(2).sum()])
            count += target.shape[0] * target.shape[2] * target.shape[3]
        means = sums[:, 0::2] / count
        stds = (sums[:, 1::2] / count - means.pow(2)).clamp_min(1e-12).sqrt()
        self.score_stats = torch.stack([means[:, 0], stds[:, 0], means[:, 1], stds[:, 1]], 1).float()

    def score_maps(self, images: torch.Tensor) -> torch.Tensor:
        """Normalized error + normalized variance per group: [G, N, h, w]."""
        target = self.teacher(images)
        maps = []
        for stats, predictions in zip(self.score_stats, self.students(images), strict=True):
            error, variance = ensemble_scores(predictions, target)
            maps.append((error - stats[0]) / stats[1] + (variance - stats[2]) / stats[3])
        return torch.stack(maps)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.score_maps(images).mean(0), None
