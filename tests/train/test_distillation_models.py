"""STFPM and Reverse Distillation as modules: their maths against plain-torch references, shapes per
backbone, a frozen teacher, and a loss that goes down on real bottle frames.

Small inputs (64 px) keep each test to a few seconds on two cores; the trained behaviour end to end
is in tests/e2e/test_distillation_e2e.py.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from edgead.train.backbones import FeatureExtractor
from edgead.train.models import create_model
from edgead.train.models.layers import FrameInput
from edgead.train.models.reverse_distillation.blocks import doublings
from edgead_runtime.errors import EdgeadError

MODELS = ("stfpm", "reverse_distillation")
SIZE = 64


@pytest.fixture(scope="module")
def lite0() -> FeatureExtractor:
    return FeatureExtractor("tf_efficientnet_lite0", (1, 2, 3))


@pytest.fixture(scope="module")
def bottle_images(bottle, lite0) -> torch.Tensor:
    """Four real good bottle frames at 64 px, normalized as the graph's input stage does."""
    from edgead.train.data import load_frames
    from edgead_runtime.preprocess import list_images

    frames, _ = load_frames(list_images(bottle / "train" / "good")[:4], (SIZE, SIZE))
    return FrameInput(lite0.mean, lite0.std)(torch.from_numpy(frames))


def build(name: str, backbone: FeatureExtractor, **options) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, backbone, options)


@pytest.mark.parametrize("name", MODELS)
def test_loss_decreases_on_real_frames(name, lite0, bottle_images):
    model = build(name, lite0)
    optimizer = model.make_optimizer(model.default_lr)
    model.train()
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = model.loss(bottle_images)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False)), losses
    assert losses[-1] < 0.9 * losses[0], losses


@pytest.mark.parametrize("name", MODELS)
def test_teacher_stays_frozen_in_eval_mode_and_only_the_student_learns(name, lite0, bottle_images):
    model = build(name, lite0)
    teacher_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    optimizer = model.make_optimizer(model.default_lr)
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not optimized & {id(p) for p in model.backbone.parameters()}, "the optimizer must not see the teacher"
    model.train()
    assert model.training and not model.backbone.training  # teacher BN keeps its ImageNet statistics
    assert not any(p.requires_grad for p in model.backbone.parameters())
    student_params = [p for p in model.parameters() if p.requires_grad]
    assert student_params and all(id(p) in optimized for p in student_params)
    student_before = [p.detach().clone() for p in student_params]
    for _ in range(1):
        optimizer.zero_grad()
        model.loss(bottle_images).backward()
        optimizer.step()
    for key, value in model.backbone.state_dict().items():  # weights and BN running stats
        torch.testing.assert_close(value, teacher_before[key], rtol=0, atol=0, msg=key)
    assert any(not torch.equal(p, q) for p, q in zip(student_params, student_before, strict=True))


def test_stfpm_student_is_the_teacher_architecture_with_other_weights(lite0, bottle_images):
    model = build("stfpm", lite0)
    teacher, student = model.backbone.model.state_dict(), model.student.state_dict()
    assert set(teacher) == set(student)
    assert all(teacher[k].shape == student[k].shape for k in teacher)
    assert any(not torch.equal(teacher[k], student[k]) for k in teacher if teacher[k].is_floating_point())
    model.eval()
    with torch.no_grad():
        t, s = model.backbone(bottle_images), model.student(bottle_images)
    assert [x.shape for x in t] == [x.shape for x in s]
    assert not torch.allclose(t[0], s[0])


