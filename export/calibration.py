"""Which good images int8 is calibrated on, for every int8 artefact ``edgead export`` writes.

The int8 ``.onnx`` (Q/DQ scales) and the TensorRT engine (its Q/DQ variant or the entropy calibrator) both come
through ``calibration_set``, so two int8 files of one run are calibrated on the same images:

- a run directory: the good images it was fitted on (its ``config.json`` data minus the calibration holdout);
- any other folder: its good images (``train/good`` of an MVTec category, or the images in it).

``count`` of them, spread evenly, through the runtime's ``prepare_frame``
(``edgead_runtime.datasets.calibration_frames``). torch is imported only to read a run directory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgead_runtime.datasets import CALIBRATION_IMAGES, calibration_frames, good_images
from edgead_runtime.errors import EdgeadError

RUN_CONFIG = "config.json"  # what makes a folder a run directory (edgead.train.run_dir.CONFIG)


def is_run_dir(path: Path) -> bool:
    return (Path(path) / RUN_CONFIG).is_file()


def calibration_set(source: Path, size: tuple[int, int], count: int = CALIBRATION_IMAGES) -> tuple[np.ndarray, str]:
    """Frames uint8 [N, H, W, 3] for int8 scales, and what they are (for the export's report)."""
    source = Path(source)
    if not is_run_dir(source):
        frames = calibration_frames(good_images(source), size, count)
        return frames, f"{len(frames)} good images from '{source}'"
    from edgead.train.data import find_dataset, split_holdout
    from edgead.train.run_dir import load_config

    config = load_config(source)
    try:
        dataset = find_dataset(config.data)
    except EdgeadError as exc:
        raise EdgeadError(
            f"int8 calibration reads the good training images of '{source}' from its config.json 'data': {exc}"
        ) from exc
    fit, _ = split_holdout(dataset.train, config.holdout_fraction, config.seed)
    frames = calibration_frames(fit, size, count, config.skip_corrupt)
    return frames, f"{len(frames)} good training images"
