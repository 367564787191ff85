"""Run-directory I/O: everything a trained detector is, saved so that a crash never leaves half a file.

    RUN_DIR/config.json        TrainConfig (``config.py``: model, backbone, layers, size, options, seed, data)
    RUN_DIR/model.safetensors  weights and fitted state (backbone, memory bank / PCA, normalization)
    RUN_DIR/calibration.json   thresholds and normalization, and how they were chosen
    RUN_DIR/metrics.json       test metrics (torch, before export), when the data has a test split
    RUN_DIR/training.json      per-epoch train/held-out losses (models trained by gradient descent)
    RUN_DIR/checkpoint.safetensors  best trainable weights so far, rewritten during training (same models)
    RUN_DIR/parity_frames.npz  a few real preprocessed frames that export checks the ONNX graph on

Weights load with safetensors, never pickle; every file is written to a temporary name and renamed.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from edgead_runtime.errors import EdgeadError
from edgead_runtime.files import atomic_write, write_json

from .calibration import Calibration
from .config import TrainConfig
from .graph import DetectorGraph, build_graph
from .models import get_model_class

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
CALIBRATION = "calibration.json"
METRICS = "metrics.json"
TRAINING = "training.json"
PARITY_FRAMES = "parity_frames.npz"


def save_run(
    run_dir: Path,
    config: TrainConfig,
    graph: DetectorGraph,
    calibration: Calibration,
    parity_frames: np.ndarray,
) -> None:
    run_dir = Path(run_dir)
    state = {k: v.contiguous() for k, v in graph.state_dict().items()}
    atomic_write(run_dir / WEIGHTS, lambda tmp: save_file(state, tmp))
    atomic_write(run_dir / PARITY_FRAMES, lambda tmp: _save_frames(tmp, parity_frames))
    write_json(run_dir / CALIBRATION, calibration.to_dict())
    write_json(run_dir / CONFIG, dataclasses.asdict(config))


def _save_frames(path: str, frames: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.savez_compressed(f, frames=frames)


def load_config(run_dir: Path) -> TrainConfig:
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise EdgeadError(f"'{run_dir}' is not a run directory: {CONFIG} is missing; train one with `edgead train`")
    data = _read_json(path)
    if data.get("layers") is not None:
        data["layers"] = tuple(data["layers"])
    try:
        return TrainConfig(**data)
    except TypeError as exc:
        raise EdgeadError(f"'{path}' does not describe a run ({exc}); re-train with this edgead version") from exc


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EdgeadError(f"cannot read '{path}' ({exc}); re-train the run") from exc


def load_run(run_dir: Path) -> tuple[TrainConfig, DetectorGraph, Calibration]:
    """Rebuild the trained graph from a run directory (no pretrained-weight lookup needed)."""
    run_dir = Path(run_dir)
    config = load_config(run_dir)
    graph = build_graph(config, get_model_class(config.model), pretrained=False)
    try:
        state = load_file(str(run_dir / WEIGHTS))
    except (OSError, SafetensorError) as exc:
        raise EdgeadError(f"cannot load '{run_dir / WEIGHTS}' ({exc}); re-train the run") from exc
    _resize_buffers(graph, state)
    graph.load_state_dict(state, strict=True)
    calibration = Calibration.from_dict(_read_json(run_dir / CALIBRATION))
    return config, graph, calibration


def load_parity_frames(run_dir: Path) -> np.ndarray:
    with np.load(Path(run_dir) / PARITY_FRAMES, allow_pickle=False) as data:
        return data["frames"]


def _resize_buffers(module: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Fitted buffers (memory bank, PCA) get their size at fit time; make room before loading."""
    for name, tensor in state.items():
        owner_name, _, attr = name.rpartition(".")
        owner = module.get_submodule(owner_name)
        buffer = owner._buffers.get(attr)
        if buffer is not None and buffer.shape != tensor.shape:
            owner._buffers[attr] = torch.empty_like(tensor)
