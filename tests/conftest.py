"""Shared fixtures: the real data beside the repo, a reduced bottle set, and trained + exported runs.

The data lives in ``<repo>/../shared/data`` (see docs/design.md, "Data"); ``EDGEAD_DATA``
points elsewhere. Tests that need it skip with the path they looked at when it is absent.
torch is imported only inside the fixtures that train, so collecting the runtime tests stays light.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"

# The reduced bottle set: enough images for a meaningful model, few enough for a 2-core CI machine.
SMALL_TRAIN = 40
SMALL_TEST = {"good": 8, "broken_large": 8}
SMALL_IMAGE_SIZE = 128
SMALL_OPTIONS = {
    "patchcore": ["--coreset-ratio", "0.1"],
    "dfm": [],
    "stad": ["--fast"],
    "stfpm": ["--fast"],
    "reverse_distillation": ["--fast"],
}


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def data_root() -> Path:
    """``$EDGEAD_DATA`` or ``<repo>/../shared/data``; skip when it is not there."""
    env = os.environ.get("EDGEAD_DATA")
    root = Path(env) if env else DEFAULT_DATA
    if not root.is_dir():
        how = f"EDGEAD_DATA={env}" if env else f"{DEFAULT_DATA} (set EDGEAD_DATA to use another folder)"
        pytest.skip(f"real image data not found: {how}")
    return root


def _category(data_root: Path, *parts: str) -> Path:
    path = data_root.joinpath(*parts)
    if not (path / "train" / "good").is_dir() or not (path / "test").is_dir():
        pytest.skip(f"'{path}' is missing or not in the MVTec AD layout (train/good, test/<type>)")
    return path


@pytest.fixture(scope="session")
def bottle(data_root: Path) -> Path:
    """MVTec AD bottle (512x512, MVTec layout with masks)."""
    return _category(data_root, "mvtec_ad", "bottle")


@pytest.fixture(scope="session")
def magnetic_tile(data_root: Path) -> Path:
    """Magnetic Tile defects in the MVTec layout."""
    return _category(data_root, "magnetic_tile")


def make_small_mvtec(source: Path, dest: Path, n_train: int, test: dict[str, int]) -> Path:
    """An MVTec-layout copy of ``source`` made of symlinks: the first ``n_train`` good training images and
    the first ``test[type]`` images of each test type, with their masks."""
    from edgead_runtime.preprocess import list_images

    def link(src: Path, dst: Path) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.symlink_to(src.resolve())

    train = list_images(source / "train" / "good")[:n_train]
    if len(train) < n_train:
        pytest.skip(f"'{source}/train/good' has {len(train)} images, the reduced set needs {n_train}")
    for path in train:
        link(path, dest / "train" / "good" / path.name)
    for defect, count in test.items():
        images = list_images(source / "test" / defect)[:count]
        if len(images) < count:
            pytest.skip(f"'{source}/test/{defect}' has {len(images)} images, the reduced set needs {count}")
        for path in images:
            link(path, dest / "test" / defect / path.name)
            if defect != "good":
                mask = source / "ground_truth" / defect / f"{path.stem}_mask.png"
                assert mask.is_file(), f"mask missing in the shared data: {mask}"
                link(mask, dest / "ground_truth" / defect / mask.name)
    return dest


@pytest.fixture(scope="session")
def bottle_small(bottle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Reduced bottle set (symlinks): 40 train/good; test 8 good + 8 broken_large with masks."""
    return make_small_mvtec(bottle, tmp_path_factory.mktemp("bottle_small"), SMALL_TRAIN, SMALL_TEST)


@dataclass(frozen=True)
class Trained:
    """A run trained through ``edgead train`` on ``data`` and exported through ``edgead export``."""

    model: str
    data: Path
    run: Path
    onnx: Path


@pytest.fixture(scope="session")
def trained(bottle_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Trained]:
    """``trained(model_name)``: train + export once per model per session, via the ``edgead`` CLI."""
    cache: dict[str, Trained] = {}

    def get(model: str) -> Trained:
        if model not in cache:
            from edgead.cli import main

            base = tmp_path_factory.mktemp(f"run-{model}")
            run, onnx_path = base / "run", base / f"{model}.onnx"
            argv = ["train", "--model", model, "--data", str(bottle_small), "--image-size", str(SMALL_IMAGE_SIZE)]
            argv += ["--out", str(run), *SMALL_OPTIONS.get(model, [])]
            assert main(argv) == 0, f"edgead {' '.join(argv)} failed"
            assert main(["export", str(run), "--format", "onnx", "-o", str(onnx_path)]) == 0
            cache[model] = Trained(model, bottle_small, run, onnx_path)
        return cache[model]

    return get
