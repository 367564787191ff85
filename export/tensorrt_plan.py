"""What a TensorRT engine build will do, decided in plain Python before TensorRT is touched.

``plan_build(options, tensorrt_version, input_size)`` -> ``BuildPlan``: which ONNX graph to parse
(fp32, the fp16-typed variant or the int8 Q/DQ variant), which network-creation and builder flags,
per-layer fp32 pins, calibrator or not, profile shapes, workspace, DLA, and why (``messages``).
``tensorrt_build.build`` then calls TensorRT with exactly that plan. Keeping the decisions here is
what lets them be tested for 8.5, 8.6, 10.x and 11.x on machines without TensorRT or a GPU.
The version differences are listed in ``tensorrt_build`` and in docs/tensorrt.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgead_runtime.engine_file import parse_version
from edgead_runtime.errors import EdgeadError

PRECISIONS = ("fp32", "fp16", "int8")
PRECISION_MODES = ("graph", "builder")
DEFAULT_BATCH = (1, 1, 8)  # min, opt, max: opt 1 for camera streams, up to 8 for bench/evaluate


class TrtBuildError(EdgeadError):
    """An engine cannot be built as asked: a flag combination, the graph, or TensorRT itself."""


@dataclass(frozen=True)
class BuildOptions:
    """The user's request, straight from the `edgead export --format trt` flags."""

    precision: str = "fp32"
    precision_mode: str = "graph"
    min_batch: int | None = None
    opt_batch: int | None = None
    max_batch: int | None = None
    workspace_gb: float | None = None
    timing_cache: Path | None = None
    dla_core: int | None = None
    calibration_data: Path | None = None  # good images, or a run directory (the images it was fitted on)
    calibration_images: int | None = None  # how many of them (None: edgead_runtime.datasets.CALIBRATION_IMAGES)

    def build_args(self) -> list[str]:
        """The flags that repeat this build (recorded in the sidecar for the rebuild command)."""
        args = ["--precision", self.precision]
        if self.precision_mode != "graph":
            args += ["--precision-mode", self.precision_mode]
        for flag, value in (
            ("--min-batch", self.min_batch),
            ("--opt-batch", self.opt_batch),
            ("--max-batch", self.max_batch),
            ("--workspace-gb", self.workspace_gb),
            ("--timing-cache", self.timing_cache),
            ("--dla-core", self.dla_core),
            ("--calibration-data", self.calibration_data),
            ("--calibration-images", self.calibration_images),
        ):
            if value is not None:
                args += [flag, str(value)]
        return args


@dataclass(frozen=True)
class VersionRules:
    """What one TensorRT release line offers the builder."""

    line: str  # "8.5", "8.6", "10", "11"
    explicit_batch_flag: bool  # must be set (8.x); implied in 10, removed in 11
    strongly_typed_flag: bool  # NetworkDefinitionCreationFlag.STRONGLY_TYPED exists and is needed (10.x)
    always_strongly_typed: bool  # 11.x: no weak typing at all
    builder_precision: bool  # BuilderFlag.FP16/INT8/OBEY_PRECISION_CONSTRAINTS, int8 calibrators
    io_api: str  # runtime: "binding" (8.x) or "tensor" (10+)


def version_rules(tensorrt_version: str) -> VersionRules:
    """The rules for ``tensorrt_version``; an unsupported release is an error naming the supported ones."""
    try:
        version = parse_version(tensorrt_version)
    except ValueError as exc:
        raise TrtBuildError(f"cannot read TensorRT version '{tensorrt_version}'") from exc
    major, minor = version[0], (version[1] if len(version) > 1 else 0)
    if major == 8 and minor >= 5:
        return VersionRules(f"8.{minor}", True, False, False, True, "binding")
    if major == 10:
        return VersionRules("10", False, True, False, True, "tensor")
    if major >= 11:
        return VersionRules(str(major), False, False, True, False, "tensor")
    raise TrtBuildError(
        f"TensorRT {tensorrt_version} is not supported; edgead builds with 8.5.2 (JetPack 5), 8.6 (JetPack 6.0), "
        "10.x (JetPack 6.1+/x86) or 11.x (x86)"
    )


