import shutil
from pathlib import Path

import numpy as np
import pytest

from edgead.train.data import Sample, find_dataset, load_frames, load_mask, load_masks, split_holdout
from edgead_runtime.errors import EdgeadError, ImageReadError

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
BOTTLE = DATA / "mvtec_ad" / "bottle"
TILE = DATA / "magnetic_tile"
pytestmark = pytest.mark.skipif(not BOTTLE.is_dir(), reason=f"real images not found at {DATA}")
SIZE = (64, 64)


def test_find_dataset_mvtec_layouts():
    bottle = find_dataset(BOTTLE)
    assert (bottle.layout, len(bottle.train), len(bottle.test)) == ("mvtec", 209, 83)
    anomalous = [s for s in bottle.test if s.label == 1]
    assert len(anomalous) == 63 and all(s.mask_path is not None for s in anomalous)
    assert {s.defect_type for s in bottle.test} == {"good", "broken_large", "broken_small", "contamination"}
    assert all(s.mask_path is None and s.defect_type == "good" for s in bottle.test if s.label == 0)
    first = anomalous[0]
    assert first.mask_path == BOTTLE / "ground_truth" / first.defect_type / f"{first.path.stem}_mask.png"

    tile = find_dataset(TILE)
    assert (len(tile.train), len(tile.test), sum(s.label for s in tile.test)) == (714, 630, 392)


def test_masks_are_bool_at_model_size():
    sample = next(s for s in find_dataset(BOTTLE).test if s.label == 1)
    mask = load_mask(sample.mask_path, SIZE)
    assert mask.shape == SIZE and mask.dtype == bool and 0 < mask.sum() < mask.size
    assert not load_mask(None, SIZE).any()
    empty = TILE / "ground_truth" / "uneven" / "exp3_num_45042_mask.png"  # all-zero in the source
    assert not load_mask(empty, SIZE).any()


def test_load_masks_skips_anomalous_images_without_mask(tmp_path):
    defect = sorted((BOTTLE / "test" / "broken_large").glob("*.png"))[:2]
    samples = [
        Sample(BOTTLE / "test" / "good" / "000.png", 0, "good", None),
        Sample(defect[0], 1, "broken_large", BOTTLE / "ground_truth" / "broken_large" / "000_mask.png"),
        Sample(defect[1], 1, "broken_large", None),
    ]
    with pytest.warns(UserWarning, match="1 of 3 test images are anomalous but have no mask"):
        masks, indices = load_masks(samples, SIZE)
    assert indices.tolist() == [0, 1]
    assert masks.shape == (2, *SIZE) and not masks[0].any() and masks[1].any()


def test_split_holdout_is_deterministic_and_bounded():
    train = find_dataset(BOTTLE).train
    fit, holdout = split_holdout(train)
    assert (len(fit), len(holdout)) == (188, 21)
    assert sorted(fit + holdout) == train and not set(fit) & set(holdout)
    assert split_holdout(train[::-1]) == (fit, holdout)
    assert split_holdout(train, seed=1)[1] != holdout
    assert [len(h) for _, h in (split_holdout(train[:n]) for n in (4, 5, 30))] == [2, 2, 3]
    assert len(split_holdout(train[:10], fraction=0.9)[1]) == 5
    with pytest.raises(EdgeadError, match="at least 4"):
        split_holdout(train[:3])
    with pytest.raises(EdgeadError, match="out of range"):
        split_holdout(train, fraction=1.0)


def test_load_frames_shapes_rgb_and_grey_varying_sizes():
    frames, kept = load_frames(find_dataset(BOTTLE).train[:3], (64, 48))
    assert frames.shape == (3, 64, 48, 3) and frames.dtype == np.uint8 and len(kept) == 3
    tiles = find_dataset(TILE).train[:4]
    frames, kept = load_frames(tiles, SIZE)
    assert frames.shape == (4, *SIZE, 3) and kept == tiles
    assert (frames[..., 0] == frames[..., 2]).all()  # grey images become grey BGR


def test_corrupt_files_raise_or_are_skipped(tmp_path):
    paths = []
    for source in sorted((BOTTLE / "train" / "good").glob("*.png"))[:3]:
        paths.append(tmp_path / source.name)
        shutil.copy(source, paths[-1])
    broken = tmp_path / "broken.png"
    broken.write_bytes(paths[0].read_bytes()[:5000])
    order = [paths[0], broken, *paths[1:]]

    with pytest.raises(ImageReadError, match="broken.png"):
        load_frames(order, SIZE)
    with pytest.warns(UserWarning, match="skipping cannot read image .*broken.png"):
        frames, kept = load_frames(order, SIZE, skip_corrupt=True)
    assert kept == paths and len(frames) == 3
    np.testing.assert_array_equal(frames[1], load_frames([paths[1]], SIZE)[0][0])
    with pytest.warns(UserWarning), pytest.raises(EdgeadError, match="none of the 1 images"):
        load_frames([broken], SIZE, skip_corrupt=True)


def test_plain_folder_and_errors(tmp_path):
    for source in sorted((BOTTLE / "train" / "good").glob("*.png"))[:2]:
        shutil.copy(source, tmp_path / source.name)
    folder = find_dataset(tmp_path)
    assert (folder.layout, len(folder.train), folder.test) == ("folder", 2, [])

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EdgeadError, match=r"no images found in '.*empty'.*'train/good'.*point --data"):
        find_dataset(empty)
    (empty / "train" / "good").mkdir(parents=True)
    with pytest.raises(EdgeadError, match="holds no images"):
        find_dataset(empty)
    with pytest.raises(EdgeadError, match="does not exist"):
        find_dataset(tmp_path / "missing")
