"""Model registry: one folder per model under ``train/models/``; a decorator maps its name to its class.

A model is a sub-package of this one, named after the model (``train/models/patchcore/``), whose
``__init__`` imports a class decorated with ``@register_model("<folder name>")``. Nothing else lists
models: ``model_names()`` finds the folders without importing them (so without torch; the CLI's
choices come from it), ``get_model_class(name)`` imports the one folder asked for, and packaging
finds every folder too (``setup.py``). ``docs/extending.md`` has the recipe.

A model class takes a FeatureExtractor and its ``Options`` dataclass, learns from batches of
normalized images in ``fit`` (or, trained by gradient descent, provides ``loss`` and
``make_optimizer``), and maps images to ``(patch_map [N, h, w], raw_score [N])`` in ``forward``.
Everything else (input stage, upsampling, blur, normalization) is shared.

This module imports no torch: ``edgead --help`` lists the models from it.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import pkgutil
from typing import TYPE_CHECKING, Any

from edgead_runtime import values
from edgead_runtime.errors import EdgeadError

if TYPE_CHECKING:
    from torch import nn

MODELS: dict[str, type[nn.Module]] = {}  # filled as model folders are imported


def register_model(name: str):
    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        if name in MODELS:
            raise RuntimeError(f"model '{name}' registered twice")
        cls.model_name = name
        MODELS[name] = cls
        return cls

    return decorate


def model_names() -> list[str]:
    """Every model folder (a sub-package not starting with ``_``), found on disk without importing any."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg and not m.name.startswith("_"))


def get_model_class(name: str) -> type[nn.Module]:
    """The class of model ``name``: imports its folder only. Resolve it once per run and pass it on."""
    names = model_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise EdgeadError(f"unknown model '{name}'; choose one of {', '.join(names)}.{hint}")
    importlib.import_module(f"{__name__}.{name}")
    if name not in MODELS:
        raise EdgeadError(
            f"model folder '{name}' registers no model named '{name}': decorate its class with "
            f"@register_model('{name}') and import it in {name}/__init__.py (docs/extending.md)"
        )
    return MODELS[name]


def make_options(model_cls: type[nn.Module], given: dict[str, Any]) -> Any:
    """The model's Options dataclass from ``values``; an option the model lacks is an error naming its flag."""
    options_cls = model_cls.Options
    known = {f.name for f in dataclasses.fields(options_cls)}
    unknown = sorted(set(given) - known)
    if unknown:
        flags = ", ".join(f"--{k.replace('_', '-')}" for k in unknown)
        own = ", ".join(f"--{k.replace('_', '-')}" for k in sorted(known)) or "none"
        raise EdgeadError(f"{flags} does not apply to model '{model_cls.model_name}'; its options are {own}")
    fields = {f.name: f for f in dataclasses.fields(options_cls)}
    return options_cls(**{k: check_option(fields[k], v) for k, v in given.items()})


def check_option(f: dataclasses.Field, value: Any) -> Any:
    """An option's value checked by its type: counts are whole numbers >= 1, floats finite and, for fields marked
    ``metadata={"fraction": True}``, in (0, 1]. ``edgead train`` uses it as the flag's ``type=`` too."""
    flag = "--" + f.name.replace("_", "-")
    if value is None or isinstance(value, bool):
        return value
    annotation = str(f.type)
    if f.metadata.get("fraction"):
        return values.fraction(value, flag)
    if annotation.startswith("int"):
        return values.integer(value, flag, minimum=f.metadata.get("minimum", 1))
    if annotation.startswith("float"):
        return values.real(value, flag)
    return value


def create_model(name: str, backbone: Any, options: dict[str, Any] | None = None) -> nn.Module:
    """Model ``name`` on ``backbone`` (a FeatureExtractor) with ``options`` (fields of its Options)."""
    model_cls = get_model_class(name)
    return model_cls(backbone, make_options(model_cls, options or {}))