@dataclass(frozen=True)
class BuildPlan:
    """Everything the TensorRT calls will do, decided up front (and printed)."""

    tensorrt_version: str
    rules: VersionRules
    precision: str
    precision_mode: str
    source_precision: str  # the precision the given graph already has (its edgead metadata)
    onnx_variant: str  # the graph to parse: "fp32", "fp16" (fp16-typed) or "int8" (Q/DQ)
    network_flags: tuple[str, ...]  # NetworkDefinitionCreationFlag names
    builder_flags: tuple[str, ...]  # BuilderFlag names to set
    cleared_flags: tuple[str, ...]  # BuilderFlag names to clear
    pin_fp32_layers: bool  # weak typing (8.x, DLA on 10.x) made to obey the fp16 graph's fp32 layers
    calibrator: bool  # IInt8EntropyCalibrator2 over good images
    needs_images: bool  # good images: to make the int8 Q/DQ variant, or for the calibrator
    batch: tuple[int, int, int]
    shapes: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # min/opt/max input shapes
    workspace_bytes: int | None
    timing_cache: Path | None
    dla_core: int | None
    messages: tuple[str, ...] = field(default_factory=tuple)

    @property
    def makes_variant(self) -> bool:
        """Whether the graph to parse is written first (fp16 / int8 variant of an fp32 graph)."""
        return self.onnx_variant != self.source_precision


def resolve_batch(options: BuildOptions) -> tuple[tuple[int, int, int], list[str]]:
    """(min, opt, max) from the flags; DLA needs a static batch, so its default is 1/1/1."""
    given = (options.min_batch, options.opt_batch, options.max_batch)
    messages = []
    if options.dla_core is not None:
        values = {v for v in given if v is not None}
        if len(values) > 1:
            raise TrtBuildError(
                f"DLA needs a static batch (min = opt = max), got --min-batch {given[0]} --opt-batch {given[1]} "
                f"--max-batch {given[2]}; pass one value, e.g. --min-batch 1 --opt-batch 1 --max-batch 1"
            )
        n = values.pop() if values else 1
        batch = (n, n, n)
        messages.append(f"DLA: static batch {n} (DLA has no dynamic dimensions)")
    else:
        lo = given[0] if given[0] is not None else DEFAULT_BATCH[0]
        opt = given[1] if given[1] is not None else max(lo, DEFAULT_BATCH[1])
        hi = given[2] if given[2] is not None else max(DEFAULT_BATCH[2], opt)
        batch = (lo, opt, hi)
    if not 1 <= batch[0] <= batch[1] <= batch[2]:
        raise TrtBuildError(
            f"batch profile must satisfy 1 <= min <= opt <= max, got min {batch[0]}, opt {batch[1]}, max {batch[2]} "
            "(--min-batch/--opt-batch/--max-batch)"
        )
    return batch, messages


DLA_FIRST_11 = (11, 4, 1)  # NVIDIA: no DLA in 11.0-11.3, none for JetPack in 11.4.0; 11.4.1 on JetPack 7.2.2+
DLA_LAST_10 = (10, 7)  # NVIDIA's 11.3 docs: "TensorRT 10.7 was the last release that supported DLA"


