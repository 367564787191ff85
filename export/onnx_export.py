"""Trained run -> one self-contained ONNX graph, verified against torch before it is reported.

Small pure steps: trace the graph (dynamo exporter, dynamic batch), embed the metadata, save
(external data past 2 GB), run ``onnx.checker``, and compare ONNX Runtime with torch on the run's
real parity frames.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

import edgead
from edgead.train.graph import BackboneGraph, DetectorGraph
from edgead.train.run import TrainConfig, atomic_write, load_parity_frames, load_run
from edgead_runtime.errors import EdgeadError
from edgead_runtime.metadata import INPUT_NAME, METADATA_KEY, OUTPUT_NAMES, ModelMetadata

OPSET = 18
PROTOBUF_LIMIT = 2**31 - 1  # a single ONNX protobuf file cannot exceed 2 GB
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
    metadata = build_metadata(config, graph, calibration.to_dict(), part)
    model.metadata_props.append(onnx.StringStringEntryProto(key=METADATA_KEY, value=metadata.to_json()))
    save_model(model, Path(output), external_data_threshold)
    onnx.checker.check_model(str(output), full_check=True)
    return verify(module, Path(output), frames, output_names)


def trace(module: torch.nn.Module, example: torch.Tensor, output_names: list[str]) -> onnx.ModelProto:
    """The module as an ONNX model with input ``image`` and a dynamic batch dimension."""
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
            opset_version=OPSET,
            verbose=False,
        )
    program.optimize()
    return program.model_proto


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


def save_model(model: onnx.ModelProto, output: Path, external_data_threshold: int) -> None:
    """Save atomically; past ``external_data_threshold`` bytes the weights go to ``<output>.data``."""
    external = model.ByteSize() > external_data_threshold
    data_name = output.name + ".data"

    def write(tmp: str) -> None:
        if external:
            onnx.save_model(
                model,
                tmp,
                save_as_external_data=True,
                all_tensors_to_one_file=True,
                location=data_name,
                size_threshold=1024,
            )
        else:
            onnx.save_model(model, tmp)

    output.parent.mkdir(parents=True, exist_ok=True)
    if not external:
        (output.parent / data_name).unlink(missing_ok=True)
    atomic_write(output, write)


def max_differences(
    expected: dict[str, np.ndarray], got: dict[str, np.ndarray]
) -> tuple[dict[str, float], dict[str, float]]:
    """Per output: max |got - expected|, and that divided by the largest |expected| value."""
    max_abs = {name: float(np.abs(got[name] - ref).max()) for name, ref in expected.items()}
    relative = {name: max_abs[name] / max(float(np.abs(ref).max()), 1e-12) for name, ref in expected.items()}
    return max_abs, relative


def verify(module: torch.nn.Module, path: Path, frames: np.ndarray, output_names: list[str]) -> ParityReport:
    """Compare ONNX Runtime with torch on real frames, as one batch and as single frames."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = dict(zip(output_names, (t.numpy() for t in module(torch.from_numpy(frames))), strict=True))
    batched = dict(zip(output_names, session.run(output_names, {INPUT_NAME: frames}), strict=True))
    one_by_one = [session.run(output_names, {INPUT_NAME: frames[i : i + 1]}) for i in range(len(frames))]
    single = {name: np.concatenate([outs[i] for outs in one_by_one]) for i, name in enumerate(output_names)}
    # the worse of running all frames as one batch and one by one (a dynamic batch must not change numbers)
    (abs_batch, rel_batch), (abs_single, rel_single) = (max_differences(expected, got) for got in (batched, single))
    max_abs = {name: max(abs_batch[name], abs_single[name]) for name in output_names}
    relative = {name: max(rel_batch[name], rel_single[name]) for name in output_names}
    report = ParityReport(max_abs, relative, len(frames))
    bad = {k: v for k, v in relative.items() if not v <= PARITY_RTOL}
    if bad:
        raise ExportParityError(
            f"'{path}' disagrees with torch on {len(frames)} real frames beyond {PARITY_RTOL:g} relative: "
            + ", ".join(f"{k} {v:.2e}" for k, v in bad.items())
            + ". The file is kept for inspection; do not deploy it. Please report this with the run's config.json."
        )
    return report
