"""The one table of export formats: suffix, precisions, and the function that writes each.

An option a format lacks is an error, never silently changed. OpenVINO IR and TensorRT engines
are built from the ONNX graph and join this table in their own issues.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from edgead_runtime.errors import EdgeadError


@dataclass(frozen=True)
class Format:
    suffix: str
    precisions: tuple[str, ...]


FORMATS: dict[str, Format] = {
    "onnx": Format(".onnx", ("fp32",)),
}


def export(run_dir: Path, fmt: str, precision: str, output: Path | None, part: str = "full") -> Path:
    """Write ``run_dir`` in format ``fmt``; print path, size, time, parity and the next command."""
    spec = FORMATS.get(fmt)
    if spec is None:
        raise EdgeadError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")
    if precision not in spec.precisions:
        raise EdgeadError(f"format '{fmt}' supports precision {', '.join(spec.precisions)}, not '{precision}'")
    from edgead.train.run import load_config

    config = load_config(run_dir)
    suffix = spec.suffix if part == "full" else f".{part}{spec.suffix}"
    output = Path(output) if output else Path(run_dir) / f"{config.model}{suffix}"
    start = time.perf_counter()
    from .onnx_export import export_onnx

    report = export_onnx(Path(run_dir), output, part=part)
    size_mb = sum(p.stat().st_size for p in output.parent.glob(output.name + "*")) / 1e6
    print(
        f"exported {output} ({size_mb:.1f} MB, {fmt} {precision}, {part} graph) in {time.perf_counter() - start:.1f} s"
    )
    print(f"checked against torch on {report.frames} real frames: max |diff| {report.summary()}")
    if part == "full":
        print(f"next: edgead-runtime predict {output} --source IMAGE_OR_DIR   |   edgead-runtime bench {output}")
    return output
