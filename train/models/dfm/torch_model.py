"""DFM: "Probabilistic Modeling of Deep Features for Out-of-Distribution and Adversarial Detection",
Ahuja et al., 2019 (arXiv 1909.11786), as in anomalib's DFM.

Pooled deep features of one stage, a PCA that keeps a variance ratio, and either the feature
reconstruction error (FRE) or the negative log-likelihood under a Gaussian in PCA space as the
image score. The anomaly map is the FRE summed over channels at each pooled position.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ...backbones import FeatureExtractor
from .. import register_model


@register_model("dfm")
class DFM(nn.Module):
    default_layers = (3,)

    @dataclass
    class Options:
        pca_variance: float = field(
            default=0.97, metadata={"help": "fraction of feature variance the PCA keeps", "fraction": True}
        )
        pool_size: int = field(default=2, metadata={"help": "average-pooling kernel over the feature map"})
        score_type: str = field(
            default="fre",
            metadata={
                "help": "image score: feature reconstruction error or Gaussian NLL",
                "choices": ("fre", "nll"),
            },
        )

    def __init__(self, backbone: FeatureExtractor, options: Options):
        super().__init__()
        if options.score_type not in ("fre", "nll"):
            raise ValueError(f"score_type must be 'fre' or 'nll', got '{options.score_type}'")
        if not 0.0 < options.pca_variance <= 1.0:
            raise ValueError(f"pca_variance must be in (0, 1], got {options.pca_variance}")
        if len(backbone.layers) != 1:
            raise ValueError(f"DFM uses one feature stage; got layers {list(backbone.layers)}")
        self.backbone = backbone
        self.options = options
        self.register_buffer("mean", torch.zeros(0))
        self.register_buffer("components", torch.zeros(0, 0))  # [F, k]
        self.register_buffer("gauss_mean", torch.zeros(0))  # [k]
        self.register_buffer("gauss_precision", torch.zeros(0, 0))  # [k, k]
        self.register_buffer("gauss_log_norm", torch.zeros(()))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled feature maps [N, C, h, w]."""
        feats = self.backbone(images)[0]
        if self.options.pool_size > 1:
            feats = F.avg_pool2d(feats, self.options.pool_size)
        return feats

    @torch.no_grad()
    def fit(self, batches: Iterable[torch.Tensor]) -> None:
        flat = torch.cat([self.features(images).flatten(1) for images in batches]).double()
        if flat.shape[0] < 2:
            raise ValueError("DFM needs at least 2 training images")
        mean = flat.mean(0)
        centered = flat - mean
        _, singular, vh = torch.linalg.svd(centered, full_matrices=False)
        variance = singular**2
        ratio = torch.cumsum(variance, 0) / variance.sum()
        wanted = torch.tensor(self.options.pca_variance, dtype=ratio.dtype, device=ratio.device)
        k = int(torch.searchsorted(ratio, wanted).item()) + 1
        k = min(k, vh.shape[0])
        components = vh[:k].T  # [F, k]
        projected = centered @ components
        gauss_mean = projected.mean(0)
        # Gaussian in PCA space: the components decorrelate, so the covariance is (close to) diagonal;
        # a full inverse keeps it exact. A tiny ridge keeps the smallest kept direction invertible.
        cov = torch.cov(projected.T).reshape(k, k) + 1e-6 * torch.eye(k, dtype=projected.dtype, device=flat.device)
        precision = torch.linalg.inv(cov)
        log_norm = 0.5 * (k * math.log(2 * math.pi) + torch.logdet(cov))
        self.mean, self.components = mean.float(), components.float().contiguous()
        self.gauss_mean, self.gauss_precision = gauss_mean.float(), precision.float()
        self.gauss_log_norm = log_norm.float()

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.features(images)
        n, c, h, w = feats.shape
        flat = feats.reshape(n, c * h * w)
        projected = (flat - self.mean) @ self.components
        reconstructed = projected @ self.components.T + self.mean
        error = (flat - reconstructed).pow(2)
        fre_map = error.reshape(n, c, h, w).sum(1)
        if self.options.score_type == "fre":
            return fre_map, error.sum(1)
        diff = projected - self.gauss_mean
        nll = 0.5 * ((diff @ self.gauss_precision) * diff).sum(1) + self.gauss_log_norm
        return fre_map, nll
