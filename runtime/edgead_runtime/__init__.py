"""edgead's torch-free runtime: run an exported anomaly-detection graph on frames, files and streams.

The documented top level (each name loads its module on first use, so ``import edgead_runtime`` and
``edgead-runtime --help`` stay cheap: no numpy, OpenCV or engine)::

    from edgead_runtime import Detector

    with Detector("model.onnx") as detector:  # backend from the suffix; Detector(path, "openvino", precision="bf16")
        result = detector.predict_path("part.png")  # a Result: score, raw_score, is_anomalous, anomaly_map, ...
    print(result.score, result.is_anomalous)

``open_backend(path, backend, **options)`` opens the engine alone (``Backend.run`` on a uint8 NHWC batch);
``bench_model([paths], batch_sizes)`` returns the ``edgead-runtime bench`` report (docs/bench.md) and
``format_report`` prints it; ``BACKENDS`` is the backend table.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (type checkers read this spelling too)
__version__ = "0.1.0"

# public name -> the module that defines it (relative to this package)
_EXPORTS = {
    "Detector": "detector",
    "Result": "detector",
    "open_backend": "backends",
    "BACKENDS": "backends",
    "bench_model": "bench",
    "format_report": "bench",
}
__all__ = ["BACKENDS", "Detector", "Result", "__version__", "bench_model", "format_report", "open_backend"]

if TYPE_CHECKING:
    from .backends import BACKENDS, open_backend
    from .bench import bench_model, format_report
    from .detector import Detector, Result


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgead_runtime' has no attribute '{name}'; it exports {', '.join(__all__)}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
