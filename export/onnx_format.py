"""The format table's writer for ONNX, top-down: fp32 graph -> fp16/int8 variant -> compared with each other.

From a run directory the fp32 graph is exported and checked against torch first (``onnx_export``, the only step
that needs torch); from an exported fp32 ``.onnx`` it is that file. A variant is then written by ``precision``'s
pure rewrites (calibrated on ``calibration.calibration_set``'s frames for int8) and checked against its fp32 graph
on ONNX Runtime (``parity.compare_variant``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgead_runtime.bench import synthetic_frame
from edgead_runtime.datasets import CALIBRATION_IMAGES
from edgead_runtime.errors import EdgeadError
from edgead_runtime.metadata import ModelMetadata

from .calibration import calibration_set
from .formats import Written
from .onnx_files import onnx_metadata
from .parity import VARIANT_ATOL, compare_variant
from .precision import quantize_int8, reference_path, to_fp16

SYNTHETIC_FRAMES = 4  # an fp16 variant of an .onnx is compared on these (no real frames travel with a graph)


def write_onnx(
    source: Path,
    output: Path,
    precision: str,
    part: str,
    calibration_images: int | None = None,
    calibration_data: Path | None = None,
) -> Written:
    """Write ``precision`` of a run directory or an exported fp32 ``.onnx`` to ``output``; return files and checks.

    From a run directory, a variant's fp32 graph is kept beside it as ``<name>.fp32.onnx`` (``reference_path``).
    """
    if (calibration_images is not None or calibration_data is not None) and precision != "int8":
        flag = "--calibration-images" if calibration_images is not None else "--calibration-data"
        raise EdgeadError(f"{flag} applies to --precision int8, not '{precision}'")
    source, output = Path(source), Path(output)
    from_graph = source.is_file()
    if precision == "fp32":
        if from_graph:
            raise EdgeadError(
                f"'{source}' is an exported graph already; --format onnx from an .onnx writes its "
                "--precision fp16 or int8 variant"
            )
        from .onnx_export import export_onnx  # torch

        report = export_onnx(source, output, part=part)
        files = [output, output.parent / (output.name + ".data")]
        return Written(files, [f"checked against torch on {report.frames} real frames: max |diff| {report.summary()}"])
    if precision not in VARIANT_ATOL:
        raise EdgeadError(f"precision '{precision}' has no ONNX variant; choose fp32, fp16 or int8")
    checks: list[str] = []
    if from_graph:
        reference, files = source, [output]
        metadata = ModelMetadata.from_json(onnx_metadata(source), source=str(source))
        if metadata.precision != "fp32":
            raise EdgeadError(
                f"'{source}' is a {metadata.precision} graph; make variants from the fp32 graph "
                "(`edgead export RUN --format onnx`)"
            )
        if part != "full":
            raise EdgeadError(f"--part applies to a run directory; '{source}' is an exported graph already")
    else:
        from .onnx_export import export_onnx  # torch

        reference, files = reference_path(output), [output, reference_path(output)]
        report = export_onnx(source, reference, part=part)
        checks.append(
            f"fp32 graph {reference} checked against torch on {report.frames} real frames: {report.summary()}"
        )
        metadata = ModelMetadata.from_json(onnx_metadata(reference), source=str(reference))
    frames = None
    if precision == "fp16":
        to_fp16(reference, output)
    else:
        where = calibration_data if calibration_data is not None else source
        if from_graph and calibration_data is None:
            raise EdgeadError(
                f"int8 from the fp32 graph '{source}' needs good images for its scales: pass --calibration-data DIR "
                "(a folder of good images, an MVTec category, or the run directory)"
            )
        count = CALIBRATION_IMAGES if calibration_images is None else calibration_images
        frames, what = calibration_set(Path(where), metadata.size, count)
        quantize_int8(reference, output, frames)
        checks.append(f"int8 calibrated on {what}")
    if metadata.part == "full":
        if from_graph:
            kind = "calibration" if frames is not None else "synthetic"
            if frames is None:
                frames = np.stack([synthetic_frame(*metadata.size, seed) for seed in range(SYNTHETIC_FRAMES)])
        else:
            from edgead.train.run_dir import load_parity_frames

            frames, kind = load_parity_frames(source), "real"
        variant = compare_variant(reference, output, frames, precision, metadata.threshold, kind)
        checks.append(
            f"{precision} graph vs fp32 on {variant.frames} {kind} frames (bound {VARIANT_ATOL[precision]:g} on "
            f"score/anomaly_map): max |diff| {variant.summary()}"
        )
    return Written(files, checks)
