"""The labelled test split of an MVTec-AD-layout folder, and its masks: what ``bench --accuracy`` scores.

Training (``edgead.train.data``) imports these, so the runtime and ``edgead evaluate`` read the same
images, labels and masks the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .preprocess import list_images, prepare_frame, read_image

GOOD = "good"


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
