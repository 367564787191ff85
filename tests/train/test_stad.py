"""STAD (dense Uninformed Students): teacher statistics, dense students, ensemble scores, training steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from edgead.train.backbones import FeatureExtractor
from edgead.train.data import load_frames
from edgead.train.models import create_model
from edgead.train.models.layers import FrameInput
from edgead.train.models.stad.torch_model import ensemble_scores, receptive_field
from edgead_runtime.errors import EdgeadError
from edgead_runtime.preprocess import list_images

SIZE = 128


@pytest.fixture(scope="module")
def backbone() -> FeatureExtractor:
    return FeatureExtractor("tf_efficientnet_lite0", (2, 3))


def make(backbone: FeatureExtractor, **options):
    torch.manual_seed(0)
    return create_model("stad", backbone, options)


@pytest.fixture(scope="module")
def bottle_images(bottle: Path, backbone: FeatureExtractor) -> torch.Tensor:
    """Four real bottle training frames at 128 px, normalized like the graph's input stage does."""
    frames, _ = load_frames(list_images(bottle / "train" / "good")[:4], (SIZE, SIZE))
    return FrameInput(backbone.mean, backbone.std)(torch.from_numpy(frames))


def test_one_forward_gives_the_dense_map_of_every_student(backbone):
    model = make(backbone, descriptor_dim=32, n_students=2, student_width=16, student_depths="1,2")
    images = torch.randn(2, 3, SIZE, SIZE)
    model.prepare([images])
    model.eval()
    with torch.no_grad():
        patch_map, raw_score = model(images)
        groups = model.students(images)
        target = model.teacher(images)
    assert patch_map.shape == (2, SIZE // 8, SIZE // 8) and raw_score is None
    assert target.shape == (2, 32, SIZE // 8, SIZE // 8)
    assert [tuple(g.shape) for g in groups] == [(2, 2, 32, SIZE // 8, SIZE // 8)] * 2


def test_students_are_patch_networks_evaluated_densely(backbone):
    """A student's descriptor depends only on its receptive field: a crop gives the same interior descriptors
    as the whole image, which is what makes one dense pass equal to scoring every patch on its own."""
    model = make(backbone, descriptor_dim=16, n_students=1, student_width=16, student_depths="2").eval()
    student = model.groups[0][0]
    assert receptive_field(8, 2) == 47
    image = torch.randn(1, 3, 192, 192)
    with torch.no_grad():
        whole = student(image)
        crop = student(image[:, :, 32:160, 32:160])  # offset 4 cells, 16 x 16 cells
    margin = 3  # cells: half the 47-px receptive field rounded up to stride 8
    torch.testing.assert_close(
        crop[..., margin : 16 - margin, margin : 16 - margin],
        whole[..., 4 + margin : 20 - margin, 4 + margin : 20 - margin],
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.parametrize("projection", ["pca", "random"])
def test_prepare_normalizes_teacher_descriptors_per_channel(backbone, bottle_images, projection):
    model = make(backbone, descriptor_dim=64, projection=projection, n_students=1, student_width=16)
    model.prepare([bottle_images[:2], bottle_images[2:]])
    with torch.no_grad():
        flat = model.teacher(bottle_images).permute(1, 0, 2, 3).reshape(64, -1).double()
    torch.testing.assert_close(flat.mean(1), torch.zeros(64, dtype=torch.float64), atol=2e-4, rtol=0)
    torch.testing.assert_close(flat.std(1, correction=0), torch.ones(64, dtype=torch.float64), atol=2e-4, rtol=0)
    projection_t = model.projection.double()
    torch.testing.assert_close(projection_t.T @ projection_t, torch.eye(64, dtype=torch.float64), atol=1e-5, rtol=0)
    if projection == "pca":  # the leading principal directions of the training features (up to sign)
        with torch.no_grad():
            feats = model.features(bottle_images).permute(0, 2, 3, 1).reshape(-1, model.feature_mean.numel())
        reference = PCA(8).fit(feats.double().numpy()).components_
        cosine = np.abs((projection_t[:, :8].numpy() * reference.T).sum(0))
        np.testing.assert_allclose(cosine, 1.0, atol=1e-3)


def test_finalize_normalizes_error_and_variance_on_training_images(backbone, bottle_images):
    model = make(backbone, descriptor_dim=32, n_students=3, student_width=16, student_depths="1,2")
    model.prepare([bottle_images])
    model.eval()
    model.finalize([bottle_images[:2], bottle_images[2:]])
    with torch.no_grad():
        target = model.teacher(bottle_images)
        for stats, predictions in zip(model.score_stats, model.students(bottle_images), strict=True):
            error, variance = ensemble_scores(predictions, target)
            for values, (mean, std) in ((error, stats[:2]), (variance, stats[2:])):
                assert float((values - mean).mean() / std) == pytest.approx(0.0, abs=1e-4)
                assert float(((values - mean) / std).std(correction=0)) == pytest.approx(1.0, abs=1e-4)
        patch_map, _ = model(bottle_images)
    assert float(patch_map.mean()) == pytest.approx(0.0, abs=1e-4)  # sum of two zero-mean terms, averaged


def test_ensemble_scores_are_error_of_mean_plus_variance():
    torch.manual_seed(0)
    predictions, target = torch.randn(3, 2, 5, 4, 4), torch.randn(2, 5, 4, 4)
    error, variance = ensemble_scores(predictions, target)
    torch.testing.assert_close(error, (predictions.mean(0) - target).pow(2).sum(1))
    torch.testing.assert_close(variance, predictions.var(0, correction=0).sum(1), rtol=1e-5, atol=1e-5)


def test_variance_is_zero_when_the_students_are_identical(backbone, bottle_images):
    model = make(backbone, descriptor_dim=32, n_students=3, student_width=16)
    model.prepare([bottle_images])
    for student in model.groups[0][1:]:
        student.load_state_dict(model.groups[0][0].state_dict())
    model.eval()
    with torch.no_grad():
        error, variance = ensemble_scores(model.students(bottle_images)[0], model.teacher(bottle_images))
        single = (model.groups[0][0](bottle_images) - model.teacher(bottle_images)).pow(2).sum(1)
    assert float(variance.abs().max()) < 1e-4
    torch.testing.assert_close(error, single, rtol=1e-4, atol=1e-4)


def test_training_steps_lower_the_loss_and_leave_the_teacher_frozen(backbone, bottle_images):
    model = make(backbone, descriptor_dim=32, n_students=2, student_width=16)
    model.prepare([bottle_images])
    teacher_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    teacher_buffers = (model.projection.clone(), model.descriptor_std.clone())
    optimizer = model.make_optimizer(1e-2)
    trained = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert trained == {id(p) for p in model.groups.parameters()}
    model.train()
    assert not model.backbone.training and all(not p.requires_grad for p in model.backbone.parameters())
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = model.loss(bottle_images)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses
    for key, value in model.backbone.state_dict().items():
        torch.testing.assert_close(value, teacher_before[key], rtol=0, atol=0)  # BN running stats included
    torch.testing.assert_close(model.projection, teacher_buffers[0], rtol=0, atol=0)
    torch.testing.assert_close(model.descriptor_std, teacher_buffers[1], rtol=0, atol=0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"projection": "svd"}, "--projection must be one of"),
        ({"student_depths": "3,x"}, "--student-depths must be"),
        ({"descriptor_dim": 1000}, "--descriptor-dim must be in 1..152"),
        ({"n_students": 0}, "--n-students must be at least 1"),
    ],
)
def test_bad_options_are_clear_errors(backbone, options, message):
    with pytest.raises(EdgeadError, match=message):
        make(backbone, **options)
