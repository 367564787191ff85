"""``edgead.export``: the ONNX graph, its fp16/int8 variants, OpenVINO IR, TensorRT engines, the doctor.

The package is also the Python API of ``edgead export``: ``edgead.export(run_dir, "onnx")`` is the function
the CLI calls (``edgead.export.formats.export``, same defaults); it returns the written file. Importing the
package loads no torch.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any


class _CallablePackage(types.ModuleType):
    # Callable under its package name, so `from edgead import export` works whether or not a submodule of it
    # was imported first (a function named `export` in edgead/__init__.py would be rebound to this package).
    def __call__(self, *args: Any, **kwargs: Any) -> Path:
        """``export(run_or_onnx, format, precision="fp32", output=None, part="full", doctor=True, **options)``."""
        from .formats import export

        return export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
