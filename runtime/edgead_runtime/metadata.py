"""The metadata every exported model carries (ONNX ``metadata_props`` key ``edgead``, a JSON string).

Export writes it and the runtime reads it; nothing else is needed to run a model. Schema
(``format_version`` 1)::

    {
      "format_version": 1,
      "edgead_version": "0.1.0",
      "model": "patchcore",                      # model family
      "backbone": "tf_efficientnet_lite0",
      "part": "full",                            # "full", or "backbone" for a profiling sub-graph
      "precision": "fp32",                       # "fp16"/"int8": backbone precision (docs/precision.md)
      "input": {"name": "image", "height": 256, "width": 256, "channels": 3,
                "color": "BGR", "dtype": "uint8", "layout": "NHWC"},
      "outputs": ["score", "anomaly_map", "raw_score", "raw_anomaly_map"],
      "normalization": {                         # folded into the graph; recorded for reference
        "image": {"threshold": t, "min": lo, "max": hi},
        "pixel": {"threshold": t, "min": lo, "max": hi}
      },
      "threshold": 0.5,                          # on the normalized score; override at run time
      "calibration": {...},                      # how the threshold was chosen
      "config": {...}                            # the training config, for the record
    }

Normalized value = clip((raw - threshold) / (max - min) + 0.5, 0, 1), so the calibrated
threshold sits at 0.5 for both the image score and the anomaly map.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .errors import EdgeadError, ModelFileError
from .values import threshold

METADATA_KEY = "edgead"
FORMAT_VERSION = 1
INPUT_NAME = "image"
OUTPUT_NAMES = ("score", "anomaly_map", "raw_score", "raw_anomaly_map")


@dataclass(frozen=True)
class ModelMetadata:
    model: str
    backbone: str
    height: int
    width: int
    threshold: float = 0.5
    part: str = "full"
    precision: str = "fp32"  # files written before precision variants existed are fp32
    edgead_version: str = "unknown"
    normalization: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the graph's input frame."""
        return self.height, self.width

    @classmethod
    def from_json(cls, text: str, source: str = "model") -> ModelMetadata:
        try:
            data = json.loads(text)
            inp = data["input"]
            return cls(
                model=data["model"],
                backbone=data.get("backbone", "unknown"),
                height=_pixels(inp["height"], "height"),
                width=_pixels(inp["width"], "width"),
                threshold=_finite_threshold(data.get("threshold", 0.5), source),
                part=data.get("part", "full"),
                precision=data.get("precision", "fp32"),
                edgead_version=data.get("edgead_version", "unknown"),
                normalization=data.get("normalization", {}),
                extra={k: v for k, v in data.items() if k not in _KNOWN_KEYS},
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{source}: edgead metadata is malformed ({exc!r}); re-export the model") from exc

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "edgead_version": self.edgead_version,
            "model": self.model,
            "backbone": self.backbone,
            "part": self.part,
            "precision": self.precision,
            "input": {
                "name": INPUT_NAME,
                "height": self.height,
                "width": self.width,
                "channels": 3,
                "color": "BGR",
                "dtype": "uint8",
                "layout": "NHWC",
            },
            "outputs": list(OUTPUT_NAMES) if self.part == "full" else [],
            "normalization": self.normalization,
            "threshold": self.threshold,
            **self.extra,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def _pixels(value: Any, name: str) -> int:
    """A size in the metadata: a positive whole number (256 or 256.0), never truncated from 255.5."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) or value < 1:
        raise ValueError(f"input {name} is {value!r}, not a positive whole number of pixels")
    return int(value)


def check_input_dims(metadata: ModelMetadata, input_shape: tuple[int | str, ...], path: object) -> None:
    """The graph's own input dims (N, H, W, 3) must agree with the metadata's size; a dynamic dim (a name)
    agrees with anything. Raise ModelFileError naming both, so an edited or mismatched file fails when it
    opens, not with an engine traceback at the first frame."""
    dims = tuple(input_shape[1:4]) if len(input_shape) == 4 else None
    if dims is None:
        raise ModelFileError(
            f"'{path}': the graph input has shape {list(input_shape)}, not [N, H, W, 3]; re-export the model"
        )
    graph_h, graph_w, channels = dims
    wrong = [
        f"{name} {meta} in the metadata but {dim} in the graph"
        for name, meta, dim in (("height", metadata.height, graph_h), ("width", metadata.width, graph_w))
        if isinstance(dim, int) and dim != meta
    ]
    if isinstance(channels, int) and channels != 3:
        wrong.append(f"{channels} channels in the graph, not 3 (BGR)")
    if wrong:
        raise ModelFileError(
            f"'{path}': the metadata disagrees with the graph's input ({'; '.join(wrong)}); the file was edited or "
            "exported from a mismatched run folder: re-export it with `edgead export RUN_DIR`"
        )


def _finite_threshold(value: object, source: str) -> float:
    """The metadata's threshold: NaN or inf would make ``score >= threshold`` pass (or fail) every part."""
    try:
        return threshold(value, "threshold")
    except EdgeadError as exc:
        raise ModelFileError(f"{source}: edgead metadata {exc}; re-export the model") from None


def embedded_metadata(text: str | None, path: object, where: str, fmt: str) -> ModelMetadata:
    """The metadata JSON a backend found in a model file (``where``), or an error saying how to export it."""
    if text is None:
        raise ModelFileError(
            f"'{path}' has no edgead metadata ({where} key '{METADATA_KEY}'); "
            f"export it with `edgead export RUN_DIR --format {fmt}`"
        )
    return ModelMetadata.from_json(text, source=str(path))


_KNOWN_KEYS = {
    "format_version",
    "edgead_version",
    "model",
    "backbone",
    "part",
    "precision",
    "input",
    "outputs",
    "normalization",
    "threshold",
}
