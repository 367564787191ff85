"""``edgead train``: fit a model on good images, calibrate on held-out good images, evaluate, save.

Plain functions and a plain loop: load frames through the runtime's preprocessing, fit, score the
holdout (and the test split when there is one) with the very graph that export will trace.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from edgead_runtime.errors import EdgeadError
from edgead_runtime.metadata import OUTPUT_NAMES

from .calibration import Calibration, calibrate
from .config import TrainConfig
from .data import Dataset, find_dataset, load_frames, load_masks, split_holdout
from .device import module_device, prepare, resolve_device, synchronize
from .gradient_loop import Schedule, batches, fit_by_gradient, is_gradient_model
from .graph import DetectorGraph, build_graph
from .metrics import evaluate, format_metrics_table
from .models import get_model_class, make_options
from .run_dir import METRICS, TRAINING, save_run

PARITY_FRAME_COUNT = 8


@torch.no_grad()
def run_graph(
    graph: DetectorGraph, frames: np.ndarray, batch_size: int, desc: str | None = None
) -> dict[str, np.ndarray]:
    """Graph outputs for all frames, keyed like the ONNX outputs."""
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in OUTPUT_NAMES}
    device = module_device(graph)
    for batch in batches(frames, batch_size, desc):
        for name, value in zip(OUTPUT_NAMES, graph(batch.to(device)), strict=True):
            outputs[name].append(value.cpu().numpy())
    return {name: np.concatenate(values) for name, values in outputs.items()}


def train(config: TrainConfig, device: str = "auto") -> Path:
    """Train, calibrate, evaluate and save a run on ``device`` (see ``device.py``); return the run directory.
    ``edgead train`` and ``edgead.train`` call this (through ``TrainConfig.from_settings``)."""
    target = resolve_device(device)  # a missing GPU fails now, before the images load
    model_cls = get_model_class(config.model)  # the one lookup of the run; passed on from here
    make_options(model_cls, config.options)  # an option of another model (or a bad value) fails now
    config.check()
    schedule = None
    if is_gradient_model(model_cls):
        schedule = _schedule(config, model_cls)  # a bad value fails now, not after loading the images
    else:
        _reject_schedule_flags(config)
    torch.manual_seed(config.seed)
    run_dir = Path(config.out)
    dataset = find_dataset(config.data)
    fit_paths, holdout_paths = split_holdout(dataset.train, config.holdout_fraction, config.seed)
    graph = build_graph(config, model_cls).to(target)  # built (and randomly initialized) on the CPU, then moved
    # record what was used, not only what was asked for: a later change of a default must not change a saved run
    config = dataclasses.replace(
        config, layers=tuple(graph.model.backbone.layers), options=dataclasses.asdict(graph.model.options)
    )
    print(
        f"backbone {config.backbone} stages {list(graph.model.backbone.layers)} "
        f"(weights: {graph.model.backbone.weights_source}) on {prepare(target)}"
    )

    fit_frames, _ = load_frames(fit_paths, config.size, config.skip_corrupt, desc="fit images")
    holdout_frames, _ = load_frames(holdout_paths, config.size, config.skip_corrupt, desc="holdout images")

    def to_images(batch: torch.Tensor) -> torch.Tensor:
        return graph.input(batch.to(target))

    start = time.perf_counter()
    history = None
    if schedule is not None:
        history = fit_by_gradient(graph.model, to_images, fit_frames, holdout_frames, schedule, run_dir)
    else:
        graph.model.fit(to_images(batch) for batch in batches(fit_frames, config.batch_size, "fitting"))
    synchronize(target)
    fit_seconds = time.perf_counter() - start
    print(f"fitted {config.model} on {len(fit_frames)} images in {fit_seconds:.1f} s")

    holdout = run_graph(graph, holdout_frames, config.batch_size)
    metrics, anomalous_frames, calibration = _calibrate_and_evaluate(graph, config, dataset, holdout)
    graph.set_calibration(calibration)
    if metrics:
        metrics["fit_seconds"] = fit_seconds
        metrics["device"] = str(target)
    records = {TRAINING: history.to_dict() if history is not None else None, METRICS: metrics or None}
    save_run(run_dir, config, graph, calibration, _parity_frames(holdout_frames, anomalous_frames), records)
    print(f"saved run to {run_dir}  (threshold: {calibration.source})")
    print(f"next: edgead export {run_dir} --format onnx -o {run_dir / (config.model + '.onnx')}")
    return run_dir


def _schedule(config: TrainConfig, model_cls: type[torch.nn.Module]) -> Schedule:
    """The flags given, else the model's defaults (``--fast``: its short schedule); ``--epochs`` beats ``--fast``."""
    epochs = config.epochs
    if epochs is None:
        epochs = model_cls.fast_epochs if config.fast else model_cls.default_epochs
    lr = model_cls.default_lr if config.lr is None else config.lr
    return Schedule(epochs, lr, config.patience, config.batch_size, config.seed)


def _reject_schedule_flags(config: TrainConfig) -> None:
    """--epochs/--lr/--fast mean nothing to a model fitted in one pass; say so rather than ignore them."""
    flags = {"--epochs": config.epochs is not None, "--lr": config.lr is not None, "--fast": config.fast}
    given = [flag for flag, value in flags.items() if value]
    if given:
        raise EdgeadError(
            f"{', '.join(given)} apply to models trained by gradient descent; '{config.model}' is fitted in one pass"
        )


def _parity_frames(good: np.ndarray, anomalous: np.ndarray) -> np.ndarray:
    """Real frames for export's parity check: good ones and, when the data has them, anomalous ones
    spread over the defect types, so the check covers high scores too."""
    n_anomalous = min(len(anomalous), PARITY_FRAME_COUNT // 2)
    spread = anomalous[np.linspace(0, len(anomalous) - 1, n_anomalous).astype(int)] if n_anomalous else anomalous
    return np.concatenate([good[: PARITY_FRAME_COUNT - n_anomalous], spread])


def _calibrate_and_evaluate(
    graph: DetectorGraph, config: TrainConfig, dataset: Dataset, holdout: dict[str, np.ndarray]
) -> tuple[dict[str, float], np.ndarray, Calibration]:
    """Calibration (and test metrics when the data has a labelled test split); also the anomalous frames."""
    if not dataset.test:
        return (
            {},
            np.empty((0, *config.size, 3), np.uint8),
            calibrate(holdout["raw_score"], holdout["raw_anomaly_map"]),
        )
    test_frames, kept = load_frames(
        [s.path for s in dataset.test], config.size, config.skip_corrupt, desc="test images"
    )
    samples = [s for s in dataset.test if s.path in set(kept)]
    out = run_graph(graph, test_frames, config.batch_size, desc="scoring test")
    labels = np.array([s.label for s in samples])
    masks, index = load_masks(samples, config.size)
    maps = out["raw_anomaly_map"][index]
    if not masks.any():  # image labels only (no ground_truth masks): no pixel threshold or metrics from test
        masks = maps = None
    calibration = calibrate(holdout["raw_score"], holdout["raw_anomaly_map"], labels, out["raw_score"], masks, maps)
    metrics = evaluate(labels, out["raw_score"], masks, maps)
    print(format_metrics_table(metrics))
    return metrics, test_frames[labels == 1], calibration
