"""``edgead.train``: models, backbones, data, fitting, calibration, metrics and run directories (torch).

The package is also the Python API of ``edgead train``: ``edgead.train("patchcore", "data/bottle")``
builds a ``TrainConfig`` with the CLI's defaults (``TrainConfig.from_settings``) and calls the function the
CLI calls (``edgead.train.fit.train``); it returns the run directory. Importing the package loads no torch.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any


class _CallablePackage(types.ModuleType):
    # A package can be named `train` and be callable: `from edgead import train; train(...)` keeps working after
    # `import edgead.train.fit` (which rebinds `edgead.train` to this package; a function of that name would be lost).
    def __call__(
        self, model: str, data: str | Path, out: str | Path | None = None, device: str = "auto", **settings: Any
    ) -> Path:
        """Train model ``model`` on ``data`` into ``out`` (default ``runs/<model>-<data folder>``) on ``device``
        (``--device``: auto, cpu, cuda, cuda:N); ``settings``: any ``TrainConfig`` field (``image_size=128``,
        ``epochs=5``, ...) or model option (``coreset_ratio=0.05``)."""
        from .config import TrainConfig
        from .fit import train

        return train(TrainConfig.from_settings(model, data, out, **settings), device)


sys.modules[__name__].__class__ = _CallablePackage
