"""What the runtime reads from a data folder: the labelled test split and its masks (what ``bench --accuracy``
scores), and the good images that int8 calibration runs on.

Training (``edgead.train.data``) imports these, so the runtime and ``edgead evaluate`` read the same
images, labels and masks the same way; every int8 artefact (the Q/DQ ``.onnx``, the TensorRT entropy
calibrator) is calibrated through ``calibration_frames``, so two int8 files of one run see the same images.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .errors import EdgeadError, ImageReadError
from .preprocess import list_images, load_frame, prepare_frame, read_image

GOOD = "good"
CALIBRATION_IMAGES = 64  # good images that int8 scales are computed on (`--calibration-images N`)


@dataclass(frozen=True)
class Sample:
    """One test image with its ground truth; ``mask_path`` is None for good images."""

    path: Path
    label: int  # 0 good, 1 anomalous
    defect_type: str  # "good" for good images
    mask_path: Path | None


def find_test_split(root: str | Path) -> list[Sample]:
    """Test samples of an MVTec-layout folder (``test/<type>/``, ``ground_truth/<type>/<stem>_mask.png``);
    a defect image without a mask file gets mask_path None. Empty when there is no ``test/`` folder."""
    root = Path(root)
    test_dir = root / "test"
    if not test_dir.is_dir():
        return []
    samples = []
    for type_dir in sorted(p for p in test_dir.iterdir() if p.is_dir()):
        defect_type = type_dir.name
        for path in list_images(type_dir):
            if defect_type == GOOD:
                samples.append(Sample(path, 0, GOOD, None))
                continue
            mask = root / "ground_truth" / defect_type / f"{path.stem}_mask.png"
            samples.append(Sample(path, 1, defect_type, mask if mask.is_file() else None))
    return samples


def load_mask(path: Path | None, size: tuple[int, int]) -> np.ndarray:
    """A ground-truth mask as bool [H, W] at the model size; None (a good image) gives all False.

    Any non-zero pixel is a defect (masks come as 0/255 or 0/1). The mask goes through the same
    resize as the image, then takes the majority of each output pixel: a nearest-neighbour resize
    would sample other source pixels than the image resize and shift thin defects by a pixel.
    """
    if path is None:
        return np.zeros(size, dtype=bool)
    mask = read_image(path)
    binary = np.where(mask.reshape(*mask.shape[:2], -1).max(axis=2) > 0, 255, 0).astype(np.uint8)
    return prepare_frame(binary, size)[..., 0] > 127


def good_images(folder: str | Path) -> list[Path]:
    """The good images of ``folder``: its ``train/good`` (MVTec layout), else the images directly in it."""
    folder = Path(folder)
    if (folder / "train" / GOOD).is_dir():
        folder = folder / "train" / GOOD
    if not folder.is_dir():
        raise EdgeadError(f"calibration folder '{folder}' does not exist; pass --calibration-data DIR of good images")
    paths = list_images(folder)
    if not paths:
        raise EdgeadError(f"'{folder}' has no images; int8 calibration needs good images: --calibration-data DIR")
    return paths


def calibration_frames(
    paths: Sequence[Path], size: tuple[int, int], count: int = CALIBRATION_IMAGES, skip_corrupt: bool = False
) -> np.ndarray:
    """``count`` of ``paths`` spread evenly (all when fewer), as the runtime feeds them: uint8 [N, H, W, 3].

    ``paths`` are sorted first, so the same folder (or the same run's fit split) always gives the same frames.
    A corrupt image is an error, or with ``skip_corrupt`` skipped with a warning.
    """
    if count < 1:
        raise EdgeadError(f"--calibration-images must be at least 1, got {count}")
    ordered = sorted(Path(p) for p in paths)
    if not ordered:
        raise EdgeadError("no good images to calibrate int8 on; pass --calibration-data DIR of good images")
    picks = np.unique(np.linspace(0, len(ordered) - 1, min(count, len(ordered))).round().astype(int))
    frames = []
    for i in tqdm(picks, desc="calibration images", unit="img"):
        try:
            frames.append(load_frame(ordered[i], size))
        except ImageReadError as exc:
            if not skip_corrupt:
                raise
            warnings.warn(f"skipping {exc}", stacklevel=2)
    if not frames:
        raise EdgeadError(f"none of the {len(picks)} calibration images could be read (first: '{ordered[picks[0]]}')")
    return np.stack(frames)
