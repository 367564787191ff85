"""PatchCore on a flat, uniform surface (issue 11, item 2): exact distances where they are ~0, and an export that
passes its own parity check.

A static grey scene makes test patches that match a bank row exactly. The expanded distance
sqrt(|x|^2 - 2 x.m + |m|^2) cancels float32 noise there (~1e-3 in d^2 at |x| ~ 40) that the square root turns
into ~3e-2 in d, differently in torch and in ONNX Runtime; the model recomputes |x - m|^2 for the nearest row.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from edgead.train.backbones import FeatureExtractor
from edgead.train.data import load_frames
from edgead.train.models import get_model_class, make_options
from edgead.train.models.layers import FrameInput
from edgead_runtime.preprocess import list_images

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("patchcore_flat", REPO / "benchmarks" / "patchcore_flat.py")
patchcore_flat = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(patchcore_flat)  # the flat set of the README's measurements, smaller

SIZE = (128, 128)
# Exact recomputation leaves float32 rounding of a sum of squares: measured 3.0e-6 at 256 px (max distance 13).
# Today's expanded form is off by 3.8e-2 on the same frames, so the bound separates the two by 100x both ways.
DIST_ATOL = 3e-4


@pytest.fixture(scope="module")
def flat_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return patchcore_flat.make_flat_surface(tmp_path_factory.mktemp("flat") / "good", distinct=6, size=(120, 160))


def test_distances_on_a_flat_surface_match_float64_also_on_training_frames(flat_dir: Path) -> None:
    backbone = FeatureExtractor("tf_efficientnet_lite0", (2, 3))
    frames, _ = load_frames(list_images(flat_dir), SIZE, desc=None)
    images = FrameInput(backbone.mean, backbone.std)(torch.from_numpy(frames))
    model_cls = get_model_class("patchcore")
    model = model_cls(backbone, make_options(model_cls, {"coreset_ratio": 0.1})).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        model.fit([images[::2]])  # one copy of each frame; the other copy is a new frame identical to it
        dist, _ = model(images)
        emb = model.embed(images)
    flat = emb.permute(0, 2, 3, 1).reshape(-1, emb.shape[1]).double()
    reference = torch.cdist(flat, model.bank.double()).amin(1).reshape(dist.shape)
    assert float(reference.min()) == 0.0  # the set does hold patches that match a bank row exactly
    error = (dist.double() - reference).abs()
    assert float(error.max()) < DIST_ATOL, (
        f"max |d - d_float64| {float(error.max()):.2e} (largest d {reference.max():.1f})"
    )


@pytest.mark.slow  # a full train + export at 256 px: ~15 s on an idle 2-core machine, minutes on a busy one
def test_export_of_a_flat_surface_model_passes_the_unchanged_parity_check(flat_dir: Path, tmp_path: Path) -> None:
    from edgead.cli import main
    from edgead.export.parity import PARITY_RTOL

    assert PARITY_RTOL == 1e-4  # the check stays as strict as it was when it caught this fault
    run, out = tmp_path / "run", tmp_path / "flat.onnx"
    # default size (256 px): the non-square frames are resized, as in the field report
    assert main(["train", "--model", "patchcore", "--data", str(flat_dir.parent / "good"), "--out", str(run)]) == 0
    assert main(["export", str(run), "--format", "onnx", "-o", str(out)]) == 0
