"""edgead: train visual anomaly detectors on good images, export one self-contained graph, run it at the edge.

The Python API is the CLI's, with the same defaults (torch loads on the first call, not on import)::

    import edgead

    run = edgead.train("patchcore", "data/bottle", out="runs/bottle-pc")   # `edgead train`, returns the run dir
    onnx = edgead.export(run, "onnx", output="bottle-pc.onnx")              # `edgead export`, returns the file
    report = edgead.evaluate(onnx, "data/bottle")                          # `edgead evaluate`, returns a dict

Deploy with the torch-free runtime: ``from edgead_runtime import Detector``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
__all__ = ["train", "export", "evaluate"]


def evaluate(model: Any, data: Any, **options: Any) -> dict[str, Any]:
    """``edgead evaluate``: metrics of exported ``model`` on the labelled test split of ``data``, through the
    runtime; ``options``: ``batch=8``, ``backend="auto"``, ``compare_run=RUN_DIR``, ``json_out=PATH``."""
    from edgead.evaluation import evaluate_model  # not edgead/evaluate.py: it would shadow this function

    return evaluate_model(model, data, **options)


def __getattr__(name: str) -> Any:
    # `edgead.train` and `edgead.export` are callable packages (see their __init__); load them on first use
    if name in ("train", "export"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'edgead' has no attribute '{name}'")
