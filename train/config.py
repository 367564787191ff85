"""What a training run is asked to do: ``TrainConfig``, saved as ``RUN_DIR/config.json``. No torch here.

``edgead train`` and ``edgead.train(...)`` both build it with ``TrainConfig.from_settings``, so the CLI
and the Python API share one set of defaults (the field defaults below; the CLI shows them in --help).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgead_runtime import values
from edgead_runtime.errors import EdgeadError

DEFAULT_BACKBONE = "tf_efficientnet_lite0"
MIN_IMAGE_SIZE = 32  # every backbone here has stride 32 at its last stage


@dataclass
class TrainConfig:
    model: str
    data: str
    out: str
    backbone: str = DEFAULT_BACKBONE
    layers: tuple[int, ...] | None = None  # None: the model's default stages
    image_size: int = 256
    seed: int = 0
    weights: str | None = None  # backbone weights file; None: offline package or cache
    batch_size: int = 8
    holdout_fraction: float = 0.1
    skip_corrupt: bool = False
    # gradient-trained models only (STFPM, Reverse Distillation, STAD); None: the model's default
    epochs: int | None = None
    lr: float | None = None
    patience: int = 5
    fast: bool = False  # the model's short schedule (fast_epochs), sized for CI and quick checks
    options: dict[str, Any] = field(default_factory=dict)  # model-specific, see the model's Options

    @property
    def size(self) -> tuple[int, int]:
        return self.image_size, self.image_size

    def check(self) -> None:
        """Refuse a bad value before any work (one line naming the flag): sizes, counts, fractions, paths.
        The schedule's values (epochs, lr, patience) are ``gradient_loop.Schedule``'s to check."""
        values.integer(self.image_size, "--image-size", minimum=MIN_IMAGE_SIZE)
        values.integer(self.batch_size, "--batch-size")
        values.integer(self.seed, "--seed", minimum=0)
        if values.fraction(self.holdout_fraction, "--holdout") == 1.0:
            raise EdgeadError("--holdout must be below 1, not 1: some good images must be left to fit on")
        for name in self.layers or ():
            values.integer(name, "--layers", minimum=0)
        if self.weights is not None and not Path(self.weights).is_file():
            raise EdgeadError(f"--weights '{self.weights}' is not a file")
        values.output_folder(self.out, "--out")

    @classmethod
    def from_settings(cls, model: str, data: str | Path, out: str | Path | None = None, **settings: Any) -> TrainConfig:
        """A config from keyword settings: the fields above by name, anything else a model option
        (``coreset_ratio=0.05``; the model rejects one it lacks). ``out`` defaults to ``runs/<model>-<data folder>``."""
        fields = {f.name for f in dataclasses.fields(cls)} - {"model", "data", "out", "options"}
        given = {k: v for k, v in settings.items() if v is not None}
        options = {k: v for k, v in given.items() if k not in fields}
        config = {k: v for k, v in given.items() if k in fields}
        if config.get("layers") is not None:
            config["layers"] = tuple(config["layers"])
        if config.get("weights") is not None:
            config["weights"] = str(config["weights"])
        out = out or Path("runs") / f"{model}-{Path(data).resolve().name}"
        return cls(model=model, data=str(data), out=str(out), options=options, **config)


def default(name: str) -> Any:
    """A field's default, for the CLI's flags."""
    return next(f.default for f in dataclasses.fields(TrainConfig) if f.name == name)
