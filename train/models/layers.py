"""Graph pieces every model shares: the uint8-frame input stage and the anomaly-map blur.

Both run in training-time evaluation and inside the exported graph, so torch and ONNX compute
the same numbers by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class FrameInput(nn.Module):
    """uint8 BGR frames [N, H, W, 3] -> normalized float RGB [N, 3, H, W].

    Division by 255, mean and std fold into one multiply-add per channel.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        std_t = torch.tensor(std, dtype=torch.float32)
        mean_t = torch.tensor(mean, dtype=torch.float32)
        self.register_buffer("scale", (1.0 / (255.0 * std_t)).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", (-mean_t / std_t).view(1, 3, 1, 1), persistent=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        rgb = frames.permute(0, 3, 1, 2).flip(1).to(torch.float32)
        return rgb * self.scale + self.shift


def gaussian_kernel1d(sigma: float) -> torch.Tensor:
    """Normalized 1-D Gaussian with radius 4 sigma (kernel 33 for sigma 4), as in the PatchCore code."""
    radius = int(4.0 * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return (kernel / kernel.sum()).to(torch.float32)


class GaussianBlur(nn.Module):
    """Separable Gaussian blur of single-channel maps [N, 1, H, W]: two 1-D convolutions, reflect padding."""

    def __init__(self, sigma: float = 4.0):
        super().__init__()
        kernel = gaussian_kernel1d(sigma)
        self.radius = kernel.numel() // 2
        self.register_buffer("kernel_h", kernel.view(1, 1, 1, -1), persistent=False)
        self.register_buffer("kernel_v", kernel.view(1, 1, -1, 1), persistent=False)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        r = self.radius
        maps = F.conv2d(F.pad(maps, (r, r, 0, 0), mode="reflect"), self.kernel_h)
        return F.conv2d(F.pad(maps, (0, 0, r, r), mode="reflect"), self.kernel_v)


def upsample_and_blur(patch_maps: torch.Tensor, size: tuple[int, int], blur: GaussianBlur) -> torch.Tensor:
    """Patch-level maps [N, h, w] -> blurred maps [N, H, W] at the input size."""
    maps = F.interpolate(patch_maps.unsqueeze(1), size=size, mode="bilinear", align_corners=False)
    return blur(maps).squeeze(1)
