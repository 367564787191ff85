"""Reverse Distillation's trainable parts, shaped from the encoder's stage widths and strides.

The paper builds them from ResNet blocks for a wide ResNet-50 encoder (stages 256/512/1024 wide at
strides 4/8/16, a 2048-wide embedding at stride 32). Here every width comes from the encoder's
``channels`` and every resampling step from its ``strides``, so the same code fits
tf_efficientnet_lite0 (24/40/112 -> 224), resnet18 (64/128/256 -> 512) and wide_resnet50_2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


class Block(nn.Module):
    """A ResNet basic block that can halve (``down``) or double (``up``, transposed conv) the resolution.

    ``act_out=False`` leaves the output linear: a decoder stage must be able to produce negative values
    where the encoder's features have them (EfficientNet stage outputs are not rectified, ResNet's are).
    """

    def __init__(self, in_ch: int, out_ch: int, resample: str | None = None, act_out: bool = True):
        super().__init__()
        if resample == "up":
            first: nn.Module = nn.ConvTranspose2d(in_ch, out_ch, 2, stride=2, bias=False)
            shortcut: nn.Module = nn.ConvTranspose2d(in_ch, out_ch, 2, stride=2, bias=False)
        elif resample == "down":
            first = nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1, bias=False)
            shortcut = nn.Conv2d(in_ch, out_ch, 1, stride=2, bias=False)
        elif resample is None:
            first = nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False)
            shortcut = nn.Identity() if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 1, bias=False)
        else:
            raise ValueError(f"resample must be 'up', 'down' or None, got '{resample}'")
        self.body = nn.Sequential(
            first,
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
        )
        self.shortcut = (
            shortcut if isinstance(shortcut, nn.Identity) else nn.Sequential(shortcut, nn.BatchNorm2d(out_ch))
        )
        self.act_out = act_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x) + self.shortcut(x)
        return torch.relu(out) if self.act_out else out


def doublings(strides: Sequence[int]) -> list[int]:
    """Stride-2 steps between consecutive stages; the strides must differ by powers of two."""
    steps = []
    for a, b in zip(strides, strides[1:], strict=False):
        ratio = b / a
        if ratio < 2 or ratio != 2 ** round(math.log2(ratio)):
            raise ValueError(f"Reverse Distillation needs stages whose strides double; got strides {list(strides)}")
        steps.append(round(math.log2(ratio)))
    return steps


class OneClassBottleneck(nn.Module):
    """Multi-scale feature fusion into the one-class embedding (the paper's OCBE).

    Each shallower stage is brought down to the deepest stage's resolution by strided 3x3 convs
    (widening to the next stage's width at each step), the stages are concatenated, and a residual
    block with stride 2 makes the compact embedding, twice as wide as the deepest stage.
    """

    def __init__(self, channels: Sequence[int], strides: Sequence[int]):
        super().__init__()
        steps = doublings(strides)
        self.down = nn.ModuleList()
        for i in range(len(channels)):
            layers: list[nn.Module] = []
            width = channels[i]
            for j in range(i, len(channels) - 1):
                for k in range(steps[j]):
                    out = channels[j + 1] if k == steps[j] - 1 else width
                    layers += [nn.Conv2d(width, out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(out)]
                    layers.append(nn.ReLU(inplace=True))
                    width = out
            self.down.append(nn.Sequential(*layers))
        self.embed_channels = 2 * channels[-1]
        self.fuse = Block(len(channels) * channels[-1], self.embed_channels, "down")

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.fuse(torch.cat([down(f) for down, f in zip(self.down, features, strict=True)], dim=1))


class Decoder(nn.Module):
    """The encoder mirrored: from the embedding, each stage upsamples (transposed convs) to the next
    shallower encoder stage's resolution and width, then ``blocks - 1`` more residual blocks.

    Returns the features in the encoder's order (finest first), one per encoder stage.
    """

    def __init__(self, embed_channels: int, channels: Sequence[int], strides: Sequence[int], blocks: int = 2):
        super().__init__()
        if blocks < 1:
            raise ValueError(f"the decoder needs at least 1 block per stage, got {blocks}")
        steps = [1, *doublings(strides)[::-1]]  # embedding -> deepest stage is one doubling
        widths = [embed_channels, *channels[::-1]]
        self.stages = nn.ModuleList()
        for i, out in enumerate(channels[::-1]):
            width = widths[i]
            layers: list[nn.Module] = []
            for _ in range(steps[i]):
                layers.append(Block(width, out, "up"))
                width = out
            layers += [Block(out, out) for _ in range(blocks - 1)]
            layers[-1].act_out = False
            self.stages.append(nn.Sequential(*layers))

    def forward(self, embedding: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        x = embedding
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs[::-1]
