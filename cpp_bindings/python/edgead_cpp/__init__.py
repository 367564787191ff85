"""The edgead C++ runtime from Python: ``edgead_cpp.Detector(path).predict(frame)``.

The classes are the C++ library's own (``cpp_bindings/include/edgead``); numpy frames are passed to it
without copies where their layout allows, and the maps come back as numpy arrays that own the C++ memory.
"""

try:  # the OpenVINO backend links the openvino wheel's libopenvino.so; loading the wheel first makes it resolvable
    import openvino  # noqa: F401
except ImportError:  # pragma: no cover - a build without the OpenVINO backend
    pass

from ._edgead_cpp import (
    Backend,
    BackendError,
    Detector,
    Error,
    FrameMismatchError,
    ImageReadError,
    ModelFileError,
    ModelMetadata,
    Result,
    __version__,
    available_backends,
    prepare_frame,
    read_image,
)

__all__ = [
    "Backend",
    "BackendError",
    "Detector",
    "Error",
    "FrameMismatchError",
    "ImageReadError",
    "ModelFileError",
    "ModelMetadata",
    "Result",
    "__version__",
    "available_backends",
    "prepare_frame",
    "read_image",
]
