"""Trained run -> one self-contained ONNX graph, verified against torch before it is reported.

Small pure steps: trace the graph (dynamo exporter, dynamic batch, lowered to opset 17), embed the metadata, save
(external data past 2 GB), run ``onnx.checker``, and compare ONNX Runtime with torch on the run's
real parity frames. This is export's torch half; the format table's ONNX writer (``onnx_format.write_onnx``)
calls it for a run directory and does everything after it (variants, their check) without torch.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

import edgead
from edgead.export.input_fold import fold_channel_order
from edgead.export.onnx_files import PROTOBUF_LIMIT, save_model
from edgead.export.opset import EXPORTER_OPSET, lower_to_opset17
from edgead.export.parity import ParityReport, check_parity, run_batched_and_single
from edgead.train.config import TrainConfig
from edgead.train.graph import BackboneGraph, DetectorGraph
from edgead.train.run_dir import load_parity_frames, load_run
from edgead_runtime.errors import EdgeadError
from edgead_runtime.metadata import INPUT_NAME, METADATA_KEY, OUTPUT_NAMES, ModelMetadata


def export_onnx(
    run_dir: Path, output: Path, part: str = "full", external_data_threshold: int = PROTOBUF_LIMIT
) -> ParityReport:
    """Export ``run_dir`` to ``output``; raise parity.ExportParityError if ONNX Runtime disagrees with torch."""
    config, graph, calibration = load_run(run_dir)
    if part == "full":
        module: torch.nn.Module = graph
        output_names = list(OUTPUT_NAMES)
    elif part == "backbone":
        module = BackboneGraph(graph)
        output_names = [f"features_{i}" for i in graph.model.backbone.layers]
    else:
        raise EdgeadError(f"unknown graph part '{part}'; choose 'full' or 'backbone'")
    frames = load_parity_frames(run_dir)
    model = trace(module, torch.from_numpy(frames[:2]), output_names)
    traced = traced_input_size(model)
    if traced != graph.size:  # the metadata's size must be the graph's own, or every runtime command fails
        raise EdgeadError(
            f"run folder '{run_dir}' disagrees with itself: its config says image size {graph.size[0]}x{graph.size[1]} "
            f"but its frames trace a {traced[0]}x{traced[1]} graph; re-train into a fresh --out folder"
        )
    metadata = build_metadata(config, graph, calibration.to_dict(), part)
    model.metadata_props.append(onnx.StringStringEntryProto(key=METADATA_KEY, value=metadata.to_json()))
    save_model(model, Path(output), external_data_threshold)
    onnx.checker.check_model(str(output), full_check=True)
    return verify(module, Path(output), frames, output_names)


def trace(module: torch.nn.Module, example: torch.Tensor, output_names: list[str]) -> onnx.ModelProto:
    """The module as an ONNX model (opset 17) with input ``image`` and a dynamic batch dimension."""
    batch = torch.export.Dim("batch", min=1, max=4096)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module.eval(),
            (example,),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=output_names,
            dynamic_shapes={"frames": {0: batch}},
            opset_version=EXPORTER_OPSET,
            verbose=False,
        )
    program.optimize()
    return fold_channel_order(lower_to_opset17(program.model_proto))


def traced_input_size(model: onnx.ModelProto) -> tuple[int | str, int | str]:
    """(height, width) of the graph's ``image`` input [N, H, W, 3], as the graph declares them."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return tuple(d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims[1:3])  # type: ignore[return-value]


def build_metadata(config: TrainConfig, graph: DetectorGraph, calibration: dict, part: str) -> ModelMetadata:
    height, width = graph.size
    return ModelMetadata(
        model=config.model,
        backbone=config.backbone,
        height=height,
        width=width,
        part=part,
        edgead_version=edgead.__version__,
        normalization={"image": calibration["image"], "pixel": calibration["pixel"]},
        extra={
            "calibration": {"source": calibration["source"], "n_images": calibration["n_images"]},
            "layers": list(graph.model.backbone.layers),
            "config": dataclasses.asdict(config),
        },
    )


def verify(module: torch.nn.Module, path: Path, frames: np.ndarray, output_names: list[str]) -> ParityReport:
    """Compare ONNX Runtime with torch on real frames, as one batch and as single frames."""
    from edgead_runtime.ort_install import import_onnxruntime

    session = import_onnxruntime().InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = dict(zip(output_names, (t.numpy() for t in module(torch.from_numpy(frames))), strict=True))

    def run(batch: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(output_names, session.run(output_names, {INPUT_NAME: batch}), strict=True))

    return check_parity(expected, run_batched_and_single(run, frames), path, "torch", "real")
