"""Find, split and load anomaly-detection data sets for training and evaluation.

Two layouts are accepted (see docs/design.md, "Contracts"): the MVTec AD layout
(``train/good``, ``test/<type>/``, ``ground_truth/<type>/<stem>_mask.png``) and a plain folder of
good images. Pixels go through the runtime's ``load_frame``, so training sees exactly what the
exported graph will see. The test split and its masks come from ``edgead_runtime.datasets``, which
``edgead-runtime bench --accuracy`` uses too.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from edgead_runtime.datasets import GOOD, Sample, find_test_split, load_mask
from edgead_runtime.errors import EdgeadError, ImageReadError
from edgead_runtime.preprocess import IMAGE_SUFFIXES, list_images, load_frame

MIN_HOLDOUT = 2  # mean + 3 std needs a standard deviation, so at least two held-out images


@dataclass(frozen=True)
class Dataset:
    """Good training images plus labelled test images (empty for a plain folder)."""

    root: Path
    train: list[Path]
    test: list[Sample]
    layout: Literal["mvtec", "folder"]


def find_dataset(root: str | Path) -> Dataset:
    """Recognise the layout of ``root`` and list its images; raise EdgeadError if it is neither layout."""
    root = Path(root)
    if not root.is_dir():
        raise EdgeadError(f"data folder '{root}' does not exist or is not a folder; pass --data DIR")
    train_dir = root / "train" / GOOD
    if train_dir.is_dir():
        train = list_images(train_dir)
        if not train:
            raise EdgeadError(
                f"'{train_dir}' holds no images (looked for {', '.join(IMAGE_SUFFIXES)}); "
                "put the good training images there"
            )
        return Dataset(root, train, find_test_split(root), "mvtec")
    train = list_images(root)
    if train:
        return Dataset(root, train, [], "folder")
    raise EdgeadError(
        f"no images found in '{root}': looked for the MVTec AD layout ('train/good', 'test/<type>', "
        f"'ground_truth/<type>/<stem>_mask.png') and for image files ({', '.join(IMAGE_SUFFIXES)}) "
        "directly in the folder; point --data at one of these"
    )


def split_holdout(paths: Sequence[Path], fraction: float = 0.1, seed: int = 0) -> tuple[list[Path], list[Path]]:
    """Split good images into (fit, holdout) for calibration, reproducibly.

    The holdout has ``round(fraction * n)`` images, but at least 2 (calibration needs a standard
    deviation) and at most half (fitting matters more), so at least 4 images are needed. The split
    depends only on the set of paths and the seed, not on their order; both lists come back sorted.
    """
    if not 0 < fraction < 1:
        raise EdgeadError(f"holdout fraction {fraction} is out of range; give a value in (0, 1), e.g. 0.1")
    ordered = sorted(Path(p) for p in paths)
    n = len(ordered)
    if n < 2 * MIN_HOLDOUT:
        raise EdgeadError(
            f"{n} good image(s) cannot be split for calibration: {MIN_HOLDOUT} are held out and at least as "
            f"many are needed to fit; add good images (at least {2 * MIN_HOLDOUT})"
        )
    n_holdout = min(max(MIN_HOLDOUT, round(fraction * n)), n // 2)
    held = set(np.random.default_rng(seed).permutation(n)[:n_holdout].tolist())
    fit = [p for i, p in enumerate(ordered) if i not in held]
    holdout = [p for i, p in enumerate(ordered) if i in held]
    return fit, holdout


def load_frames(
    paths: Sequence[Path], size: tuple[int, int], skip_corrupt: bool = False, desc: str = "loading"
) -> tuple[np.ndarray, list[Path]]:
    """Load images as uint8 BGR frames [N, H, W, 3] at ``size`` = (height, width) through the runtime.

    A corrupt file raises ImageReadError, or with ``skip_corrupt`` is skipped with a warning; the
    paths that were kept come back so scores stay matched to files.
    """
    if not paths:
        raise EdgeadError("no image paths to load; check the data folder")
    frames = np.empty((len(paths), *size, 3), dtype=np.uint8)
    kept: list[Path] = []
    for path in tqdm(paths, desc=desc, unit="img"):
        try:
            frames[len(kept)] = load_frame(path, size)
        except ImageReadError as exc:
            if not skip_corrupt:
                raise
            warnings.warn(f"skipping {exc}", stacklevel=2)
            continue
        kept.append(Path(path))
    if not kept:
        raise EdgeadError(f"none of the {len(paths)} images could be read (first: '{paths[0]}'); see the warnings")
    return frames[: len(kept)], kept


def load_masks(samples: Sequence[Sample], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Masks bool [M, H, W] of the samples with pixel ground truth, and their indices into ``samples``.

    An anomalous image without a mask file has unknown pixels, so pixel metrics skip it (with a
    warning giving the count); pass ``maps[indices]`` beside these masks.
    """
    indices = np.array([i for i, s in enumerate(samples) if s.label == 0 or s.mask_path is not None], dtype=int)
    missing = [s.path for s in samples if s.label == 1 and s.mask_path is None]
    if missing:
        warnings.warn(
            f"{len(missing)} of {len(samples)} test images are anomalous but have no mask file "
            f"(first: '{missing[0]}'); pixel metrics skip them. Add ground_truth/<type>/<stem>_mask.png "
            "to include them",
            stacklevel=2,
        )
    masks = np.zeros((len(indices), *size), dtype=bool)
    for row, i in enumerate(tqdm(indices, desc="masks", unit="img")):
        masks[row] = load_mask(samples[i].mask_path, size)
    return masks, indices
