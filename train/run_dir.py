"""Run-directory I/O: everything a trained detector is, saved so that a crash never leaves half a file.

    RUN_DIR/config.json        TrainConfig (``config.py``: model, backbone, layers, size, options, seed, data)
    RUN_DIR/model.safetensors  weights and fitted state (backbone, memory bank / PCA, normalization)
    RUN_DIR/calibration.json   thresholds and normalization, and how they were chosen
    RUN_DIR/metrics.json       test metrics (torch, before export), when the data has a test split
    RUN_DIR/training.json      per-epoch train/held-out losses (models trained by gradient descent)
    RUN_DIR/checkpoint.safetensors  best trainable weights so far, rewritten during training (same models)
    RUN_DIR/parity_frames.npz  a few real preprocessed frames that export checks the ONNX graph on
    RUN_DIR/manifest.json      the SHA-256 of each file above (but the checkpoint), written last

Weights load with safetensors, never pickle; every file is written to a temporary name and renamed. A save
changes several files, so the manifest is the commit point: it is written after all of them, and loading
refuses a run whose files do not match it (kill -9 between two renames leaves new weights beside old
calibration; the manifest of the previous save then names the mismatch). Loading also checks that the
thresholds folded into the weights are the ones ``calibration.json`` states, so export never folds one
threshold into the graph while writing another into the metadata.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from edgead_runtime.errors import EdgeadError
from edgead_runtime.files import atomic_write, write_json
from edgead_runtime.metadata import ModelMetadata

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
MANIFEST = "manifest.json"
MANIFEST_PARTS = (CONFIG, WEIGHTS, CALIBRATION, METRICS, PARITY_FRAMES)


def save_run(
    run_dir: Path,
    config: TrainConfig,
    graph: DetectorGraph,
    calibration: Calibration,
    parity_frames: np.ndarray,
    records: dict[str, Any] | None = None,
) -> None:
    """Save every part, then the manifest; ``records`` are JSON files by name (metrics, training history)."""
    run_dir = Path(run_dir)
    state = {k: v.contiguous() for k, v in graph.state_dict().items()}
    atomic_write(run_dir / WEIGHTS, lambda tmp: save_file(state, tmp))
    atomic_write(run_dir / PARITY_FRAMES, lambda tmp: _save_frames(tmp, parity_frames))
    write_json(run_dir / CALIBRATION, calibration.to_dict())
    write_json(run_dir / CONFIG, dataclasses.asdict(config))
    for name, data in (records or {}).items():
        if data is not None:
            write_json(run_dir / name, data)
    write_manifest(run_dir)  # the commit point: until it is written, the previous manifest refuses the mix


def write_manifest(run_dir: Path) -> None:
    """Record the hash of every part present, last: the run is complete once this file exists."""
    parts = {name: _sha256(run_dir / name) for name in MANIFEST_PARTS if (run_dir / name).is_file()}
    write_json(run_dir / MANIFEST, {"format_version": 1, "sha256": parts})


def check_manifest(run_dir: Path) -> None:
    """Refuse a run whose parts are not the ones saved together (a save cut short, a file copied in)."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        if (Path(run_dir) / WEIGHTS).is_file() and not (Path(run_dir) / CALIBRATION).is_file():
            raise EdgeadError(f"'{run_dir}' was not saved completely ({CALIBRATION} is missing); re-train the run")
        return  # a run saved before manifests existed: the threshold check in load_run still applies
    recorded = _read_json(path).get("sha256", {})
    changed = [name for name, digest in recorded.items() if _sha256(Path(run_dir) / name) != digest]
    if changed:
        raise EdgeadError(
            f"'{run_dir}': {', '.join(changed)} changed since the run was saved ({MANIFEST} records other contents); "
            "its files come from different saves or one was damaged: re-train the run (or restore the files saved "
            "together)"
        )


def _sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    check_manifest(run_dir)
    config = load_config(run_dir)
    graph = build_graph(config, get_model_class(config.model), pretrained=False)
    try:
        state = load_file(str(run_dir / WEIGHTS))
    except (OSError, SafetensorError) as exc:
        raise EdgeadError(f"cannot load '{run_dir / WEIGHTS}' ({exc}); re-train the run") from exc
    try:
        _resize_buffers(graph, state)
        graph.load_state_dict(state, strict=True)
    except (AttributeError, RuntimeError) as exc:  # missing/unexpected keys or shapes: another model's weights
        first = str(exc).strip().splitlines()[0][:300]
        raise EdgeadError(
            f"'{run_dir / WEIGHTS}' does not fit model '{config.model}' of {CONFIG} ({first}); the files come from "
            "runs of different models: re-train the run"
        ) from None
    calibration = Calibration.from_dict(_read_json(run_dir / CALIBRATION))
    _check_folded_thresholds(run_dir, graph, calibration)
    return config, graph, calibration


def _check_folded_thresholds(run_dir: Path, graph: DetectorGraph, calibration: Calibration) -> None:
    """The normalization constants in the weights must be calibration.json's: export folds the former into the
    graph and writes the latter into the metadata, and the two must not disagree."""
    for name, norm in (("image", calibration.image), ("pixel", calibration.pixel)):
        folded = getattr(graph, f"{name}_norm").double()
        stated = torch.tensor([norm.threshold, 1.0 / (norm.max - norm.min)], dtype=torch.float64)
        if not torch.allclose(folded, stated, rtol=1e-5, atol=1e-7):
            raise EdgeadError(
                f"'{run_dir}': the {name} threshold folded into {WEIGHTS} ({folded[0].item():.6g}) is not the one "
                f"{CALIBRATION} states ({norm.threshold:.6g}); the files come from different saves: re-train the run"
            )


def check_model_of_run(metadata: ModelMetadata, path: Path, run_dir: Path, config: TrainConfig,
                       calibration: Calibration) -> None:  # fmt: skip
    """Refuse an exported model that was not exported from this run (``edgead bench RUN MODEL``)."""
    theirs = (metadata.model, metadata.backbone, metadata.normalization.get("image", {}).get("threshold"))
    ours = (config.model, config.backbone, calibration.image.threshold)
    if theirs != ours:
        raise EdgeadError(
            f"'{path}' was not exported from '{run_dir}': it is {metadata.model}/{metadata.backbone} with image "
            f"threshold {theirs[2]}, the run is {config.model}/{config.backbone} with {ours[2]}; export this run "
            f"(`edgead export {run_dir} --format onnx`) or pass the model's own run"
        )


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
