from pathlib import Path

import numpy as np
import pytest

from edgead_runtime.backends import BACKENDS, open_backend
from edgead_runtime.errors import BackendError, FrameMismatchError, ModelFileError
from edgead_runtime.metadata import OUTPUT_NAMES

from .graphs import HEIGHT, WIDTH


def test_opens_the_contract(model_path: Path) -> None:
    with open_backend(model_path) as backend:
        assert backend.name == "onnxruntime"
        assert backend.metadata.size == (HEIGHT, WIDTH)
        assert backend.input_name == "image"
        assert backend.input_shape == ("N", HEIGHT, WIDTH, 3)
        assert backend.output_names == list(OUTPUT_NAMES)
        out = backend.run(np.zeros((2, HEIGHT, WIDTH, 3), np.uint8))
        assert out["anomaly_map"].shape == (2, HEIGHT, WIDTH) and out["score"].shape == (2,)


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="missing.onnx.*does not exist"):
        open_backend(tmp_path / "missing.onnx")


def test_truncated_model_file(tmp_path: Path, model_path: Path) -> None:
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(model_path.read_bytes()[:200])
    with pytest.raises(ModelFileError, match="truncated.onnx.*truncated or not an ONNX model, export it again"):
        open_backend(truncated)


def test_model_without_metadata(bare_model_path: Path) -> None:
    with pytest.raises(ModelFileError, match="bare.onnx.*no edgead metadata.*edgead export"):
        open_backend(bare_model_path)


def test_backend_names_and_suffixes(model_path: Path, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="unknown backend 'tensorrtt'.*auto, onnxruntime"):
        open_backend(model_path, "tensorrtt")
    with pytest.raises(BackendError, match=r"suffix '\.pt'.*\.onnx \(onnxruntime\)"):
        open_backend(tmp_path / "model.pt")
    with pytest.raises(
        BackendError, match=r"'onnxruntime' has no option threds; it takes: providers, --threads \(intra_op_threads\)"
    ):
        open_backend(model_path, threds=2)
    assert "onnxruntime" in BACKENDS


def test_unavailable_provider_lists_the_available_ones(model_path: Path) -> None:
    with pytest.raises(BackendError, match="NoSuchExecutionProvider.*available.*CPUExecutionProvider"):
        open_backend(model_path, providers=["NoSuchExecutionProvider"])


@pytest.mark.parametrize(
    ("batch", "got"),
    [
        (np.zeros((1, HEIGHT, WIDTH, 3), np.float32), "got float32"),
        (np.zeros((HEIGHT, WIDTH, 3), np.uint8), rf"got shape \[{HEIGHT}, {WIDTH}, 3\]"),
        (np.zeros((1, WIDTH, HEIGHT, 3), np.uint8), rf"got shape \[1, {WIDTH}, {HEIGHT}, 3\]"),
        (np.zeros((1, HEIGHT, WIDTH, 1), np.uint8), rf"got shape \[1, {HEIGHT}, {WIDTH}, 1\]"),
    ],
)
def test_frame_mismatch_says_expected_and_got(model_path: Path, batch: np.ndarray, got: str) -> None:
    with open_backend(model_path) as backend, pytest.raises(FrameMismatchError) as info:
        backend.run(batch)
    assert f"expects uint8 [N, {HEIGHT}, {WIDTH}, 3]" in str(info.value)
    assert info.match(got)


def test_run_after_close(model_path: Path) -> None:
    backend = open_backend(model_path)
    backend.close()
    with pytest.raises(BackendError, match="closed"):
        backend.run(np.zeros((1, HEIGHT, WIDTH, 3), np.uint8))