def dla_rules(dla: int, precision: str, mode: str, rules: VersionRules, tensorrt_version: str) -> list[str]:
    """Refuse what TensorRT's DLA does not take; the messages for what it does (docs/tensorrt.md, "DLA")."""
    if dla < 0:
        raise TrtBuildError(f"--dla-core must be >= 0, got {dla}")
    if precision == "fp32":
        raise TrtBuildError("DLA runs fp16 and int8 only; pass --precision fp16 or int8 with --dla-core")
    version = parse_version(tensorrt_version)
    if rules.always_strongly_typed:
        if version[:3] < DLA_FIRST_11:
            raise TrtBuildError(
                f"TensorRT {tensorrt_version} has no DLA support (NVIDIA lists none in 11.0 to 11.3 and none for "
                "JetPack in 11.4.0; 11.4.1 supports Jetson AGX Orin on JetPack 7.2.2+): drop --dla-core to build "
                "for the GPU, or build with TensorRT 10.x (JetPack 6.1/6.2)"
            )
        note = f"DLA on TensorRT {rules.line}: strongly typed, precision from the {precision} graph"
        return [f"{note} (NVIDIA's documented way; not run by edgead on a DLA)"]
    if precision == "int8" and mode == "graph":
        raise TrtBuildError(
            f"TensorRT {rules.line} DLA does not run explicitly quantized (Q/DQ) graphs; for int8 on DLA use "
            "--precision-mode builder (INT8 flag + entropy calibrator over good images, which DLA takes), or "
            "--precision fp16"
        )
    messages = []
    if rules.strongly_typed_flag and mode == "graph":
        messages.append(
            "DLA on TensorRT 10: weakly typed network (NVIDIA documents DLA with FP16/INT8 builder flags before "
            "11.x, not with STRONGLY_TYPED): fp16 graph + FP16 flag, its fp32 layers pinned (they run on the GPU)"
        )
    if rules.line == "10" and version[:2] > DLA_LAST_10:
        messages.append(
            f"NVIDIA names 10.7 as the last release with DLA; if TensorRT {tensorrt_version} reports no DLA core "
            "the build says so and targets the GPU"
        )
    return messages


def plan_build(
    options: BuildOptions,
    tensorrt_version: str,
    input_size: tuple[int, int],
    source_precision: str = "fp32",
    source: str = "the graph",
) -> BuildPlan:
    """Decide the whole build for ``options`` on ``tensorrt_version`` for a graph of ``input_size`` (h, w).

    ``source_precision`` is what the given graph already is (its metadata): an fp16 or int8 graph is
    built as it is, with the matching ``--precision``; ``source`` names it in errors.
    """
    if options.precision not in PRECISIONS:
        raise TrtBuildError(f"--precision '{options.precision}' is not one of {', '.join(PRECISIONS)}")
    if options.precision_mode not in PRECISION_MODES:
        raise TrtBuildError(f"--precision-mode '{options.precision_mode}' is not one of {', '.join(PRECISION_MODES)}")
    if source_precision not in PRECISIONS:
        raise TrtBuildError(f"{source} has precision '{source_precision}' in its metadata, not one of {PRECISIONS}")
    rules = version_rules(tensorrt_version)
    precision, mode = options.precision, options.precision_mode
    if precision == "fp32":
        mode = "graph"  # nothing to choose: no reduced precision anywhere
    if source_precision != "fp32" and (precision != source_precision or mode != "graph"):
        raise TrtBuildError(
            f"{source} is already a {source_precision} graph (its edgead metadata says so); build it with "
            f"--precision {source_precision} --precision-mode graph, or start from the fp32 .onnx"
        )
    messages: list[str] = []
    network: list[str] = []
    flags: list[str] = []
    pin = calibrator = False
    variant = precision if mode == "graph" else "fp32"
    dla = options.dla_core
    dla_messages = [] if dla is None else dla_rules(dla, precision, mode, rules, tensorrt_version)
    weak_for_dla = dla is not None and rules.strongly_typed_flag  # 10.x: no STRONGLY_TYPED with DLA

    if rules.explicit_batch_flag:
        network.append("EXPLICIT_BATCH")
    elif rules.line == "10":
        messages.append("TensorRT 10: explicit batch is implied (EXPLICIT_BATCH is deprecated and not set)")

    if mode == "builder":
        if not rules.builder_precision:
            raise TrtBuildError(
                f"TensorRT {tensorrt_version} has no FP16/INT8 builder flags or int8 calibrators (networks are "
                "strongly typed); use --precision-mode graph (the default): the fp16 graph or the int8 Q/DQ graph"
            )
        flags += ["FP16"] if precision == "fp16" else ["INT8", "FP16"]
        calibrator = precision == "int8"
        messages.append(
            f"builder precision: fp32 graph + BuilderFlag {'+'.join(flags)}"
            + (", entropy calibrator over good images" if calibrator else "")
            + "; TensorRT picks each layer's precision, so scores can drift more than with the graph path"
        )
    elif rules.always_strongly_typed:
        messages.append(f"TensorRT {rules.line}: strongly typed network; {precision} comes from the {variant} graph")
    elif rules.strongly_typed_flag and not weak_for_dla:
        network.append("STRONGLY_TYPED")
        messages.append(f"TensorRT 10: STRONGLY_TYPED network; {precision} comes from the {variant} graph")
    elif precision == "fp16":
        flags += ["FP16", "OBEY_PRECISION_CONSTRAINTS"]
        pin = True
        messages.append(
            f"TensorRT {rules.line}: no strong typing; fp16 graph + FP16 flag, its fp32 layers pinned to fp32 "
            "(OBEY_PRECISION_CONSTRAINTS)"
        )
    elif precision == "int8":
        flags.append("INT8")
        messages.append(f"TensorRT {rules.line}: Q/DQ graph + INT8 flag (explicit quantization needs it on 8.x)")

    if dla is not None:
        flags.append("GPU_FALLBACK")
        messages += [*dla_messages, f"DLA core {dla} with GPU fallback for layers DLA cannot run"]

    needs_images = calibrator or (variant == "int8" and source_precision != "int8")
    for flag, value in (("--calibration-data", options.calibration_data), ("--calibration-images",
                        options.calibration_images)):  # fmt: skip
        if value is not None and not needs_images:
            raise TrtBuildError(
                f"{flag} is not used by this build: only int8 from an fp32 graph calibrates (the Q/DQ "
                f"variant's scales, or the builder's calibrator); {source} is {source_precision} and --precision is "
                f"{precision}. Drop {flag}"
            )
    batch, batch_messages = resolve_batch(options)
    messages += batch_messages
    height, width = input_size
    shapes = tuple((n, height, width, 3) for n in batch)
    if options.workspace_gb is not None and options.workspace_gb <= 0:
        raise TrtBuildError(f"--workspace-gb must be > 0, got {options.workspace_gb}")
    workspace = int(options.workspace_gb * (1 << 30)) if options.workspace_gb else None
    messages.append("TF32 off: fp32 layers compute in full fp32")
    return BuildPlan(
        tensorrt_version=tensorrt_version,
        rules=rules,
        precision=precision,
        precision_mode=mode,
        source_precision=source_precision,
        onnx_variant=variant,
        network_flags=tuple(network),
        builder_flags=tuple(flags),
        cleared_flags=("TF32",),
        pin_fp32_layers=pin,
        calibrator=calibrator,
        needs_images=needs_images,
        batch=batch,
        shapes=shapes,  # type: ignore[arg-type]
        workspace_bytes=workspace,
        timing_cache=Path(options.timing_cache) if options.timing_cache else None,
        dla_core=dla,
        messages=tuple(messages),
    )