def test_stfpm_loss_and_map_match_the_paper_formulas(lite0, bottle_images):
    model = build("stfpm", lite0).eval()
    with torch.no_grad():
        teacher, student = model.backbone(bottle_images), model.student(bottle_images)
        loss = model.loss(bottle_images)
        patch_map, raw_score = model(bottle_images)
    # Eq. 1-2: per image, 0.5 / (h w) * sum over positions of the squared distance of unit vectors; averaged
    expected_loss = 0.0
    expected_map = torch.ones(len(bottle_images), 1, SIZE // 4, SIZE // 4)
    for t, s in zip(teacher, student, strict=True):
        tn = t / t.norm(dim=1, keepdim=True)
        sn = s / s.norm(dim=1, keepdim=True)
        d = 0.5 * ((tn - sn) ** 2).sum(1, keepdim=True)
        expected_loss += float(d.mean((1, 2, 3)).mean())
        expected_map *= F.interpolate(d, size=(SIZE // 4, SIZE // 4), mode="bilinear", align_corners=False)
    assert loss.item() == pytest.approx(expected_loss, rel=1e-4)
    torch.testing.assert_close(patch_map, expected_map[:, 0], rtol=1e-4, atol=1e-7)
    assert raw_score is None  # the graph scores an image by its map's maximum


def test_reverse_distillation_map_is_1_minus_cos_added_or_multiplied(lite0, bottle_images):
    add = build("reverse_distillation", lite0, map_combine="add").eval()
    mul = build("reverse_distillation", lite0, map_combine="multiply").eval()
    mul.load_state_dict(add.state_dict())  # same weights: only the combination differs
    with torch.no_grad():
        encoder, decoder = add.encode_decode(bottle_images)
        add_map, add_score = add(bottle_images)
        mul_map, _ = mul(bottle_images)
        loss = add.loss(bottle_images)
    size = encoder[0].shape[-2:]
    stage_maps = [
        F.interpolate(
            (1 - F.cosine_similarity(e, d, dim=1)).unsqueeze(1), size=size, mode="bilinear", align_corners=False
        )[:, 0]
        for e, d in zip(encoder, decoder, strict=True)
    ]
    torch.testing.assert_close(add_map, sum(stage_maps), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(mul_map, stage_maps[0] * stage_maps[1] * stage_maps[2], rtol=1e-4, atol=1e-7)
    assert not torch.allclose(add_map, mul_map)
    expected_loss = sum(
        float((1 - F.cosine_similarity(e, d, dim=1)).mean()) for e, d in zip(encoder, decoder, strict=True)
    )
    assert loss.item() == pytest.approx(expected_loss, rel=1e-4)
    assert add_score is None


@pytest.mark.parametrize("backbone_name", ["tf_efficientnet_lite0", "resnet18"])
@pytest.mark.parametrize("name", MODELS)
def test_forward_shapes_follow_the_backbone(name, backbone_name):
    backbone = FeatureExtractor(backbone_name, (1, 2, 3), pretrained=False)
    model = build(name, backbone).eval()
    images = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        patch_map, _ = model(images)
        if name == "reverse_distillation":
            encoder, decoder = model.encode_decode(images)
            assert [tuple(d.shape) for d in decoder] == [tuple(e.shape) for e in encoder]
            assert [e.shape[1] for e in encoder] == list(backbone.channels)
    assert tuple(patch_map.shape) == (2, SIZE // backbone.strides[0], SIZE // backbone.strides[0])
    assert torch.isfinite(patch_map).all() and (patch_map >= 0).all()


@pytest.mark.slow
def test_reverse_distillation_builds_for_wide_resnet50():
    backbone = FeatureExtractor("wide_resnet50_2", (1, 2, 3), pretrained=False)
    model = build("reverse_distillation", backbone).eval()
    assert model.bottleneck.embed_channels == 2048  # the paper's one-class embedding width
    with torch.no_grad():
        encoder, decoder = model.encode_decode(torch.randn(1, 3, SIZE, SIZE))
    assert [tuple(d.shape) for d in decoder] == [tuple(e.shape) for e in encoder]


def test_reverse_distillation_rejects_bad_options(lite0):
    with pytest.raises(ValueError, match="map_combine"):
        build("reverse_distillation", lite0, map_combine="max")
    with pytest.raises(EdgeadError, match="--decoder-blocks must be at least 1"):  # refused with the other flags
        build("reverse_distillation", lite0, decoder_blocks=0)
    assert doublings([4, 8, 32]) == [1, 2]
    with pytest.raises(ValueError, match="strides double"):
        doublings([4, 12])
