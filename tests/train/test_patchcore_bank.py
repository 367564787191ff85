"""PatchCore's edge options on real bottle frames: the fp16 memory bank and the random-projection bank."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgead.train.backbones import FeatureExtractor
from edgead.train.data import load_frames
from edgead.train.models import create_model
from edgead.train.models.layers import FrameInput
from edgead_runtime.errors import EdgeadError
from edgead_runtime.preprocess import list_images

SIZE = (128, 128)
N_FIT = 6
N_TEST = 4  # per kind: good, broken_large
# An fp16 bank rounds each entry by at most 2^-11 relative; on the nearest distance that shows as
# well under 1 % of the score. Measured here: 2.7e-5 relative; the bound leaves ample room.
FP16_SCORE_RTOL = 1e-3


@pytest.fixture(scope="module")
def backbone() -> FeatureExtractor:
    return FeatureExtractor("tf_efficientnet_lite0", (2, 3))


@pytest.fixture(scope="module")
def frames(bottle_small: Path, backbone: FeatureExtractor) -> dict[str, torch.Tensor]:
    """Normalized real frames: good training images to fit, held-apart good and broken test images."""
    fit, _ = load_frames(list_images(bottle_small / "train" / "good")[:N_FIT], SIZE, desc="fit")
    good, _ = load_frames(list_images(bottle_small / "test" / "good")[:N_TEST], SIZE, desc="good")
    broken, _ = load_frames(list_images(bottle_small / "test" / "broken_large")[:N_TEST], SIZE, desc="broken")
    to_input = FrameInput(backbone.mean, backbone.std)
    return {k: to_input(torch.from_numpy(v)) for k, v in {"fit": fit, "good": good, "broken": broken}.items()}


def fitted(backbone: FeatureExtractor, frames: dict[str, torch.Tensor], **options: object) -> torch.nn.Module:
    model = create_model("patchcore", backbone, {"coreset_ratio": 0.1, **options})
    torch.manual_seed(0)
    with torch.no_grad():
        model.fit([frames["fit"]])
    return model.eval()


def scores(model: torch.nn.Module, images: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model(images)[1].numpy()


def test_fp16_bank_halves_the_bytes_and_barely_moves_scores(backbone, frames):
    full, half = fitted(backbone, frames), fitted(backbone, frames, bank_dtype="fp16")
    assert half.bank.dtype == torch.float16 and full.bank.dtype == torch.float32
    assert half.bank.nbytes * 2 == full.bank.nbytes
    # same seed, same coreset: the fp16 bank is the fp32 bank rounded
    torch.testing.assert_close(half.bank.float(), full.bank, rtol=1e-3, atol=1e-3)
    images = torch.cat([frames["good"], frames["broken"]])
    ref, got = scores(full, images), scores(half, images)
    assert np.abs(got - ref).max() / np.abs(ref).max() < FP16_SCORE_RTOL
    assert got.dtype == np.float32  # distances are computed in fp32


@pytest.mark.parametrize("dim", [32])
def test_projected_bank_has_the_asked_dimension_and_still_separates_broken_bottles(backbone, frames, dim):
    model = fitted(backbone, frames, bank_dim=dim)
    assert model.projection.shape == (152, dim)  # 40 + 112 channels of stages 2 and 3
    assert model.bank.shape[1] == dim
    assert model.embed(frames["good"][:1]).shape[1] == dim
    good, broken = scores(model, frames["good"]), scores(model, frames["broken"])
    assert broken.min() > good.max(), f"good {good.round(2)}, broken {broken.round(2)}"


def test_projection_is_seeded():
    backbone = FeatureExtractor("tf_efficientnet_lite0", (2, 3), pretrained=False)
    images = torch.randn(1, 3, 32, 32)
    banks = []
    for _ in range(2):
        model = create_model("patchcore", backbone, {"bank_dim": 16})
        torch.manual_seed(3)
        model.fit([images])
        banks.append(model.projection.clone())
    torch.testing.assert_close(banks[0], banks[1])


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"bank_dtype": "int4"}, ValueError, "bank_dtype"),
        ({"bank_dim": 0}, EdgeadError, "--bank-dim must be at least 1"),
    ],
)
def test_bad_bank_options_are_rejected(options, error, match):
    backbone = FeatureExtractor("tf_efficientnet_lite0", (2, 3), pretrained=False)
    with pytest.raises(error, match=match):
        create_model("patchcore", backbone, options)
