"""Model maths checked against independent references (scipy, sklearn, brute force)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter
from scipy.stats import multivariate_normal
from sklearn.decomposition import PCA

from edgead.train.backbones import FeatureExtractor
from edgead.train.models import create_model, get_model_class, make_options, model_names
from edgead.train.models.layers import FrameInput, UpsampleBlur
from edgead.train.models.patchcore.coreset import greedy_coreset, nearest_in_bank
from edgead_runtime.errors import EdgeadError


@pytest.fixture(scope="module")
def backbone() -> FeatureExtractor:
    return FeatureExtractor("tf_efficientnet_lite0", (2, 3))


def test_registry_lists_models_and_suggests_names():
    from pathlib import Path

    import edgead.train.models as models

    folders = sorted(p.parent.name for p in Path(models.__file__).parent.glob("*/__init__.py"))
    assert model_names() == folders == ["dfm", "patchcore", "reverse_distillation", "stad", "stfpm"]
    for name in folders:  # each folder registers the model it is named after
        assert get_model_class(name).model_name == name
    with pytest.raises(EdgeadError, match="Did you mean patchcore"):
        get_model_class("patchcor")
    with pytest.raises(EdgeadError, match=r"--pool-size does not apply to model 'patchcore'"):
        make_options(get_model_class("patchcore"), {"pool_size": 2})


def test_upsample_blur_is_bilinear_upsampling_then_scipy_gaussian():
    maps = torch.rand(2, 16, 20, dtype=torch.float64).float()
    ours = UpsampleBlur((64, 80), sigma=4.0)(maps).numpy()
    up = F.interpolate(maps.unsqueeze(1).double(), size=(64, 80), mode="bilinear", align_corners=False)[:, 0]
    # torch 'reflect' padding excludes the edge pixel: scipy calls that 'mirror'
    ref = np.stack([gaussian_filter(m.numpy(), 4.0, mode="mirror", truncate=4.0) for m in up])
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_frame_input_is_bgr_to_normalized_rgb():
    frames = torch.randint(0, 256, (2, 5, 7, 3), dtype=torch.uint8)
    out = FrameInput(mean=(0.1, 0.2, 0.3), std=(0.5, 0.6, 0.7))(frames)
    rgb = frames.flip(-1).permute(0, 3, 1, 2).float() / 255.0
    ref = (rgb - torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)) / torch.tensor([0.5, 0.6, 0.7]).view(1, 3, 1, 1)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_greedy_coreset_matches_brute_force_k_center():
    torch.manual_seed(0)
    points = torch.randn(300, 8)
    torch.manual_seed(1)
    selected = greedy_coreset(points, 20, projection_dim=128)  # no projection: 8 < 128
    torch.manual_seed(1)
    first = int(torch.randint(300, (1,)))
    expected = [first]
    min_dist = torch.cdist(points, points[first : first + 1]).squeeze(1)
    for _ in range(19):
        nxt = int(torch.argmax(min_dist))
        expected.append(nxt)
        min_dist = torch.minimum(min_dist, torch.cdist(points, points[nxt : nxt + 1]).squeeze(1))
    assert selected.tolist() == expected


def test_nearest_in_bank_puts_each_row_first_then_its_neighbours():
    bank = torch.randn(50, 6)
    idx = nearest_in_bank(bank, 4, chunk=16)
    assert idx[:, 0].tolist() == list(range(50))
    ref = torch.cdist(bank, bank).topk(4, largest=False).indices
    assert (idx[:, 1:].sort(1).values == ref[:, 1:].sort(1).values).all()


def test_patchcore_distances_and_reweighting_match_cdist(backbone):
    model = create_model("patchcore", backbone, {"coreset_ratio": 0.5})
    torch.manual_seed(0)
    images = torch.randn(3, 3, 64, 64)
    model.fit([images[:2]])
    patch_map, score = model(images)
    emb = model.embed(images)
    patches = emb.permute(0, 2, 3, 1).reshape(3, -1, emb.shape[1])
    # the exact pairwise form: cdist's default matmul form is |x|^2 - 2x.m + |m|^2, off by ~5e-2 where the
    # training images' patches match a bank row (d = 0), which the model now computes exactly
    dist = torch.cdist(patches, model.bank.expand(3, -1, -1), compute_mode="donot_use_mm_for_euclid_dist")
    min_dist, nearest = dist.min(-1)
    torch.testing.assert_close(patch_map.reshape(3, -1), min_dist, rtol=1e-4, atol=1e-3)
    # Eq. 7 by hand for each image
    for i in range(3):
        worst = int(min_dist[i].argmax())
        anchor = int(nearest[i, worst])
        neighbours = torch.cdist(model.bank[anchor : anchor + 1], model.bank)[0].topk(9, largest=False).indices
        d = torch.cdist(patches[i, worst : worst + 1], model.bank[neighbours])[0]
        weight = 1 - torch.exp(d[0]) / torch.exp(d).sum()
        torch.testing.assert_close(score[i], weight * min_dist[i, worst], rtol=1e-4, atol=1e-4)
    # training images are in the bank's neighbourhood: their patches score lower than noise's
    assert patch_map[:2].mean() < patch_map[2].mean()


def test_dfm_pca_matches_sklearn_and_scores_are_consistent():
    backbone = FeatureExtractor("tf_efficientnet_lite0", (3,))
    model = create_model("dfm", backbone, {"pool_size": 2, "pca_variance": 0.9})
    torch.manual_seed(0)
    images = torch.randn(24, 3, 64, 64)
    model.fit([images[:12], images[12:20]])
    feats = model.features(images[:20]).flatten(1).double().numpy()
    pca = PCA(n_components=0.9, svd_solver="full").fit(feats)
    assert model.components.shape[1] == pca.n_components_
    np.testing.assert_allclose(model.mean.numpy(), pca.mean_, rtol=1e-4, atol=1e-4)
    test = model.features(images[20:]).flatten(1).double().numpy()
    recon = pca.inverse_transform(pca.transform(test))
    fre = ((test - recon) ** 2).sum(1)
    fre_map, score = model(images[20:])
    np.testing.assert_allclose(score.numpy(), fre, rtol=1e-3)
    np.testing.assert_allclose(fre_map.sum((1, 2)).numpy(), fre, rtol=1e-3)
    nll_model = create_model("dfm", backbone, {"pool_size": 2, "pca_variance": 0.9, "score_type": "nll"})
    nll_model.fit([images[:20]])
    _, nll = nll_model(images[20:])
    projected = pca.transform(test)  # same subspace (up to component signs, which a Gaussian ignores)
    train_projected = pca.transform(feats)
    cov = np.cov(train_projected.T) + 1e-6 * np.eye(projected.shape[1])
    ref = -multivariate_normal(train_projected.mean(0), cov).logpdf(projected)
    np.testing.assert_allclose(nll.numpy(), ref, rtol=1e-3)


def test_dfm_rejects_bad_options(backbone):
    with pytest.raises(ValueError, match="one feature stage"):
        create_model("dfm", backbone, {})
    one_stage = FeatureExtractor("tf_efficientnet_lite0", (3,))
    with pytest.raises(ValueError, match="score_type"):
        create_model("dfm", one_stage, {"score_type": "x"})
