"""What every engine module provides, so the Detector, the CLI and the benchmark never see engine APIs.

The base class owns the lifecycle, the options, the input checks and the graph timing (Polygraphy's runner
pattern): an engine module declares its ``Options`` dataclass, loads the model in ``_open`` and runs it in
``_run``. Importing a backend module loads neither its engine nor numpy (``--help`` builds flags from them).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import BackendError, FrameMismatchError
from ..metadata import ModelMetadata, check_input_dims
from .options import NoOptions, make_options

if TYPE_CHECKING:
    import numpy as np

Dim = int | str  # a symbolic dimension (dynamic batch) is a name


class Backend(ABC):
    """An opened model: ``run`` maps a uint8 BGR NHWC batch to the graph's named outputs.

    ``last_run_s``: wall time of the engine call in the last ``run`` (after the input checks), in seconds.
    """

    name: ClassVar[str]
    library: ClassVar[str | None] = None  # the engine's Python module; bench records its version
    Options: ClassVar[type] = NoOptions  # a dataclass; fields made with ``options.option`` become CLI flags

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
        self.last_run_s: float | None = None
        self._closed = False
        check_input_dims(metadata, input_shape, path)  # sizes come from the graph; the metadata must agree

    @classmethod
    def open(cls, path: str | Path, **options: Any) -> Backend:
        """Load the model file with ``options`` (the fields of ``Options``); an unknown option is a BackendError."""
        return cls._open(path, make_options(cls.name, cls.Options, options))

    @classmethod
    @abstractmethod
    def _open(cls, path: str | Path, options: Any) -> Backend:
        """Load the model file; raise ModelFileError naming the file and the fix if it cannot."""

    @property
    def output_names(self) -> list[str]:
        return list(self.output_shapes)

    def run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run one batch; the check here gives a clear error where an engine would give an opaque one."""
        if self._closed:
            raise BackendError(f"{self.name} backend for '{self.path}' is closed; open the model again")
        self.check_batch(batch)
        start = time.perf_counter()
        out = self._run(batch)
        self.last_run_s = time.perf_counter() - start
        return out

    def check_batch(self, batch: np.ndarray) -> None:
        import numpy as np

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
