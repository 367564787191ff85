from pathlib import Path

import cv2
import numpy as np
import pytest

from edgead_runtime.errors import FrameMismatchError, ImageReadError
from edgead_runtime.preprocess import load_frame, prepare_frame, read_image, to_bgr8

SIZE = (48, 64)


def test_grey_jpg_of_odd_size_becomes_bgr_at_model_size(tile_images: list[Path]) -> None:
    grey = read_image(tile_images[0])
    assert grey.ndim == 2 and grey.shape != SIZE
    frame = prepare_frame(grey, SIZE)
    assert frame.shape == (*SIZE, 3) and frame.dtype == np.uint8
    assert np.array_equal(frame[..., 0], frame[..., 2])  # grey stays grey


def test_rgba_and_16bit_match_the_8bit_bgr_frame(bottle_images: list[Path]) -> None:
    bgr = read_image(bottle_images[0])
    bgra = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    deep = bgr.astype(np.uint16) * 257
    expected = prepare_frame(bgr, SIZE)
    assert np.array_equal(prepare_frame(bgra, SIZE), expected)
    assert np.array_equal(prepare_frame(deep, SIZE), expected)


def test_upscaling_an_odd_sized_frame() -> None:
    small = np.arange(7 * 5 * 3, dtype=np.uint8).reshape(7, 5, 3)
    assert prepare_frame(small, SIZE).shape == (*SIZE, 3)


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.float32), np.zeros((4, 4, 2), np.uint8)])
def test_unsupported_frames_say_what_they_got(bad: np.ndarray) -> None:
    with pytest.raises(FrameMismatchError, match=r"float32|\(4, 4, 2\)"):
        to_bgr8(bad)


def test_garbage_and_truncated_files_name_the_file(tmp_path: Path, bottle_images: list[Path]) -> None:
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not an image at all" * 10)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(bottle_images[0].read_bytes()[:5000])
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    for path in (garbage, truncated, empty, tmp_path / "missing.png"):
        with pytest.raises(ImageReadError, match=path.name) as info:
            load_frame(path, SIZE)
        assert info.value.path == str(path)
