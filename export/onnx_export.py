"""Trained run -> one self-contained ONNX graph, verified against torch before it is reported.

Small pure steps: trace the graph (dynamo exporter, dynamic batch, lowered to opset 17), embed the metadata, save
(external data past 2 GB), run ``onnx.checker``, and compare ONNX Runtime with torch on the run's
real parity frames.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

import edgead
from edgead.export.formats import Written
from edgead.export.onnx_files import PROTOBUF_LIMIT, save_model
from edgead.export.opset import EXPORTER_OPSET, lower_to_opset17
from edgead.train.config import TrainConfig
from edgead.train.graph import BackboneGraph, DetectorGraph
from edgead.train.run_dir import load_parity_frames, load_run
from edgead_runtime.errors import EdgeadError
from edgead_runtime.metadata import INPUT_NAME, METADATA_KEY, OUTPUT_NAMES, ModelMetadata

PARITY_RTOL = 1e-4  # max |onnx - torch| / max |torch|, per output


class ExportParityError(EdgeadError):
    """The exported graph computes other numbers than the torch model."""


@dataclass(frozen=True)
class ParityReport:
    """Per output: max abs difference and that divided by the largest torch value."""

    max_abs: dict[str, float]
    relative: dict[str, float]
    frames: int

    def summary(self) -> str:
        return ", ".join(f"{k} {self.max_abs[k]:.2e} (rel {self.relative[k]:.1e})" for k in self.max_abs)


def export_onnx(
    run_dir: Path, output: Path, part: str = "full", external_data_threshold: int = PROTOBUF_LIMIT
) -> ParityReport:
    """Export ``run_dir`` to ``output``; raise ExportParityError if ONNX Runtime disagrees with torch."""
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


def write_onnx(source: Path, output: Path, precision: str, part: str, **options: int) -> Written:
    """The format table's writer for ONNX: fp32 here; fp16/int8 variants in ``precision.write_onnx_variant``."""
    if options and precision != "int8":
        raise EdgeadError(f"--calibration-images applies to --precision int8, not '{precision}'")
    if precision != "fp32":
        from .precision import write_onnx_variant

        return Written(*write_onnx_variant(Path(source), output, precision, part, **options))
    report = export_onnx(Path(source), output, part=part)
    files = [output, output.parent / (output.name + ".data")]
    return Written(files, [f"checked against torch on {report.frames} real frames: max |diff| {report.summary()}"])


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
    return lower_to_opset17(program.model_proto)


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


def max_differences(
    expected: dict[str, np.ndarray], got: dict[str, np.ndarray]
) -> tuple[dict[str, float], dict[str, float]]:
    """Per output: max |got - expected|, and that divided by the largest |expected| value."""
    max_abs = {name: float(np.abs(got[name] - ref).max()) for name, ref in expected.items()}
    relative = {name: max_abs[name] / max(float(np.abs(ref).max()), 1e-12) for name, ref in expected.items()}
    return max_abs, relative


def verify(module: torch.nn.Module, path: Path, frames: np.ndarray, output_names: list[str]) -> ParityReport:
    """Compare ONNX Runtime with torch on real frames, as one batch and as single frames."""
    from edgead_runtime.ort_install import import_onnxruntime

    session = import_onnxruntime().InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = dict(zip(output_names, (t.numpy() for t in module(torch.from_numpy(frames))), strict=True))

    def run(batch: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(output_names, session.run(output_names, {INPUT_NAME: batch}), strict=True))

    return check_parity(expected, run_batched_and_single(run, frames), path, "torch", "real")


def run_batched_and_single(
    run: Callable[[np.ndarray], dict[str, np.ndarray]], frames: np.ndarray
) -> list[dict[str, np.ndarray]]:
    """Outputs for all frames as one batch, and frame by frame: a dynamic batch must not change numbers."""
    batched = run(frames)
    one_by_one = [run(frames[i : i + 1]) for i in range(len(frames))]
    single = {name: np.concatenate([outs[name] for outs in one_by_one]) for name in batched}
    return [batched, single]


def check_parity(
    expected: dict[str, np.ndarray],
    runs: list[dict[str, np.ndarray]],
    path: Path,
    reference: str,
    kind: str,
    rtol: float = PARITY_RTOL,
) -> ParityReport:
    """The worst difference of ``runs`` from ``expected``; raise ExportParityError beyond ``rtol`` relative."""
    diffs = [max_differences(expected, got) for got in runs]
    max_abs = {name: max(d[0][name] for d in diffs) for name in expected}
    relative = {name: max(d[1][name] for d in diffs) for name in expected}
    frames = len(next(iter(expected.values())))
    report = ParityReport(max_abs, relative, frames)
    bad = {k: v for k, v in relative.items() if not v <= rtol}
    if bad:
        raise ExportParityError(
            f"'{path}' disagrees with {reference} on {frames} {kind} frames beyond {rtol:g} relative: "
            + ", ".join(f"{k} {v:.2e}" for k, v in bad.items())
            + ". The file is kept for inspection; do not deploy it. Please report this with the run's config.json."
        )
    return report
