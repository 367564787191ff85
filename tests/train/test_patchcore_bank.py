"""PatchCore's edge options on real bottle frames: the fp16 memory bank, the random-projection bank and the search in
the principal directions (``search_dim``)."""

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


def test_search_picks_in_principal_directions_and_measures_in_all(backbone, frames):
    model = fitted(backbone, frames, search_dim=16)
    basis = model.search_basis.double()
    assert basis.shape == (152, 16)
    torch.testing.assert_close(basis.T @ basis, torch.eye(16, dtype=torch.float64), atol=1e-5, rtol=0)
    images = torch.cat([frames["good"], frames["broken"]])
    with torch.no_grad():
        emb = model.embed(images)
        patch_map = model(images)[0]
    flat = emb.permute(0, 2, 3, 1).reshape(-1, 152).double()
    bank = model.bank.double()
    # the pick: nearest in the 16 principal directions (float64 here); the distance: to that row, in all 152
    pick = torch.cdist(flat @ basis, bank @ basis).argmin(1)
    expected = (flat - bank[pick]).norm(dim=1)
    nearest = torch.cdist(flat, bank).min(1).values
    got = patch_map.reshape(-1).double()
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert (got >= nearest - 1e-4).all()  # never below the exact nearest distance
    assert (pick != torch.cdist(flat, bank).argmin(1)).any()  # 16 of 152 directions: some picks do differ
    good, broken = scores(model, frames["good"]), scores(model, frames["broken"])
    assert broken.min() > good.max(), f"good {good.round(2)}, broken {broken.round(2)}"


@pytest.mark.parametrize("search_dim", [0, 152, 500])
def test_search_in_all_directions_is_the_exact_search(backbone, frames, search_dim):
    exact, model = fitted(backbone, frames), fitted(backbone, frames, search_dim=search_dim)
    assert model.search_basis.shape == (152, 0)
    images = torch.cat([frames["good"], frames["broken"]])
    np.testing.assert_array_equal(scores(model, images), scores(exact, images))


def test_weights_saved_before_search_dim_load_as_the_exact_search(backbone, frames):
    """A run trained before the option existed has no search buffers: it keeps its exact search, and its scores."""
    exact, model = fitted(backbone, frames), fitted(backbone, frames, search_dim=16)
    old = {k: v for k, v in exact.state_dict().items() if not k.startswith("search_")}
    model.load_state_dict(old, strict=True)
    assert model.search_basis.shape[1] == 0 and model.options.search_dim is None
    images = torch.cat([frames["good"], frames["broken"]])
    np.testing.assert_array_equal(scores(model, images), scores(exact, images))


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
        ({"search_dim": -1}, EdgeadError, "--search-dim must be at least 0"),
    ],
)
def test_bad_bank_options_are_rejected(options, error, match):
    backbone = FeatureExtractor("tf_efficientnet_lite0", (2, 3), pretrained=False)
    with pytest.raises(error, match=match):
        create_model("patchcore", backbone, options)
