"""The one preprocessing function: training, export checks and every runtime use it.

Whatever a camera or file gives (grey, BGR, BGRA, 8- or 16-bit, any size) becomes a uint8 BGR
frame at the model size. Normalization and colour order are inside the exported graph, so this is
all that happens outside it; keeping it in one place is what stops scores drifting after export.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import imagesize
import numpy as np

from .errors import EdgeadError, FrameMismatchError, ImageReadError
from .opencv import cv2

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# The pixel budget of one decoded image: 2**26 = 8192x8192 (a 65 MP industrial camera fits). A larger image is
# refused from its header before any pixel is decoded: a 20000x20000 grey PNG would cost ~2 GB on the way to the
# model size (decode, BGR, resize), an OOM on a 4 GB Jetson, and a 74-byte PNG can claim 60000x60000.
MAX_IMAGE_PIXELS_ENV = "EDGEAD_MAX_IMAGE_PIXELS"
DEFAULT_MAX_IMAGE_PIXELS = 1 << 26


def max_image_pixels() -> int:
    """The pixel budget: ``EDGEAD_MAX_IMAGE_PIXELS`` if set (a positive integer), else 2**26."""
    text = os.environ.get(MAX_IMAGE_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise EdgeadError(f"{MAX_IMAGE_PIXELS_ENV}='{text}' is not a positive number of pixels; unset it for 2**26")
    return value


def header_size(source: str | Path | bytes) -> tuple[int, int] | None:
    """(width, height) from an image's header without decoding it (the ``imagesize`` reader: PNG, JPEG, BMP,
    TIFF, WebP, ...), or None if the header is not one it knows or is cut short."""
    try:
        width, height = imagesize.get(io.BytesIO(source) if isinstance(source, bytes) else source, exif_rotation=False)
    except (OSError, ValueError, IndexError, EOFError):  # struct.error is a ValueError
        return None
    return (width, height) if width > 0 and height > 0 else None


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as stored (any depth, any channel count); raise ImageReadError if unreadable.

    Every decoder failure is an ImageReadError for this file alone: a header over the pixel budget
    (``max_image_pixels``) is refused before decoding, and OpenCV's own refusals (``cv2.error``) and an
    allocation that fails are reported as unreadable, never raised as they are.
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ImageReadError(str(path), exc.strerror or str(exc)) from exc
    if data.size == 0:
        raise ImageReadError(str(path), "the file is empty")
    size = header_size(data.tobytes())
    budget = max_image_pixels()
    if size is not None and size[0] * size[1] > budget:
        raise ImageReadError(
            str(path),
            f"its header claims {size[0]}x{size[1]} = {size[0] * size[1]:,} pixels, over the budget of {budget:,} "
            f"(set {MAX_IMAGE_PIXELS_ENV} to raise it, or downscale the file)",
        )
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except (cv2.error, MemoryError) as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ImageReadError(str(path), f"the decoder refused it ({first})") from exc
    if image is None:
        raise ImageReadError(str(path), "not a decodable image (corrupt, truncated or unsupported format)")
    if size is None and image.shape[0] * image.shape[1] > budget:  # a header imagesize did not know
        raise ImageReadError(
            str(path),
            f"{image.shape[1]}x{image.shape[0]} pixels, over the budget of {budget:,} ({MAX_IMAGE_PIXELS_ENV})",
        )
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
