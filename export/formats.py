"""The one table of export formats: suffix, precisions, and the function that writes each.

An option a format lacks is an error, never silently changed. OpenVINO IR (and TensorRT engines)
are built from the ONNX graph; a format with ``from_onnx`` also takes an exported ``.onnx`` as its source.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from pathlib import Path

from edgead_runtime.errors import EdgeadError
from edgead_runtime.names import engine
from edgead_runtime.names import precision as canonical_precision


@dataclass(frozen=True)
class Format:
    suffix: str
    precisions: tuple[str, ...]
    writer: str  # "module:function", called as writer(source, output, precision, part) -> Written
    from_onnx: bool = False  # also converts an already exported .onnx file (no torch check then)
    options: tuple[str, ...] = ()  # format-specific keyword options the writer takes (CLI flags)
    # the writer runs `edgead doctor` itself (``doctor=`` keyword), on the graph it hands to the engine builder
    # before the builder parses it and on every .onnx it writes; export does not run it again afterwards
    doctors_itself: bool = False
    from_engine: bool = False  # also takes a TensorRT .engine with its sidecar (Triton's tensorrt_plan)


@dataclass(frozen=True)
class Written:
    """What a writer made: the files (for the size line) and one line per check it passed."""

    files: list[Path]
    checks: list[str]
    next: str | None = None  # the command to try next, where it is not `edgead-runtime predict OUTPUT`


FORMATS: dict[str, Format] = {
    # from an exported fp32 .onnx: its fp16/int8 variant (torch-free), written beside it as <name>.<precision>.onnx
    "onnx": Format(
        ".onnx",
        ("fp32", "fp16", "int8"),
        "edgead.export.onnx_format:write_onnx",
        from_onnx=True,
        options=("calibration_images", "calibration_data"),
    ),
    "openvino": Format(".xml", ("fp32", "fp16"), "edgead.export.openvino_export:write_openvino", from_onnx=True),
    # built on the machine that runs it (a Jetson): from an exported .onnx with no torch, or from a run directory;
    # `--format trt` is an alias (edgead_runtime.names)
    "tensorrt": Format(
        ".engine",
        ("fp32", "fp16", "int8"),
        "edgead.export.tensorrt_build:write_engine_file",
        from_onnx=True,
        options=(
            "precision_mode",
            "min_batch",
            "opt_batch",
            "max_batch",
            "workspace_gb",
            "timing_cache",
            "dla_core",
            "calibration_data",
            "calibration_images",
        ),
        doctors_itself=True,
    ),
    # a Triton model repository folder (docs/scale-out.md): from a run, an .onnx (onnxruntime_onnx) or an engine
    "triton": Format(
        ".triton",
        ("fp32", "fp16", "int8"),
        "edgead.export.triton_repo:write_triton_repo",
        from_onnx=True,
        options=("name", "max_batch", "instances", "kind", "queue_delay_us"),
        from_engine=True,
    ),
}


def export(
    run_dir: Path,
    fmt: str,
    precision: str = "fp32",
    output: Path | None = None,
    part: str = "full",
    doctor: bool = True,
    **options: object,
) -> Path:
    """Write ``run_dir`` in format ``fmt``; print path, size, time, parity and the next command. ``edgead export``
    and ``edgead.export(...)`` call this; the defaults here are the CLI's.

    ``doctor``: run ``edgead doctor`` (TensorRT 8.5, 10 and 11) on every ONNX graph written; an error fails the export.
    For ``trt`` the writer runs it before TensorRT parses the graph (the installed TensorRT line for that graph).

    ``options`` are format-specific (None = not given); one the format does not take is an error.
    """
    given = fmt
    fmt = engine(fmt, FORMATS, "format")  # the shared vocabulary: trt -> tensorrt, f16 -> fp16
    spec = FORMATS[fmt]
    try:
        precision = canonical_precision(precision, spec.precisions)
    except EdgeadError:
        raise EdgeadError(
            f"format '{given}' supports precision {', '.join(spec.precisions)}, not '{precision}'"
        ) from None
    options = {k: v for k, v in options.items() if v is not None}
    foreign = sorted(set(options) - set(spec.options))
    if foreign:
        flags = ", ".join("--" + k.replace("_", "-") for k in foreign)
        raise EdgeadError(f"{flags} do(es) not apply to --format {fmt}")

    run_dir = Path(run_dir)
    source_suffix = run_dir.suffix.lower()
    if run_dir.is_file() and (
        (source_suffix == ".onnx" and spec.from_onnx) or (source_suffix in (".engine", ".plan") and spec.from_engine)
    ):
        default = run_dir.with_suffix(spec.suffix)
        if default == run_dir:  # an .onnx variant of an .onnx goes beside it
            default = run_dir.with_name(f"{run_dir.stem}.{precision}{spec.suffix}")
        output = Path(output) if output else default
        if output.resolve() == run_dir.resolve():
            raise EdgeadError(f"-o '{output}' is the source graph itself; write the {precision} graph to another file")
    else:
        from edgead.train.run_dir import load_config  # torch: only for a run directory

        config = load_config(run_dir)
        suffix = spec.suffix if part == "full" else f".{part}{spec.suffix}"
        output = Path(output) if output else run_dir / f"{config.model}{suffix}"
    start = time.perf_counter()
    module_name, function = spec.writer.split(":")
    writer = getattr(importlib.import_module(module_name), function)
    if spec.doctors_itself:
        options["doctor"] = doctor
    written: Written = writer(run_dir, output, precision, part, **options)
    size_mb = sum(p.stat().st_size for p in written.files if p.is_file()) / 1e6
    print(
        f"exported {output} ({size_mb:.1f} MB, {fmt} {precision}, {part} graph) in {time.perf_counter() - start:.1f} s"
    )
    for line in written.checks:
        print(line)
    if doctor and not spec.doctors_itself:
        run_doctor(written.files)
    if written.next:
        print(f"next: {written.next}")
    elif part == "full":
        print(f"next: edgead-runtime predict {output} --source IMAGE_OR_DIR   |   edgead-runtime bench {output}")
    return output


DOCTOR_TRT_VERSIONS = ("8.5", "10", "11")  # every exported graph must build in these; `edgead doctor` checks others


def doctor_graphs(graphs: dict[Path, tuple[str, ...]]) -> list[str]:
    """``edgead doctor --target trt`` on each graph for each of its TensorRT lines; print each summary line.

    Returns one text per graph that has errors (its path, and each error per TensorRT line); empty when all are ready.
    """
    from .doctor import diagnose

    rejected = []
    for path, versions in graphs.items():
        errors = []
        for version in versions:
            report = diagnose(path, "trt", version)
            print(report.summary())
            if not report.ok:
                lines = "\n".join(f.line() for f in report.findings if f.severity == "error")
                errors.append(f"TensorRT {report.label}:\n{lines}")
        if errors:
            rejected.append(f"'{path}':\n" + "\n".join(errors))
    return rejected


def run_doctor(files: list[Path]) -> None:
    """``edgead doctor`` (TensorRT 8.5, 10, 11) on each ONNX graph in ``files``; raise on an error finding."""
    graphs = {p: DOCTOR_TRT_VERSIONS for p in files if p.suffix == ".onnx" and p.is_file()}
    rejected = doctor_graphs(graphs)
    if rejected:
        raise EdgeadError(
            "written, but TensorRT would reject it:\n" + "\n".join(rejected) + "\n"
            "full report: edgead doctor MODEL.onnx --trt-version VERSION; --skip-doctor exports anyway"
        )
