"""The one preprocessing function: training, export checks and every runtime use it.

Whatever a camera or file gives (grey, BGR, BGRA, 8- or 16-bit, any size) becomes a uint8 BGR
frame at the model size. Normalization and colour order are inside the exported graph, so this is
all that happens outside it; keeping it in one place is what stops scores drifting after export.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import FrameMismatchError, ImageReadError
from .opencv import cv2

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as stored (any depth, any channel count); raise ImageReadError if unreadable."""
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ImageReadError(str(path), exc.strerror or str(exc)) from exc
    if data.size == 0:
        raise ImageReadError(str(path), "the file is empty")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageReadError(str(path), "not a decodable image (corrupt, truncated or unsupported format)")
    return image


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Convert a decoded image of any common layout to uint8 BGR (H, W, 3)."""
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise FrameMismatchError(
            f"frame dtype {image.dtype} is not supported; give uint8 or uint16 pixels (shape {image.shape})"
        )
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    raise FrameMismatchError(
        f"frame shape {image.shape} is not an image; expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)"
    )


def prepare_frame(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Turn a decoded frame into the graph's input: uint8 BGR, resized to ``size`` = (height, width).

    Downscaling uses area interpolation (anti-aliased), upscaling bilinear, so the same picture
    gives the same input whether it came from training, export or a camera.
    """
    bgr = to_bgr8(image)
    height, width = size
    if bgr.shape[:2] == (height, width):
        return np.ascontiguousarray(bgr)
    shrinking = bgr.shape[0] > height or bgr.shape[1] > width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(bgr, (width, height), interpolation=interpolation)


def load_frame(path: str | Path, size: tuple[int, int]) -> np.ndarray:
    """Read an image file and prepare it for a model of ``size`` = (height, width)."""
    return prepare_frame(read_image(path), size)


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