# ---------------------------------------------------------------- pure helpers for the build step


def fp32_nodes(path: Path) -> set[str]:
    """The ONNX nodes of ``path`` whose outputs are all FLOAT in the graph's own value types (ONNX shape inference,
    weights not loaded), constants and shapes aside: the fp32 parts of an fp16-typed graph (kNN, map, scores)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    graph = onnx.shape_inference.infer_shapes(model).graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.input, *graph.output]}
    types.update({t.name: t.data_type for t in graph.initializer})
    return {
        node.name
        for node in graph.node
        if node.op_type not in ("Constant", "Shape")
        and [o for o in node.output if o]
        and all(types.get(o) == onnx.TensorProto.FLOAT for o in node.output if o)
    }


def layer_node(layer_name: str, node_names: set[str]) -> str | None:
    """The ONNX node a parsed layer came from. The parser names a node's layer after the node and any further layer
    of it ``<node>_<n>`` (onnx/onnx-tensorrt release/8.5-GA ImporterContext.cpp ``registerLayer`` with
    ``generateUniqueName``); helper layers it does not register keep TensorRT's "(Unnamed Layer* ...)" names."""
    if layer_name in node_names:
        return layer_name
    head, _, tail = layer_name.rpartition("_")
    return head if tail.isdigit() and head in node_names else None


