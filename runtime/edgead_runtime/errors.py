"""Typed errors: each names the file or value that is wrong and how to fix it."""


class EdgeadError(Exception):
    """Base class for errors a user can act on."""


class ImageReadError(EdgeadError):
    """An image file is missing, truncated or not an image."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read image '{path}': {reason}")


class ModelFileError(EdgeadError):
    """A model file is missing, truncated, or lacks edgead metadata."""


class FrameMismatchError(EdgeadError):
    """A frame does not fit the model (size, channels or dtype)."""


class BackendError(EdgeadError):
    """A backend name, option or execution provider that this machine cannot give."""


class SourceError(EdgeadError):
    """A frame source (file, folder, glob, video, camera, URL) that cannot be opened."""


class SinkError(EdgeadError):
    """An output (video file, event log, image folder, metrics port, window) that cannot be written or opened."""


class MissingDependencyError(EdgeadError):
    """An optional dependency (an extra such as OpenCV) is not installed."""


class EdgeadWarning(UserWarning):
    """A value that is allowed but probably not meant (a threshold outside [0, 1]); the CLIs print it as one line."""
