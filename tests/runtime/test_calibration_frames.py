"""The one choice of int8 calibration images (edgead_runtime.datasets.calibration_frames), torch-free."""

from __future__ import annotations

import numpy as np
import pytest

from edgead_runtime.datasets import CALIBRATION_IMAGES, calibration_frames, good_images
from edgead_runtime.errors import EdgeadError
from edgead_runtime.preprocess import load_frame

SIZE = (64, 80)


def test_calibration_frames_spread_evenly_over_the_good_images_through_prepare_frame(bottle):
    paths = good_images(bottle)
    assert paths == sorted((bottle / "train" / "good").glob("*.png"))
    frames = calibration_frames(list(reversed(paths)), SIZE, 4)  # order given does not matter
    assert frames.dtype == np.uint8 and frames.shape == (4, *SIZE, 3)
    for row, index in enumerate(np.linspace(0, len(paths) - 1, 4).round().astype(int)):
        np.testing.assert_array_equal(frames[row], load_frame(paths[index], SIZE))
    assert len(calibration_frames(paths[:3], SIZE)) == 3 and CALIBRATION_IMAGES == 64  # fewer than asked: all


def test_calibration_frames_errors_name_the_folder_and_the_fix(tmp_path):
    with pytest.raises(EdgeadError, match="missing' does not exist.*--calibration-data"):
        good_images(tmp_path / "missing")
    with pytest.raises(EdgeadError, match="has no images"):
        good_images(tmp_path)
    with pytest.raises(EdgeadError, match="--calibration-images must be at least 1, got 0"):
        calibration_frames([tmp_path / "a.png"], SIZE, 0)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(EdgeadError, match="bad.png"):
        calibration_frames(good_images(tmp_path), SIZE)
    with pytest.warns(UserWarning, match="skipping"), pytest.raises(EdgeadError, match="none of the 1"):
        calibration_frames(good_images(tmp_path), SIZE, skip_corrupt=True)
