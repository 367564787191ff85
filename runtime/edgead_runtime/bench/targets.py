"""What to time: a model file on a backend at a precision, parsed from the command line's specs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..backends import backend_for, backend_name, open_backend
from ..backends.base import Backend
from ..errors import BackendError


@dataclass(frozen=True)
class Target:
    """One thing to time: a model file on a backend, at a precision (None: the backend's default)."""

    path: Path
    backend: str
    precision: str | None = None

    @property
    def label(self) -> str:
        engine = self.backend if self.precision is None else f"{self.backend}:{self.precision}"
        return f"{self.path.name} {engine}"

    def open(self, options: dict[str, Any]) -> Backend:
        if self.precision is not None:
            options = {**options, "precision": self.precision}
        return open_backend(self.path, self.backend, **options)


def parse_targets(
    models: Sequence[str | Path],
    compare: Sequence[str] | None = None,
    backend: str = "auto",
    precision: str | None = None,
) -> list[Target]:
    """Models x ``compare`` specs (``backend`` or ``backend:precision``), or each model on ``backend``."""
    if compare and (backend != "auto" or precision is not None):
        raise BackendError("--compare names the backend and precision of each target; drop --backend/--precision")
    specs = [s.partition(":")[::2] for s in compare] if compare else [(backend, precision or "")]
    targets = []
    for path in map(Path, models):
        for word, prec in specs:
            name = backend_name(word)  # an alias (trt, ort) names the same backend
            targets.append(Target(path, backend_for(path) if name == "auto" else name, prec or None))
    return targets


def reference_indices(targets: Sequence[Target]) -> list[int]:
    """Each target's reference for ratios and AUROC deltas: the first target on the same model file when that
    file is timed more than once (``--compare``: its backends compare among themselves), else the first target."""
    paths = [t.path for t in targets]
    return [paths.index(p) if paths.count(p) > 1 else 0 for p in paths]
