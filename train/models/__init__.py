"""Model registry: a decorator maps a name to a model class; ``create_model`` is a thin lookup.

A model class takes a FeatureExtractor and its ``Options`` dataclass, learns from batches of
normalized images in ``fit``, and maps images to ``(patch_map [N, h, w], raw_score [N])`` in
``forward``. Everything else (input stage, upsampling, blur, normalization) is shared.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from typing import Any

from torch import nn

from edgead_runtime.errors import EdgeadError

MODELS: dict[str, type[nn.Module]] = {}
_MODEL_PACKAGES = ("patchcore", "dfm", "stfpm", "reverse_distillation", "stad")


def register_model(name: str):
    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        if name in MODELS:
            raise RuntimeError(f"model '{name}' registered twice")
        cls.model_name = name
        MODELS[name] = cls
        return cls

    return decorate


def _load_all() -> None:
    for package in _MODEL_PACKAGES:
        importlib.import_module(f"{__name__}.{package}")


def get_model_class(name: str) -> type[nn.Module]:
    _load_all()
    if name not in MODELS:
        close = difflib.get_close_matches(name, MODELS, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise EdgeadError(f"unknown model '{name}'; choose one of {', '.join(sorted(MODELS))}.{hint}")
    return MODELS[name]


def model_names() -> list[str]:
    _load_all()
    return sorted(MODELS)


def make_options(name: str, values: dict[str, Any]) -> Any:
    """The model's Options dataclass from ``values``; an option the model lacks is an error."""
    options_cls = get_model_class(name).Options
    known = {f.name for f in dataclasses.fields(options_cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise EdgeadError(
            f"model '{name}' has no option {', '.join(unknown)}; its options are {', '.join(sorted(known)) or 'none'}"
        )
    return options_cls(**values)
