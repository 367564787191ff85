"""Model files and real images for the runtime tests."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from .graphs import BOTTLE, HEIGHT, TILE, WIDTH, full_model, graph_model, metadata


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "fixture.onnx"
    onnx.save(full_model(metadata()), path)
    return path


@pytest.fixture(scope="session")
def bare_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same graph without edgead metadata, as a plain torch.onnx.export would give."""
    path = tmp_path_factory.mktemp("models") / "bare.onnx"
    onnx.save(full_model(None), path)
    return path


@pytest.fixture(scope="session")
def backbone_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A profiling sub-graph: same input, a feature output, part "backbone"."""
    path = tmp_path_factory.mktemp("models") / "backbone.onnx"
    nodes = [
        helper.make_node("Cast", ["image"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["x"], ["features"], perm=[0, 3, 1, 2]),
    ]
    outputs = [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 3, HEIGHT, WIDTH])]
    onnx.save(graph_model(nodes, outputs, [], metadata("backbone")), path)
    return path


@pytest.fixture(scope="session")
def bottle_images() -> list[Path]:
    good = sorted((BOTTLE / "good").glob("*.png"))[:3]
    broken = sorted((BOTTLE / "broken_large").glob("*.png"))[:3]
    if not good or not broken:
        pytest.skip(f"real images not found under {BOTTLE} (the shared data folder)")
    return good + broken


@pytest.fixture(scope="session")
def tile_images() -> list[Path]:
    images = sorted(TILE.glob("*/*.jpg"))[:4]
    if not images:
        pytest.skip(f"real images not found under {TILE} (the shared data folder)")
    return images
