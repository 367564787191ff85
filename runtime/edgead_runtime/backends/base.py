"""What every engine module provides, so the Detector, the CLI and the benchmark never see engine APIs.

The base class owns the lifecycle and the input checks (Polygraphy's runner pattern): an engine
module only loads the model in ``open`` and runs it in ``_run``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

import numpy as np

from ..errors import BackendError, FrameMismatchError
from ..metadata import ModelMetadata

Dim = int | str  # a symbolic dimension (dynamic batch) is a name


class Backend(ABC):
    """An opened model: ``run`` maps a uint8 BGR NHWC batch to the graph's named outputs."""

    name: ClassVar[str]

    def __init__(
        self,
        path: Path,
        metadata: ModelMetadata,
        input_name: str,
        input_shape: tuple[Dim, ...],
        output_shapes: dict[str, tuple[Dim, ...]],
    ) -> None:
        self.path = path
        self.metadata = metadata
        self.input_name = input_name
        self.input_shape = input_shape
        self.output_shapes = output_shapes
        self._closed = False

    @classmethod
    @abstractmethod
    def open(cls, path: str | Path, **options: Any) -> Backend:
        """Load the model file; raise ModelFileError naming the file and the fix if it cannot."""

    @property
    def output_names(self) -> list[str]:
        return list(self.output_shapes)

    def run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run one batch; the check here gives a clear error where an engine would give an opaque one."""
        if self._closed:
            raise BackendError(f"{self.name} backend for '{self.path}' is closed; open the model again")
        self.check_batch(batch)
        return self._run(batch)

    def check_batch(self, batch: np.ndarray) -> None:
        height, width = self.metadata.size
        expected = f"uint8 [N, {height}, {width}, 3] (BGR, NHWC)"
        if not isinstance(batch, np.ndarray) or batch.dtype != np.uint8:
            got = f"{batch.dtype}" if isinstance(batch, np.ndarray) else type(batch).__name__
            raise FrameMismatchError(f"'{self.path}' expects {expected}, got {got}; use prepare_frame()")
        if batch.ndim != 4 or batch.shape[1:] != (height, width, 3):
            raise FrameMismatchError(
                f"'{self.path}' expects {expected}, got shape {list(batch.shape)}; use prepare_frame()"
            )
        fixed = self.input_shape[0] if self.input_shape else None
        if isinstance(fixed, int) and batch.shape[0] != fixed:
            raise FrameMismatchError(f"'{self.path}' has a fixed batch of {fixed}, got a batch of {batch.shape[0]}")

    @abstractmethod
    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]: ...

    def describe(self) -> dict[str, Any]:
        """The engine settings a timing depends on (version, precision, threads), recorded in bench reports."""
        return {"backend": self.name}

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> Backend:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
