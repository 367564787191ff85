"""ONNX graph -> OpenVINO IR (``.xml`` + ``.bin``), checked against the ONNX graph before it is reported.

The IR is converted from the exported ONNX graph, never traced from torch again, so every backend
runs the same graph. The edgead metadata goes into the IR's ``rt_info`` under ``edgead`` (the same
JSON as the ONNX ``metadata_props``). The check runs the IR on OpenVINO in f32 and the ONNX graph on
ONNX Runtime, on the run's real parity frames, as one batch and frame by frame.

From an exported ``.onnx`` nothing here needs torch (the check runs on synthetic frames then); only a run
directory goes through ``onnx_export`` (torch) first.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from edgead_runtime.backends import open_backend
from edgead_runtime.backends.openvino import import_openvino
from edgead_runtime.bench import synthetic_frame
from edgead_runtime.errors import EdgeadError
from edgead_runtime.files import replace_files, staging_folder
from edgead_runtime.metadata import METADATA_KEY, ModelMetadata

from .formats import Written
from .onnx_files import onnx_metadata
from .parity import PARITY_RTOL, ParityReport, check_parity, run_batched_and_single

# fp16 stores the weights in half precision (OpenVINO decompresses them to f32 at load): PatchCore's bank
# and DFM's PCA move by up to half an fp16 ulp, so the IR is held to a looser bound than fp32.
IR_RTOL = {"fp32": PARITY_RTOL, "fp16": 1e-2}
SYNTHETIC_FRAMES = 4


def write_openvino(source: Path, output: Path, precision: str, part: str) -> Written:
    """Write the IR of a run directory (exported to ONNX on the way) or of an exported ``.onnx``."""
    checks = []
    with tempfile.TemporaryDirectory(prefix="edgead-ir-") as tmp:
        if source.is_dir():
            from edgead.train.run_dir import load_parity_frames  # torch: a run directory is exported first

            from .onnx_export import export_onnx

            onnx_path = Path(tmp) / "model.onnx"
            report = export_onnx(source, onnx_path, part=part)
            checks.append(f"ONNX graph checked against torch on {report.frames} real frames: {report.summary()}")
            frames, kind = load_parity_frames(source), "real"
        else:
            if part != "full":
                raise EdgeadError(f"--part applies to a run directory; '{source}' is an exported graph already")
            onnx_path = source
            frames, kind = None, "synthetic"
        text = onnx_metadata(onnx_path)
        if frames is None:
            height, width = ModelMetadata.from_json(text, source=str(onnx_path)).size
            frames = np.stack([synthetic_frame(height, width, seed) for seed in range(SYNTHETIC_FRAMES)])
        with staging_folder(output) as stage:  # beside the output: the renames below never cross file systems
            staged = stage / output.name
            convert(onnx_path, staged, text, precision)
            report = verify_ir(onnx_path, staged, frames, kind, precision)  # a crash here leaves no IR in place
            replace_files([(staged.with_suffix(".bin"), output.with_suffix(".bin")), (staged, output)])
        checks.append(f"IR checked against the ONNX graph (onnxruntime) on {report.frames} {kind} frames: "
                      f"{report.summary()}")  # fmt: skip
    return Written([output, output.with_suffix(".bin")], checks)


def convert(onnx_path: Path, output: Path, metadata_json: str, precision: str) -> None:
    """Convert with OpenVINO's ONNX reader and save ``output`` (``.xml``) and its ``.bin``."""
    ov = import_openvino()
    model = ov.convert_model(str(onnx_path))
    model.set_rt_info(metadata_json, [METADATA_KEY])
    # save_model compresses weights to fp16 unless told not to: fp32 must be asked for explicitly
    ov.save_model(model, str(output), compress_to_fp16=precision == "fp16")


def verify_ir(onnx_path: Path, ir_path: Path, frames: np.ndarray, kind: str, precision: str) -> ParityReport:
    """Run the IR on OpenVINO (f32 compute) against the ONNX graph on ONNX Runtime; metadata must match too."""
    with open_backend(onnx_path, "onnxruntime") as ort_backend, open_backend(ir_path, "openvino") as ov_backend:
        if ov_backend.metadata != ort_backend.metadata:
            raise EdgeadError(f"'{ir_path}' carries other metadata than '{onnx_path}'; please report this")
        expected = ort_backend.run(frames)
        runs = run_batched_and_single(ov_backend.run, frames)
    return check_parity(expected, runs, ir_path, "the ONNX graph", kind, IR_RTOL[precision])
