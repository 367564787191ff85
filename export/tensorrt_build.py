"""ONNX graph -> TensorRT engine (+ ``.json`` sidecar) through the TensorRT Python API, 8.5 to 11.x.

Two steps, so that everything which can be decided without TensorRT is plain, tested Python:
``tensorrt_plan.plan_build`` decides the whole build (graph variant, flags, profile, DLA, messages);
``build`` here is the thin part that calls TensorRT with exactly that plan.

What differs between the releases users run (docs/tensorrt.md has the table):

- 8.5/8.6 (JetPack 5 / 6.0): ``EXPLICIT_BATCH`` must be set; precision comes from builder flags;
  the fp16 graph is honoured by pinning its fp32 layers (``OBEY_PRECISION_CONSTRAINTS``), a Q/DQ
  graph needs the INT8 flag.
- 10.x (JetPack 6.1+, x86): ``EXPLICIT_BATCH`` is implied (flag deprecated, not set); the graph path
  builds a ``STRONGLY_TYPED`` network; builder flags + entropy calibrator remain the alternative.
- 11.x (x86): always strongly typed; FP16/INT8 flags, calibrators and per-layer precision are gone,
  so fp16 is the fp16-typed ONNX graph and int8 the Q/DQ graph, nothing else.

Nothing here imports torch: ``edgead export model.onnx --format trt`` runs on a Jetson that has
TensorRT and no torch. The fp16/int8 graph variants come from ``edgead.export.precision``, the int8 calibration
images from ``edgead.export.calibration`` (the same as ``edgead export --format onnx --precision int8``).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgead_runtime.datasets import CALIBRATION_IMAGES
from edgead_runtime.engine_file import EngineInfo, rebuild_command, sidecar_path, write_engine
from edgead_runtime.errors import EdgeadError
from edgead_runtime.files import write_bytes

from .calibration import calibration_set, is_run_dir
from .formats import DOCTOR_TRT_VERSIONS, Written, doctor_graphs
from .parity import max_differences
from .tensorrt_plan import (
    BuildOptions,
    BuildPlan,
    ParserError,
    TrtBuildError,
    dla_decision,
    format_parser_errors,
    fp32_nodes,
    fp32_pins,
    plan_build,
    read_onnx,
    version_rules,
)

CALIBRATION_BATCH = 8
PARITY_FRAMES = 4


# ---------------------------------------------------------------- the TensorRT part


def _member(trt: Any, enum: str, name: str) -> Any:
    """``trt.<enum>.<name>``, or a TrtBuildError naming the TensorRT release that lacks it."""
    member = getattr(getattr(trt, enum), name, None)
    if member is None:
        raise TrtBuildError(
            f"TensorRT {trt.__version__} has no {enum}.{name}, which this build plan needs; "
            "report it with the plan lines printed above"
        )
    return member


def _flag_bits(trt: Any, enum: str, names: Sequence[str]) -> int:
    bits = 0
    for name in names:
        bits |= 1 << int(_member(trt, enum, name))
    return bits


def _entropy_calibrator(trt: Any, cudart: Any, frames: np.ndarray, batch: int) -> Any:
    """IInt8EntropyCalibrator2 fed with ``frames`` (already through prepare_frame), ``batch`` at a time."""
    from tqdm import tqdm

    from edgead_runtime.backends.tensorrt import cuda_check

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.index = 0
            self.nbytes = batch * frames[0].nbytes
            self.device = int(cuda_check(cudart, cudart.cudaMalloc(self.nbytes), "cudaMalloc"))
            self.bar = tqdm(total=len(frames) // batch * batch, desc="int8 calibration", unit="img")

        def get_batch_size(self) -> int:
            return batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            if self.index + batch > len(frames):
                self.bar.close()
                return None
            chunk = np.ascontiguousarray(frames[self.index : self.index + batch])
            kind = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
            cuda_check(cudart, cudart.cudaMemcpy(self.device, chunk.ctypes.data, chunk.nbytes, kind), "cudaMemcpy")
            self.index += batch
            self.bar.update(batch)
            return [self.device]

        def read_calibration_cache(self) -> None:
            return None  # always calibrate: a cache from another graph would give wrong scales silently

        def write_calibration_cache(self, cache: Any) -> None:
            return None

        def free(self) -> None:
            cudart.cudaFree(self.device)

    return EntropyCalibrator()


def _progress_monitor(trt: Any) -> Any | None:
    """A tqdm bar per top-level build phase (TensorRT 10+ has IProgressMonitor; 8.x has none)."""
    if not hasattr(trt, "IProgressMonitor"):
        return None
    from tqdm import tqdm

    class Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.bars: dict[str, Any] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            if parent_phase is None:
                self.bars[phase_name] = tqdm(total=num_steps, desc=phase_name, unit="step", leave=False)

        def step_complete(self, phase_name: str, step: int) -> bool:
            bar = self.bars.get(phase_name)
            if bar is not None:
                bar.update(1)
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            bar = self.bars.pop(phase_name, None)
            if bar is not None:
                bar.close()

    return Monitor()


@dataclass
class Built:
    engine: bytes
    device: str
    compute_capability: str
    dla_core: int | None
    messages: list[str]


def build(trt: Any, plan: BuildPlan, onnx_path: Path, node_names: Sequence[str], frames: np.ndarray | None) -> Built:
    """Parse ``onnx_path`` and build the engine exactly as ``plan`` says."""
    from edgead_runtime.backends.tensorrt import capturing_logger, cuda_device, import_cudart

    cudart = import_cudart()
    device, capability = cuda_device(cudart, 0)
    messages: list[str] = []
    logger = capturing_logger(trt, echo_level="WARNING")
    builder = trt.Builder(logger)
    network = builder.create_network(_flag_bits(trt, "NetworkDefinitionCreationFlag", plan.network_flags))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = []
        for i in range(parser.num_errors):
            e = parser.get_error(i)
            name = e.node_name() if hasattr(e, "node_name") else ""
            op = e.node_operator() if hasattr(e, "node_operator") else ""
            errors.append(ParserError(e.desc(), int(e.node()), name or "", op or ""))
        raise TrtBuildError(format_parser_errors(onnx_path, errors, node_names))

    config = builder.create_builder_config()
    for name in plan.builder_flags:
        config.set_flag(_member(trt, "BuilderFlag", name))
    for name in plan.cleared_flags:
        if hasattr(trt.BuilderFlag, name):  # clearing a flag a release no longer has is nothing to do
            config.clear_flag(getattr(trt.BuilderFlag, name))
    if plan.workspace_bytes:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, plan.workspace_bytes)
    input_name = network.get_input(0).name
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, *plan.shapes)
    config.add_optimization_profile(profile)

    if plan.pin_fp32_layers:
        names = [network.get_layer(i).name for i in range(network.num_layers)]
        pins = set(fp32_pins(names, set(node_names), fp32_nodes(onnx_path)))
        for i in range(network.num_layers):
            layer = network.get_layer(i)
            if layer.name in pins:
                layer.precision = trt.float32
                for j in range(layer.num_outputs):
                    layer.set_output_type(j, trt.float32)
        messages.append(f"pinned {len(pins)} of {network.num_layers} layers to fp32 (the graph's fp32 parts)")

    calibrator = None
    if plan.calibrator:
        if frames is None:
            raise TrtBuildError("int8 calibration needs good images: --calibration-data DIR")
        calibrator = _entropy_calibrator(trt, cudart, frames, min(CALIBRATION_BATCH, len(frames)))
        calib_profile = builder.create_optimization_profile()
        n = calibrator.get_batch_size()
        shape = (n, *plan.shapes[0][1:])
        calib_profile.set_shape(input_name, shape, shape, shape)
        config.set_calibration_profile(calib_profile)
        config.int8_calibrator = calibrator

    dla_core, note = dla_decision(plan.dla_core, builder.num_DLA_cores)
    if note:
        messages.append(note)
        print(f"warning: {note}", file=sys.stderr)
    if dla_core is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = dla_core

    if plan.timing_cache is not None:
        messages += _attach_timing_cache(config, plan.timing_cache)

    monitor = _progress_monitor(trt)
    if monitor is not None:
        config.progress_monitor = monitor
    else:
        print(f"building the engine with TensorRT {trt.__version__} on {device} (minutes on a Jetson) ...")
    try:
        serialized = builder.build_serialized_network(network, config)
    finally:
        if calibrator is not None:
            calibrator.free()
    if serialized is None:
        logged = "\n  ".join(logger.lines("ERROR")) or "nothing logged"
        raise TrtBuildError(f"TensorRT {trt.__version__} could not build an engine from '{onnx_path}':\n  {logged}")
    if plan.timing_cache is not None:
        write_bytes(plan.timing_cache, memoryview(config.get_timing_cache().serialize()))
        messages.append(f"wrote timing cache '{plan.timing_cache}'")
    return Built(bytes(memoryview(serialized)), device, capability, dla_core, messages)


def _attach_timing_cache(config: Any, path: Path) -> list[str]:
    """Load ``path`` into the builder config; a cache TensorRT cannot use is replaced by a new one, never fatal.

    ``create_timing_cache`` returns None for bytes it cannot deserialize (a truncated file, another release's
    format); ``set_timing_cache(cache, ignore_mismatch=False)`` returns False for another TensorRT/GPU's cache.
    Polygraphy's ``CreateConfig`` (tools/Polygraphy/polygraphy/backend/trt/config.py) falls back to
    ``create_timing_cache(b"")`` in the same cases.
    """
    data = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(data)
    if cache is not None and config.set_timing_cache(cache, False):
        return [f"reused timing cache '{path}' ({len(data):,} bytes)"] if data else []
    why = "unreadable (truncated, or another TensorRT's format)" if cache is None else "from another TensorRT/GPU"
    config.set_timing_cache(config.create_timing_cache(b""), False)
    return [f"timing cache '{path}' is {why}: started a new one"]


# ---------------------------------------------------------------- the format table's writer


def import_tensorrt_for_build() -> Any:
    """tensorrt, or the install hint; checked first, before any graph work."""
    from edgead_runtime.backends.tensorrt import import_tensorrt

    try:
        return import_tensorrt()
    except EdgeadError as exc:
        raise TrtBuildError(f"{exc}. Build the engine on the machine that will run it (e.g. the Jetson)") from exc


def _variant(source: Path, precision: str, frames: np.ndarray | None) -> Path:
    """The fp16-typed or int8 Q/DQ graph next to ``source`` (``model.fp16.onnx``, ``model.int8.onnx``)."""
    from . import precision as variants

    out = source.with_name(f"{source.stem}.{precision}.onnx")
    if precision == "fp16":
        return Path(variants.to_fp16(source, out))
    return Path(variants.quantize_int8(source, out, frames))


def _source_onnx(source: Path, part: str) -> tuple[Path, list[Path]]:
    """(graph, files written): an exported .onnx as it is; a run directory is exported to RUN/<model>.onnx first."""
    if source.is_file() and source.suffix.lower() == ".onnx":
        return source, []
    from edgead.train.run_dir import load_config  # torch: a run directory is exported here

    from .onnx_format import write_onnx

    config = load_config(source)
    suffix = ".onnx" if part == "full" else f".{part}.onnx"
    onnx_path = source / f"{config.model}{suffix}"
    written = write_onnx(source, onnx_path, "fp32", part)
    for line in written.checks:
        print(line)
    return onnx_path, written.files


def _calibration(options: BuildOptions, source: Path, size: tuple[int, int]) -> tuple[BuildOptions, np.ndarray]:
    """Good images for int8, and the options with where they came from (so the rebuild command has it).

    --calibration-data, else a run directory's own: the images it was fitted on, as for the int8 ``.onnx``.
    """
    count = CALIBRATION_IMAGES if options.calibration_images is None else options.calibration_images
    if options.calibration_data is not None:
        return options, calibration_set(Path(options.calibration_data), size, count)[0]
    if is_run_dir(source):
        return dataclasses.replace(options, calibration_data=source), calibration_set(source, size, count)[0]
    raise TrtBuildError(
        f"int8 from the fp32 graph '{source}' needs good images for its scales: pass --calibration-data DIR "
        "(a folder of good images, an MVTec category, or the run directory). An int8 .onnx written by "
        "`edgead export --precision int8` already carries its scales and needs none"
    )


def _doctor_before_build(parsed: Path, written: Sequence[Path], tensorrt_version: str) -> None:
    """`edgead doctor` on the graph TensorRT will parse (for this TensorRT line) and on every .onnx written."""
    from .doctor import TRT_VERSIONS

    line = version_rules(tensorrt_version).line
    graphs = {p: DOCTOR_TRT_VERSIONS for p in written if p.suffix == ".onnx" and p.is_file()}
    installed = (line,) if line in TRT_VERSIONS else DOCTOR_TRT_VERSIONS
    graphs[parsed] = tuple(dict.fromkeys([*installed, *graphs.get(parsed, ())]))
    rejected = doctor_graphs(graphs)
    if rejected:
        raise TrtBuildError(
            f"no engine built: edgead doctor found errors that TensorRT {tensorrt_version} or the lines export "
            "checks would reject:\n" + "\n".join(rejected) + "\nfull report: edgead doctor MODEL.onnx "
            "--trt-version VERSION; --skip-doctor builds anyway"
        )


def write_engine_file(
    source: Path,
    output: Path,
    precision: str,
    part: str = "full",
    precision_mode: str = "graph",
    min_batch: int | None = None,
    opt_batch: int | None = None,
    max_batch: int | None = None,
    workspace_gb: float | None = None,
    timing_cache: Path | None = None,
    dla_core: int | None = None,
    calibration_data: Path | None = None,
    calibration_images: int | None = None,
    doctor: bool = True,
) -> Written:
    """The format table's writer for ``trt``: ONNX (or a run directory) -> engine + sidecar.

    Order: plan, variant (if one is needed), doctor on what TensorRT will parse, build, then the engine is
    written under a temporary name, loaded back and run against ONNX Runtime, and only then moved into place.
    """
    options = BuildOptions(
        precision,
        precision_mode,
        min_batch,
        opt_batch,
        max_batch,
        workspace_gb,
        timing_cache,
        dla_core,
        calibration_data,
        calibration_images,
    )
    trt = import_tensorrt_for_build()
    source, output = Path(source), Path(output)
    onnx_path, written = _source_onnx(source, part)
    metadata, graph_kind, node_names = read_onnx(onnx_path)
    size = (int(metadata["input"]["height"]), int(metadata["input"]["width"]))
    plan = plan_build(options, trt.__version__, size, graph_kind, f"'{onnx_path}'")
    for line in plan.messages:
        print(f"plan: {line}")
    frames = None
    if plan.needs_images:
        options, frames = _calibration(options, source, size)
    files: list[Path] = list(written)
    graph = onnx_path
    if plan.makes_variant:
        graph = _variant(onnx_path, plan.onnx_variant, frames)
        files.append(graph)
        metadata, _, node_names = read_onnx(graph)
    if doctor:
        _doctor_before_build(graph, files, trt.__version__)
    start = time.perf_counter()
    built = build(trt, plan, graph, node_names, frames)
    info = EngineInfo(
        tensorrt_version=trt.__version__,
        device=built.device,
        compute_capability=built.compute_capability,
        precision=plan.precision,
        precision_mode=plan.precision_mode,
        batch=plan.batch,
        source_onnx=os.path.relpath(onnx_path.resolve(), output.resolve().parent),
        build_args=options.build_args(),
        dla_core=built.dla_core,
    )
    checks = [
        *built.messages,
        f"built with TensorRT {trt.__version__} on {built.device} (compute "
        f"{built.compute_capability}) in {time.perf_counter() - start:.0f} s, batch {plan.batch[0]}..{plan.batch[2]}",
    ]
    checks.append(_write_checked(output, built.engine, metadata, info, graph, frames, size))
    checks.append(f"rebuild (same TensorRT + GPU only): {rebuild_command(output, info)}")
    return Written([*files, output, sidecar_path(output)], checks)


def _write_checked(
    output: Path,
    engine: bytes,
    metadata: dict[str, Any],
    info: EngineInfo,
    graph: Path,
    frames: np.ndarray | None,
    size: tuple[int, int],
) -> str:
    """Write engine + sidecar under a temporary name, check them, then move both into place.

    A build whose engine does not load back or run leaves nothing at ``output`` (an older engine there stays).
    """
    partial = output.with_name(f".{output.name}.partial")
    try:
        write_engine(partial, engine, metadata, info)
        line = parity_line(partial, graph, frames, size)
    except BaseException as exc:
        for path in (partial, sidecar_path(partial)):
            path.unlink(missing_ok=True)
        if isinstance(exc, EdgeadError):
            raise TrtBuildError(
                f"the engine was built but failed its check against ONNX Runtime, so nothing was written to "
                f"'{output}': {exc}"
            ) from exc
        raise
    os.replace(partial, output)
    os.replace(sidecar_path(partial), sidecar_path(output))
    return line


def parity_line(engine: Path, onnx_path: Path, frames: np.ndarray | None, size: tuple[int, int]) -> str:
    """Engine vs ONNX Runtime (CPU) on the same frames: max |diff| of each output, reported, not judged.

    fp16 and int8 engines differ from fp32 by design; the numbers let a user see by how much. The batch is
    PARITY_FRAMES frames, raised to the engine's minimum batch (frames repeat) and capped at its maximum.
    """
    from edgead_runtime.backends import open_backend

    with open_backend(engine, "tensorrt") as trt_backend, open_backend(onnx_path, "onnxruntime") as ort_backend:
        n = min(max(PARITY_FRAMES, trt_backend.min_batch), trt_backend.max_batch)
        if frames is None:
            frames = np.random.default_rng(0).integers(0, 256, (n, *size, 3), dtype=np.uint8)
            what = "random frames"
        else:
            what = "calibration images" + (f" (repeated to the minimum batch {n})" if len(frames) < n else "")
        batch = np.ascontiguousarray(np.resize(frames, (n, *frames.shape[1:])))
        got, ref = trt_backend.run(batch), ort_backend.run(batch)
    diffs = ", ".join(f"{k} {v:.2e}" for k, v in max_differences(ref, got)[0].items())
    return f"engine vs onnxruntime (CPU, {onnx_path.name}) on {len(batch)} {what}: max |diff| {diffs}"
