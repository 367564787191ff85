"""A reproducible frame to time when the user gives none."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..backends.base import Backend


def synthetic_file(backend: Backend, folder: Path) -> Path:
    """A PNG of twice the model size, so decode and the downscale do real work without a --source."""
    from ..opencv import cv2

    height, width = backend.metadata.size
    path = folder / "synthetic.png"
    cv2.imwrite(str(path), synthetic_frame(2 * height, 2 * width))
    return path


def synthetic_frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus noise: a frame resize cannot shortcut, reproducible without data."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], axis=-1)
    noise = rng.integers(-20, 21, size=base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)