def fp32_pins(layer_names: Sequence[str], node_names: set[str], float_nodes: set[str]) -> list[str]:
    """Layers to pin to fp32 so that weak typing (8.x + FP16 flag) keeps the fp16 graph's fp32 parts.

    Decided from the ONNX graph's value types (``fp32_nodes``), not from ``ITensor.dtype`` at network-definition
    time, which 8.x computes itself: if it said FLOAT for every tensor, every layer would be pinned and the "fp16"
    engine would silently be fp32.
    """
    return [name for name in layer_names if layer_node(name, node_names) in float_nodes]


def dla_decision(requested: int | None, available: int) -> tuple[int | None, str | None]:
    """(core to use or None, message): no DLA on this device means a GPU build, said out loud."""
    if requested is None:
        return None, None
    if available == 0:
        return None, f"this device has no DLA core (num_DLA_cores = 0): building for the GPU instead of DLA {requested}"
    if requested >= available:
        raise TrtBuildError(f"--dla-core {requested} does not exist; this device has {available} (0..{available - 1})")
    return requested, None


@dataclass(frozen=True)
class ParserError:
    """One ONNX parser error, as plain values."""

    desc: str
    node_index: int = -1
    node_name: str = ""
    operator: str = ""


def format_parser_errors(onnx_path: Path, errors: Sequence[ParserError], node_names: Sequence[str] = ()) -> str:
    """One line per parser error, naming the node (by name; by index when TensorRT gives only that)."""
    lines = []
    for err in errors:
        name = err.node_name or (node_names[err.node_index] if 0 <= err.node_index < len(node_names) else "")
        where = f"node '{name}'" if name else (f"node #{err.node_index}" if err.node_index >= 0 else "graph")
        op = f" ({err.operator})" if err.operator else ""
        lines.append(f"  {where}{op}: {err.desc}")
    return (
        f"TensorRT's ONNX parser rejected '{onnx_path}' ({len(errors)} error(s)):\n"
        + "\n".join(lines)
        + f"\nrun `edgead doctor {onnx_path} --target trt` for the fix of each"
    )


QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


def graph_precision(metadata: dict[str, Any], op_types: set[str], path: Path) -> str:
    """The graph's precision as its edgead metadata states it (``set_precision`` writes it), checked against Q/DQ.

    The metadata, not the tensor types, says what the backbone computes in: a PatchCore graph trained with
    ``--bank-dtype fp16`` holds an fp16 bank initializer but is an fp32 graph.
    """
    precision = str(metadata.get("precision", "fp32"))  # files from before precision variants are fp32
    has_qdq = bool(set(QDQ_OPS) & op_types)
    if precision not in PRECISIONS:
        raise TrtBuildError(f"'{path}': edgead metadata precision '{precision}' is not one of {', '.join(PRECISIONS)}")
    if has_qdq != (precision == "int8"):
        found = "has Q/DQ nodes" if has_qdq else "has no Q/DQ nodes"
        raise TrtBuildError(
            f"'{path}' {found} but its edgead metadata says precision '{precision}': it was not written by "
            "`edgead export`, or was edited since; export it again (`edgead export RUN --format onnx "
            "[--precision int8]`)"
        )
    return precision


def read_onnx(path: Path) -> tuple[dict[str, Any], str, list[str]]:
    """(edgead metadata dict, graph precision, node names) of an ONNX file, weights not loaded."""
    try:
        import onnx
    except ImportError as exc:
        raise TrtBuildError("reading the ONNX graph needs the onnx package: pip install onnx") from exc
    from edgead_runtime.metadata import METADATA_KEY, embedded_metadata

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # DecodeError and friends
        raise TrtBuildError(f"cannot read '{path}' as an ONNX model ({exc}); export it again") from exc
    text = {p.key: p.value for p in model.metadata_props}.get(METADATA_KEY)
    embedded_metadata(text, path, "metadata_props", "onnx")  # raises a clear error if absent or malformed
    metadata = json.loads(text)
    precision = graph_precision(metadata, {n.op_type for n in model.graph.node}, Path(path))
    return metadata, precision, [n.name for n in model.graph.node]
