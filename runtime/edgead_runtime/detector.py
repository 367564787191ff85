"""Frames in, scores and maps out: the graph does the work, this only resizes around it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from .backends import open_backend
from .errors import ModelFileError
from .metadata import OUTPUT_NAMES
from .opencv import cv2
from .preprocess import prepare_frame, read_image
from .values import threshold as check_threshold


@dataclass(frozen=True)
class Result:
    """One frame's verdict. Normalized values put the calibrated threshold at 0.5."""

    score: float
    raw_score: float
    is_anomalous: bool
    threshold: float
    anomaly_map: np.ndarray  # float32 (H, W) at the frame's own resolution, normalized
    raw_anomaly_map: np.ndarray  # float32 (h, w) at the model's resolution, raw


class Detector:
    """An exported model on one backend; ``threshold`` overrides the exported one (normalized scale)."""

    def __init__(
        self,
        model_path: str | Path,
        backend: str = "auto",
        threshold: float | None = None,
        **backend_options: Any,
    ) -> None:
        if threshold is not None:  # before any work: NaN would pass every part
            threshold = check_threshold(threshold, "threshold")
        self.backend = open_backend(model_path, backend, **backend_options)
        self.metadata = self.backend.metadata
        missing = [name for name in OUTPUT_NAMES if name not in self.backend.output_names]
        if self.metadata.part != "full" or missing:
            self.backend.close()
            raise ModelFileError(
                f"'{model_path}' is a '{self.metadata.part}' graph with outputs {self.backend.output_names}, "
                f"not {list(OUTPUT_NAMES)}; it can be benchmarked (`edgead-runtime bench`) but not used to "
                "predict: export the full model"
            )
        self.threshold = self.metadata.threshold if threshold is None else threshold

    def predict(self, frame: np.ndarray) -> Result:
        return self.predict_batch([frame])[0]

    def predict_batch(self, frames: Sequence[np.ndarray]) -> list[Result]:
        """Frames of any size, depth and channel count, run as one batch."""
        batch = np.stack([prepare_frame(frame, self.metadata.size) for frame in frames])
        out = self.backend.run(batch)
        return [self._result(out, i, frame.shape[:2]) for i, frame in enumerate(frames)]

    def predict_path(self, path: str | Path) -> Result:
        return self.predict(read_image(path))

    def _result(self, out: dict[str, np.ndarray], i: int, frame_size: tuple[int, int]) -> Result:
        return make_result(out, i, frame_size, self.threshold)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Detector:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def make_result(out: dict[str, np.ndarray], i: int, frame_size: tuple[int, int], threshold: float) -> Result:
    """Frame ``i`` of a batch's graph outputs as a Result: the post-processing, which the benchmark times alone."""
    height, width = frame_size
    amap = np.asarray(out["anomaly_map"][i], dtype=np.float32)
    if amap.shape != (height, width):
        amap = cv2.resize(amap, (width, height), interpolation=cv2.INTER_LINEAR)
    score = float(out["score"][i])
    return Result(
        score=score,
        raw_score=float(out["raw_score"][i]),
        is_anomalous=score >= threshold,
        threshold=threshold,
        anomaly_map=amap,
        raw_anomaly_map=np.asarray(out["raw_anomaly_map"][i], dtype=np.float32),
    )
