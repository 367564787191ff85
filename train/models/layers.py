"""Graph pieces every model shares: the uint8-frame input stage and the anomaly-map upsampling and blur.

Both run in training-time evaluation and inside the exported graph, so torch and ONNX compute
the same numbers by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
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
        self.register_buffer("rgb_order", torch.tensor([2, 1, 0]), persistent=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        # Cast first: TensorRT takes uint8 only as a graph input that a Cast consumes. BGR -> RGB by a Gather, not a
        # reversed Slice, whose INT64_MAX bounds TensorRT 8.x clamps to INT32 (`edgead doctor` flags both). Export then
        # folds the Gather into the first convolutions' weights (export/input_fold.py): ORT's CPU Gather is slow.
        rgb = frames.to(torch.float32).index_select(3, self.rgb_order).permute(0, 3, 1, 2)
        return rgb * self.scale + self.shift


def gaussian_kernel1d(sigma: float) -> np.ndarray:
    """Normalized 1-D Gaussian with radius 4 sigma (33 taps for sigma 4), as in the PatchCore code."""
    radius = int(4.0 * sigma + 0.5)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    return kernel / kernel.sum()


class UpsampleBlur(nn.Module):
    """Patch maps [N, h, w] -> maps [N, H, W]: bilinear upsampling, then a separable Gaussian blur.

    The blur is the papers' sigma-4 Gaussian as two 1-D convolutions with reflect borders. Upsampling
    and both convolutions are linear along each axis, so the graph applies them as one small matrix
    per axis, ``A_h @ map @ A_w.T``; each matrix is built by running those very 1-D operations on
    unit impulses. Same numbers, but two small GEMMs instead of a Resize and two 33-tap
    convolutions over every full-size map, which ONNX Runtime runs slowly for a single channel.
    """

    def __init__(self, size: tuple[int, int], sigma: float = 4.0):
        super().__init__()
        self.size = (int(size[0]), int(size[1]))
        self.kernel = gaussian_kernel1d(sigma)
        self._matrices: dict[tuple[int, int, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}

    def forward(self, patch_maps: torch.Tensor) -> torch.Tensor:
        h, w = patch_maps.shape[-2:]
        key = (h, w, patch_maps.device)
        if key not in self._matrices:  # static per model: becomes two constants when exported
            along = (self.axis_matrix(h, self.size[0]), self.axis_matrix(w, self.size[1]))
            # built on the CPU; moved only when the model runs elsewhere (export traces on the CPU, no copy op)
            self._matrices[key] = along if key[2].type == "cpu" else tuple(m.to(key[2]) for m in along)
        along_h, along_w = self._matrices[key]
        return along_h @ (patch_maps @ along_w.T)

    def axis_matrix(self, n_in: int, n_out: int) -> torch.Tensor:
        """[n_out, n_in]: linear upsampling (align_corners=False), then the 1-D Gaussian, reflect padded.

        Built in numpy so that export records the result as a constant, not the ops that made it.
        """
        kernel = self.kernel
        radius = kernel.size // 2
        # linear interpolation with half-pixel centres, as F.interpolate(align_corners=False)
        src = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0, None)
        low = np.minimum(np.floor(src).astype(int), n_in - 1)
        high = np.minimum(low + 1, n_in - 1)
        frac = src - low
        upsample = np.zeros((n_out, n_in))
        np.add.at(upsample, (np.arange(n_out), low), 1.0 - frac)
        np.add.at(upsample, (np.arange(n_out), high), frac)
        # 1-D Gaussian over the reflect-padded (edge pixel not repeated) upsampled axis
        padded = np.pad(np.eye(n_out), ((radius, radius), (0, 0)), mode="reflect")  # rows: padded positions
        blur = np.stack([kernel @ padded[i : i + kernel.size] for i in range(n_out)])  # [n_out, n_out]
        return torch.from_numpy((blur @ upsample).astype(np.float32))


def resize_bilinear(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """[N, C, h, w] -> [N, C, *size], bilinear with half-pixel centres (align_corners=False); no op when already
    that size, so the exported graph gets no Resize node for the finest stage."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def concat_at_finest(features: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stage features [N, C_k, h_k, w_k] resized to the finest (first) one's size, concatenated: [N, ΣC_k, h, w]."""
    size = features[0].shape[-2:]
    return torch.cat([resize_bilinear(f, size) for f in features], dim=1)


MAP_COMBINE_MODES = ("add", "multiply")


def combine_stage_maps(maps: Sequence[torch.Tensor], mode: str) -> torch.Tensor:
    """Per-stage maps [N, h_k, w_k] -> one map at the first (finest) stage's size, by sum or product.

    Each coarser map is bilinearly resized to the finest stage's size (64x64 at 256 px for strides 4-16) and
    combined there; the graph then upsamples the combined map to the input size and blurs it. anomalib and the
    papers' code resize every stage to the image size first; the model READMEs say what that changes.
    """
    if mode not in MAP_COMBINE_MODES:
        raise ValueError(f"map combine mode must be one of {', '.join(MAP_COMBINE_MODES)}, got '{mode}'")
    size = maps[0].shape[-2:]
    combined = maps[0]
    for m in maps[1:]:
        m = resize_bilinear(m.unsqueeze(1), size).squeeze(1)
        combined = combined + m if mode == "add" else combined * m
    return combined
