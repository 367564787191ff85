"""FAKE ``tensorrt`` and cuda-python runtime modules, standing in for the real libraries in tests.

The machines edgead is developed and tested on have no GPU and cannot install TensorRT, so the code that
calls TensorRT (``export/tensorrt_build.py``, ``runtime/edgead_runtime/backends/tensorrt.py``) would
otherwise never run. This module is NOT TensorRT: it optimizes nothing and runs nothing on a GPU. It offers
the names and signatures that edgead calls, as each TensorRT release line has them (NVIDIA's Python API
reference for 8.5/8.6 and 10.x, and "Migrating from TensorRT 10.x to 11.x" for what 11.x removed), records
every call in order, and refuses what the real builder refuses where edgead's plans depend on it:

- 8.5 / 8.6: ``NetworkDefinitionCreationFlag.EXPLICIT_BATCH`` (0) must be set for the ONNX parser; binding
  API only in this fake (``num_bindings``, ``set_binding_shape``, ``execute_async_v2``; real 8.5+ also has the
  tensor-name API, edgead does not use it there); ``ParserError`` without ``node_name()``; no
  ``IProgressMonitor``; a Q/DQ network needs ``BuilderFlag.INT8``.
- 10.x: ``EXPLICIT_BATCH`` (0) deprecated, ``STRONGLY_TYPED`` (1); tensor-name API only (``set_input_shape``,
  ``set_tensor_address``, ``execute_async_v3``); FP16/INT8 flags and the entropy calibrator exist, but a
  precision flag on a ``STRONGLY_TYPED`` network is a build error.
- 11.x: no ``EXPLICIT_BATCH``; ``STRONGLY_TYPED`` kept and ignored (always strongly typed); no FP16, INT8,
  OBEY/PREFER_PRECISION_CONSTRAINTS or DIRECT_IO flags, no calibrators, ``int8_calibrator`` or
  ``set_calibration_profile``, no per-layer ``precision`` / ``set_output_type``.

Device memory and pinned host memory are both host RAM here (ctypes buffers), so copies are real
``memmove``s. An "engine" is the ONNX file its parser read; ``execute_async_*`` runs that file with ONNX
Runtime on the CPU. Its outputs therefore equal ONNX Runtime's exactly: a parity figure from this fake
says nothing about TensorRT's numbers, only that the data went through every buffer and call.
"""

from __future__ import annotations

import ctypes
import enum
import importlib.machinery
import json
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

PLAN_MAGIC = b"FAKE-TENSORRT-PLAN\n"
CACHE_MAGIC = b"FAKE-TENSORRT-TIMING-CACHE\n"
ACTIVATION_TYPES_ONLY = "only activation types allowed as input to this layer."
LINES = {"8.5": "8.5.2.2", "8.6": "8.6.1.6", "10": "10.3.0.26", "11": "11.0.0.14"}

_ONNX_TO_TRT = {
    onnx.TensorProto.FLOAT: "FLOAT",
    onnx.TensorProto.FLOAT16: "HALF",
    onnx.TensorProto.INT8: "INT8",
    onnx.TensorProto.INT32: "INT32",
    onnx.TensorProto.INT64: "INT64",
    onnx.TensorProto.BOOL: "BOOL",
    onnx.TensorProto.UINT8: "UINT8",
}
_NUMPY = {
    "FLOAT": np.float32,
    "HALF": np.float16,
    "INT8": np.int8,
    "INT32": np.int32,
    "INT64": np.int64,
    "BOOL": np.bool_,
    "UINT8": np.uint8,
}
_LAYER_OF_OP = {
    "Conv": "CONVOLUTION",
    "MatMul": "MATRIX_MULTIPLY",
    "Gemm": "MATRIX_MULTIPLY",
    "Constant": "CONSTANT",
    "Shape": "SHAPE",
    "Cast": "CAST",
    "ReduceMin": "REDUCE",
    "ReduceMax": "REDUCE",
    "ReduceMean": "REDUCE",
    "ReduceSum": "REDUCE",
    "TopK": "TOPK",
    "Resize": "RESIZE",
    "Softmax": "SOFTMAX",
    "Gather": "GATHER",
    "Reshape": "SHUFFLE",
    "Transpose": "SHUFFLE",
    "Slice": "SLICE",
    "Concat": "CONCATENATION",
    "QuantizeLinear": "QUANTIZE",
    "DequantizeLinear": "DEQUANTIZE",
    "Clip": "ACTIVATION",
    "Relu": "ACTIVATION",
    "AveragePool": "POOLING",
    "MaxPool": "POOLING",
    "Identity": "IDENTITY",
    "Sqrt": "UNARY",
    "Exp": "UNARY",
}


class Recorder:
    """Every call the code under test made, in order: ``(qualified name, *arguments)``."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, name: str, *args: Any) -> None:
        self.calls.append((name, *args))

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def args(self, name: str) -> list[tuple[Any, ...]]:
        """The arguments of every call of ``name``."""
        return [c[1:] for c in self.calls if c[0] == name]


def _line(version: str) -> str:
    major, minor = (int(p) for p in version.split(".")[:2])
    return f"8.{minor}" if major == 8 else str(major)


# ---------------------------------------------------------------- cuda-python (cuda.bindings.runtime / cuda.cudart)


class _Stream:
    """cudaStream_t: an opaque handle that ``int()`` turns into its address."""

    def __init__(self, handle: int) -> None:
        self.handle = handle

    def __int__(self) -> int:
        return self.handle


@dataclass
class _Props:
    name: bytes
    major: int
    minor: int


def make_cudart(record: Recorder, devices: list[tuple[str, tuple[int, int]]], module_name: str) -> types.ModuleType:
    """cuda-python's runtime module: each call returns ``(cudaError_t, value...)`` as the real one does."""
    cudart = _module(module_name, "FAKE cuda-python runtime module (tests/runtime/fake_tensorrt.py); not CUDA")
    error = enum.IntEnum(
        "cudaError_t",
        {
            "cudaSuccess": 0,
            "cudaErrorInvalidValue": 1,
            "cudaErrorMemoryAllocation": 2,
            "cudaErrorNoDevice": 100,
            "cudaErrorInvalidDevice": 101,
        },
    )
    kind = enum.IntEnum(
        "cudaMemcpyKind",
        {
            "cudaMemcpyHostToHost": 0,
            "cudaMemcpyHostToDevice": 1,
            "cudaMemcpyDeviceToHost": 2,
            "cudaMemcpyDeviceToDevice": 3,
            "cudaMemcpyDefault": 4,
        },
    )
    memory: dict[int, Any] = {}  # address -> ctypes buffer (device and pinned memory alike)
    ok = error.cudaSuccess

    failures: dict[str, int] = {}  # test hook: {"cudaMallocHost": 2} fails the 2nd pinned allocation, as out of memory

    def alloc(what: str, size: int) -> tuple[Any, int]:
        record(what, size)
        if failures.get(what) == len(record.args(what)):
            return error.cudaErrorMemoryAllocation, 0
        buf = (ctypes.c_uint8 * size)()
        memory[ctypes.addressof(buf)] = buf
        return ok, ctypes.addressof(buf)

    def free(what: str, ptr: int) -> tuple[Any]:
        record(what, ptr)
        return (ok,) if memory.pop(int(ptr), None) is not None else (error.cudaErrorInvalidValue,)

    def copy(what: str, dst: int, src: int, count: int, direction: Any, *stream: Any) -> tuple[Any]:
        record(what, kind(direction).name, count)
        ctypes.memmove(int(dst), int(src), int(count))
        return (ok,)

    def device_count() -> tuple[Any, int]:
        record("cudaGetDeviceCount")
        return (ok, len(devices)) if devices else (error.cudaErrorNoDevice, 0)

    def properties(device: int) -> tuple[Any, _Props | None]:
        record("cudaGetDeviceProperties", device)
        if not 0 <= device < len(devices):
            return error.cudaErrorInvalidDevice, None
        name, (major, minor) = devices[device]
        return ok, _Props(name.encode() + b"\x00" * 4, major, minor)

    streams: list[_Stream] = []

    def stream_create() -> tuple[Any, _Stream]:
        record("cudaStreamCreate")
        streams.append(_Stream(0x5000 + len(record.args("cudaStreamCreate"))))
        return ok, streams[-1]

    cudart.cudaError_t = error
    cudart.cudaMemcpyKind = kind
    cudart.cudaGetDeviceCount = device_count
    cudart.cudaGetDeviceProperties = properties

    def set_device(device: int) -> tuple[Any]:
        record("cudaSetDevice", device)
        return (ok,) if 0 <= device < len(devices) else (error.cudaErrorInvalidDevice,)

    cudart.cudaSetDevice = set_device
    cudart.cudaGetErrorName = lambda err: (ok, error(int(err)).name.encode())
    cudart.cudaStreamCreate = stream_create
    cudart.cudaStreamSynchronize = lambda stream: record("cudaStreamSynchronize") or (ok,)

    def stream_destroy(stream: _Stream) -> tuple[Any]:
        record("cudaStreamDestroy")
        if stream not in streams:
            return (error.cudaErrorInvalidValue,)
        streams.remove(stream)
        return (ok,)

    cudart.cudaStreamDestroy = stream_destroy
    cudart.live_streams = streams  # test hook: streams never destroyed
    cudart.cudaMalloc = lambda size: alloc("cudaMalloc", size)
    cudart.cudaMallocHost = lambda size: alloc("cudaMallocHost", size)
    cudart.cudaFree = lambda ptr: free("cudaFree", ptr)
    cudart.cudaFreeHost = lambda ptr: free("cudaFreeHost", ptr)
    cudart.cudaMemcpy = lambda dst, src, count, direction: copy("cudaMemcpy", dst, src, count, direction)
    cudart.cudaMemcpyAsync = lambda dst, src, count, direction, stream: copy(
        "cudaMemcpyAsync", dst, src, count, direction, stream
    )
    cudart.live_allocations = memory  # test hook: what was never freed
    cudart.fail_allocation = failures
    return cudart


# ---------------------------------------------------------------- tensorrt


@dataclass
class _TensorInfo:
    name: str
    dtype: str  # DataType name
    shape: tuple[int, ...]  # -1 = dynamic


@dataclass
class _PlanHeader:
    """What the fake plan file holds: the ONNX graph it ran through, and the build's choices."""

    version: str
    onnx: str
    inputs: list[_TensorInfo]
    outputs: list[_TensorInfo]
    profile: list[list[int]] = field(default_factory=list)  # min, opt, max of the one input
    flags: list[str] = field(default_factory=list)
    dla_core: int | None = None


def _tensor_types(model: onnx.ModelProto) -> dict[str, int]:
    graph = onnx.shape_inference.infer_shapes(model).graph
    types_ = {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.input, *graph.output]}
    types_.update({t.name: t.data_type for t in graph.initializer})
    return types_


def _shape(value: onnx.ValueInfoProto) -> tuple[int, ...]:
    return tuple(d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim)


def make_tensorrt(version: str, record: Recorder, dla_cores: int = 0) -> types.ModuleType:
    """The ``tensorrt`` module of one release line (``version`` such as '8.5.2.2', '10.3.0.26', '11.0.0.14')."""
    line = _line(version)
    eight, eleven = line.startswith("8."), line == "11"
    trt = _module("tensorrt", f"FAKE tensorrt {version} (tests/runtime/fake_tensorrt.py); not TensorRT")
    trt.__version__ = version
    trt.__fake__ = True

    builder_flags = [
        "FP16",
        "INT8",
        "DEBUG",
        "GPU_FALLBACK",
        "REFIT",
        "DISABLE_TIMING_CACHE",
        "TF32",
        "SPARSE_WEIGHTS",
        "SAFETY_SCOPE",
        "OBEY_PRECISION_CONSTRAINTS",
        "PREFER_PRECISION_CONSTRAINTS",
        "DIRECT_IO",
        "REJECT_EMPTY_ALGORITHMS",
    ]
    if eight:
        builder_flags.insert(4, "STRICT_TYPES")  # deprecated in 8.x, gone in 10
    if eleven:  # "Removed Python APIs" of the 10.x -> 11.x migration guide
        removed = ("FP16", "INT8", "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS", "DIRECT_IO")
        builder_flags = [f for f in builder_flags if f not in removed]
    trt.BuilderFlag = enum.IntEnum("BuilderFlag", {n: i for i, n in enumerate(builder_flags)})
    network_flags = (
        {"EXPLICIT_BATCH": 0, "EXPLICIT_PRECISION": 1} if eight else {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1}
    )
    if eleven:
        network_flags = {"STRONGLY_TYPED": 1}
    trt.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", network_flags)
    data_types = ["FLOAT", "HALF", "INT8", "INT32", "BOOL", "UINT8"] + ([] if eight else ["FP8", "BF16", "INT64"])
    trt.DataType = enum.IntEnum("DataType", {n: i for i, n in enumerate(data_types)})
    for alias, name in (
        ("float32", "FLOAT"),
        ("float16", "HALF"),
        ("int8", "INT8"),
        ("int32", "INT32"),
        ("bool", "BOOL"),
        ("uint8", "UINT8"),
        ("int64", "INT64"),
    ):
        if name in trt.DataType.__members__:
            setattr(trt, alias, trt.DataType[name])

    def nptype(dtype: Any) -> Any:
        """As python/packaging/tensorrt/__init__.py of the line: 8.5.x builds its map with ``np.bool`` (an
        AttributeError on numpy 1.24-1.26: NVIDIA/TensorRT#2557, fixed in 8.6 with ``np.bool_``)."""
        numpy_bool = np.bool if line == "8.5" else np.bool_  # attribute access, as the real map does
        mapping = {**_NUMPY, "BOOL": numpy_bool}
        name = trt.DataType(int(dtype)).name
        if name not in mapping:
            raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")
        return mapping[name]

    trt.nptype = nptype
    trt.MemoryPoolType = enum.IntEnum(
        "MemoryPoolType", {"WORKSPACE": 0, "DLA_MANAGED_SRAM": 1, "DLA_LOCAL_DRAM": 2, "DLA_GLOBAL_DRAM": 3}
    )
    trt.DeviceType = enum.IntEnum("DeviceType", {"GPU": 0, "DLA": 1})
    trt.LayerType = enum.IntEnum(
        "LayerType", {n: i for i, n in enumerate(sorted({*_LAYER_OF_OP.values(), "ELEMENTWISE"}))}
    )
    if not eight:
        trt.TensorIOMode = enum.IntEnum("TensorIOMode", {"NONE": 0, "INPUT": 1, "OUTPUT": 2})

    # DequantizeLinear input types: "INT8" (8.5-GA, 8.6-GA operators.md), "INT8, FP8, INT4" (10.0-GA; FP4 from 10.8,
    # so not in this fake's 10.3), "INT8, FP8, FP4, INT4" (10.15, carried to 11)
    dequantize_inputs = {onnx.TensorProto.INT8}
    if not eight:
        dequantize_inputs |= {onnx.TensorProto.FLOAT8E4M3FN, onnx.TensorProto.INT4}
    if eleven:
        dequantize_inputs.add(onnx.TensorProto.FLOAT4E2M1)

    def dtype_of(onnx_type: int) -> Any:
        name = _ONNX_TO_TRT.get(onnx_type, "FLOAT")
        return trt.DataType["INT32" if name == "INT64" and eight else name]  # 8.x: INT64 becomes INT32

    # ITensor.dtype while the network is being defined: this fake takes it from ONNX shape inference; real 8.x computes
    # its own, so a test can set trt.fake_definition_types = "float" (every float tensor reports FLOAT) to show that
    # edgead's fp16 pins do not depend on it
    trt.fake_definition_types = "onnx"

    def definition_type(onnx_type: int) -> Any:
        if trt.fake_definition_types == "float" and onnx_type == onnx.TensorProto.FLOAT16:
            return trt.DataType.FLOAT
        return dtype_of(onnx_type)

    class ILogger:
        Severity = enum.IntEnum("Severity", {"INTERNAL_ERROR": 0, "ERROR": 1, "WARNING": 2, "INFO": 3, "VERBOSE": 4})

        def __init__(self) -> None:
            pass

    trt.ILogger = ILogger

    class ITensor:
        def __init__(self, name: str, dtype: Any, shape: tuple[int, ...]) -> None:
            self.name, self.dtype, self.shape = name, dtype, shape

    class ILayer:
        def __init__(self, name: str, kind: str, outputs: list[ITensor]) -> None:
            self.name, self.type, self._outputs = name, trt.LayerType[kind], outputs

        @property
        def num_outputs(self) -> int:
            return len(self._outputs)

        def get_output(self, index: int) -> ITensor:
            return self._outputs[index]

    class WeakLayer(ILayer):
        """Per-layer precision: 8.x and 10.x only (11.x removed it with weak typing)."""

        @property
        def precision(self) -> Any:
            return getattr(self, "_precision", trt.float32)

        @precision.setter
        def precision(self, dtype: Any) -> None:
            record("ILayer.precision", self.name, trt.DataType(int(dtype)).name)
            self._precision = dtype

        def set_output_type(self, index: int, dtype: Any) -> None:
            record("ILayer.set_output_type", self.name, index, trt.DataType(int(dtype)).name)

    class INetworkDefinition:
        def __init__(self, flags: int) -> None:
            self.flags = flags
            self.explicit_batch = not eight or bool(flags & 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
            self.strongly_typed = eleven or (not eight and bool(flags & 1 << 1))
            self.inputs: list[ITensor] = []
            self.outputs: list[ITensor] = []
            self.layers: list[ILayer] = []
            self.onnx_path = ""
            self.has_qdq = False

        num_inputs = property(lambda self: len(self.inputs))
        num_outputs = property(lambda self: len(self.outputs))
        num_layers = property(lambda self: len(self.layers))

        def get_input(self, index: int) -> ITensor:
            return self.inputs[index]

        def get_output(self, index: int) -> ITensor:
            return self.outputs[index]

        def get_layer(self, index: int) -> ILayer:
            return self.layers[index]

    class ParserError:
        def __init__(self, desc: str, node: int, name: str = "", op: str = "") -> None:
            self._desc, self._node, self._name, self._op = desc, node, name, op

        def desc(self) -> str:
            return self._desc

        def node(self) -> int:
            return self._node

        def code(self) -> int:
            return 8  # ErrorCode.UNSUPPORTED_NODE

    class ParserError10(ParserError):
        """10.x added the node's name and operator to the parser error."""

        def node_name(self) -> str:
            return self._name

        def node_operator(self) -> str:
            return self._op

    class OnnxParser:
        def __init__(self, network: INetworkDefinition, logger: ILogger) -> None:
            record("OnnxParser", network.flags)
            self.network, self.logger, self.errors = network, logger, []

        num_errors = property(lambda self: len(self.errors))

        def get_error(self, index: int) -> ParserError:
            return self.errors[index]

        def parse_from_file(self, path: str) -> bool:
            record("OnnxParser.parse_from_file", path)
            error = ParserError if eight else ParserError10
            if not self.network.explicit_batch:
                self.errors.append(error("the ONNX parser needs an explicit-batch network (EXPLICIT_BATCH)", -1))
                return False
            model = onnx.load(path, load_external_data=False)
            types_ = _tensor_types(model)
            for i, node in enumerate(model.graph.node):
                if node.domain not in ("", "ai.onnx"):
                    msg = f"No importer registered for op: {node.op_type}"
                    self.errors.append(error(msg, i, node.name, node.op_type))
                elif node.op_type == "DequantizeLinear" and types_.get(node.input[0]) not in dequantize_inputs:
                    # IDequantizeLayer takes quantized types only (onnx/onnx-tensorrt docs/operators.md per
                    # release; an INT32 bias fails as in microsoft/onnxruntime#14229's trtexec log)
                    msg = f"Invalid Node - {node.name}\n{node.name}: {ACTIVATION_TYPES_ONLY}"
                    self.errors.append(error(msg, i, node.name, node.op_type))
            if self.errors:
                return False
            initializers = {t.name for t in model.graph.initializer}
            net = self.network
            net.onnx_path = str(path)
            for value in model.graph.input:
                if value.name not in initializers:
                    net.inputs.append(ITensor(value.name, dtype_of(value.type.tensor_type.elem_type), _shape(value)))
            for value in model.graph.output:
                net.outputs.append(ITensor(value.name, dtype_of(value.type.tensor_type.elem_type), _shape(value)))
            layer = ILayer if eleven else WeakLayer
            for i, node in enumerate(model.graph.node):
                kinds = [(o, types_.get(o, onnx.TensorProto.FLOAT)) for o in node.output if o]
                outputs = [ITensor(o, definition_type(kind), ()) for o, kind in kinds]
                net.layers.append(
                    layer(node.name or f"node_{i}", _LAYER_OF_OP.get(node.op_type, "ELEMENTWISE"), outputs)
                )
                net.has_qdq |= node.op_type in ("QuantizeLinear", "DequantizeLinear")
            return True

    class IOptimizationProfile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple[tuple[int, ...], ...]] = {}

        def set_shape(self, name: str, min: Any, opt: Any, max: Any) -> None:  # noqa: A002 - the real keyword names
            record("IOptimizationProfile.set_shape", name, tuple(min), tuple(opt), tuple(max))
            self.shapes[name] = (tuple(min), tuple(opt), tuple(max))

    class ITimingCache:
        def __init__(self, owner: str, entries: list[str]) -> None:
            self.owner, self.entries = owner, entries

        def serialize(self) -> bytes:
            record("ITimingCache.serialize", len(self.entries))
            return CACHE_MAGIC + json.dumps({"owner": self.owner, "entries": self.entries}).encode()

    owner = f"{version} on fake GPU"
    config_attributes = {"default_device_type", "DLA_core"} | (set() if eleven else {"int8_calibrator"})
    if not eight:
        config_attributes.add("progress_monitor")

    class IBuilderConfig:
        def __init__(self) -> None:
            object.__setattr__(self, "flags", set())
            object.__setattr__(self, "profiles", [])
            object.__setattr__(self, "pools", {})
            object.__setattr__(self, "cache", None)
            object.__setattr__(self, "calibration_profile", None)
            for name in config_attributes:
                object.__setattr__(self, name, None)
            object.__setattr__(self, "default_device_type", trt.DeviceType.GPU)
            object.__setattr__(self, "DLA_core", -1)

        def __setattr__(self, name: str, value: Any) -> None:
            if name not in config_attributes:
                raise AttributeError(f"'tensorrt.IBuilderConfig' (fake {version}) has no attribute '{name}'")
            record(f"IBuilderConfig.{name}", value if not callable(getattr(value, "get_batch", None)) else "calibrator")
            object.__setattr__(self, name, value)

        def set_flag(self, flag: Any) -> None:
            record("IBuilderConfig.set_flag", trt.BuilderFlag(int(flag)).name)
            self.flags.add(trt.BuilderFlag(int(flag)).name)

        def clear_flag(self, flag: Any) -> None:
            record("IBuilderConfig.clear_flag", trt.BuilderFlag(int(flag)).name)
            self.flags.discard(trt.BuilderFlag(int(flag)).name)

        def get_flag(self, flag: Any) -> bool:
            return trt.BuilderFlag(int(flag)).name in self.flags

        def set_memory_pool_limit(self, pool: Any, pool_size: int) -> None:
            record("IBuilderConfig.set_memory_pool_limit", trt.MemoryPoolType(int(pool)).name, pool_size)
            self.pools[trt.MemoryPoolType(int(pool)).name] = pool_size

        def add_optimization_profile(self, profile: IOptimizationProfile) -> int:
            record("IBuilderConfig.add_optimization_profile", dict(profile.shapes))
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def create_timing_cache(self, serialized_timing_cache: bytes) -> ITimingCache | None:
            """None for bytes that do not deserialize, as the real one (nullptr; Polygraphy and trtexec check)."""
            data = bytes(serialized_timing_cache)
            record("IBuilderConfig.create_timing_cache", len(data))
            if not data:
                return ITimingCache(owner, [])
            try:
                if not data.startswith(CACHE_MAGIC):
                    raise ValueError("not a timing cache")
                body = json.loads(data[len(CACHE_MAGIC) :])
            except ValueError:
                return None
            return ITimingCache(body["owner"], list(body["entries"]))

        def set_timing_cache(self, cache: ITimingCache, ignore_mismatch: bool) -> bool:
            record("IBuilderConfig.set_timing_cache", cache.owner, len(cache.entries), ignore_mismatch)
            if cache.owner != owner and not ignore_mismatch:
                return False
            object.__setattr__(self, "cache", cache)
            return True

        def get_timing_cache(self) -> ITimingCache | None:
            record("IBuilderConfig.get_timing_cache")
            return self.cache

    if not eleven:

        def set_calibration_profile(self: IBuilderConfig, profile: IOptimizationProfile) -> bool:
            record("IBuilderConfig.set_calibration_profile", dict(profile.shapes))
            object.__setattr__(self, "calibration_profile", profile)
            return True

        IBuilderConfig.set_calibration_profile = set_calibration_profile

        class IInt8EntropyCalibrator2:
            def __init__(self) -> None:
                pass

        trt.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2
    if not eight:

        class IProgressMonitor:
            def __init__(self) -> None:
                pass

        trt.IProgressMonitor = IProgressMonitor

    class Builder:
        def __init__(self, logger: ILogger) -> None:
            record("Builder")
            self.logger = logger
            self.num_DLA_cores = dla_cores

        def create_network(self, flags: int = 0) -> INetworkDefinition:
            record("Builder.create_network", flags)
            return INetworkDefinition(flags)

        def create_builder_config(self) -> IBuilderConfig:
            return IBuilderConfig()

        def create_optimization_profile(self) -> IOptimizationProfile:
            return IOptimizationProfile()

        def _fail(self, message: str) -> None:
            self.logger.log(ILogger.Severity.ERROR, message)

        def build_serialized_network(self, network: INetworkDefinition, config: IBuilderConfig) -> bytes | None:
            record("Builder.build_serialized_network", sorted(config.flags))
            precision_flags = {"FP16", "INT8"} & config.flags
            if network.strongly_typed and precision_flags:
                self._fail(f"BuilderFlag {sorted(precision_flags)} is not allowed on a strongly typed network")
                return None
            if eight and network.has_qdq and "INT8" not in config.flags:
                self._fail("the network has Q/DQ layers: explicit quantization needs BuilderFlag.INT8 on 8.x")
                return None
            calibrator = getattr(config, "int8_calibrator", None)
            if "INT8" in config.flags and not network.has_qdq and calibrator is None:
                self._fail("INT8 without Q/DQ layers needs an int8 calibrator or dynamic ranges")
                return None
            name = network.inputs[0].name
            if not config.profiles or name not in config.profiles[0].shapes:
                self._fail(f"input '{name}' has dynamic dimensions: an optimization profile must set its shapes")
                return None
            lo, opt, hi = config.profiles[0].shapes[name]
            if not all(a <= b <= c for a, b, c in zip(lo, opt, hi, strict=True)):
                self._fail(f"profile for '{name}' is not min <= opt <= max: {lo}, {opt}, {hi}")
                return None
            if config.default_device_type == trt.DeviceType.DLA and not 0 <= config.DLA_core < self.num_DLA_cores:
                self._fail(f"DLA core {config.DLA_core} does not exist (num_DLA_cores = {self.num_DLA_cores})")
                return None
            if "INT8" in config.flags and calibrator is not None:
                self._calibrate(network, config, calibrator)
            monitor = getattr(config, "progress_monitor", None)
            if monitor is not None:
                monitor.phase_start("Building engine", None, 1)
                monitor.step_complete("Building engine", 0)
                monitor.phase_finish("Building engine")
            if config.cache is not None:
                config.cache.entries.append(f"{Path(network.onnx_path).name}:{lo}:{hi}")
            header = _PlanHeader(
                version=version,
                onnx=network.onnx_path,
                inputs=[_TensorInfo(t.name, t.dtype.name, t.shape) for t in network.inputs],
                outputs=[_TensorInfo(t.name, t.dtype.name, t.shape) for t in network.outputs],
                profile=[list(lo), list(opt), list(hi)],
                flags=sorted(config.flags),
                dla_core=config.DLA_core if config.default_device_type == trt.DeviceType.DLA else None,
            )
            self.logger.log(ILogger.Severity.INFO, f"fake build of {network.onnx_path} done")
            return PLAN_MAGIC + json.dumps(header, default=lambda o: o.__dict__).encode()

        def _calibrate(self, network: INetworkDefinition, config: IBuilderConfig, calibrator: Any) -> None:
            """What the builder asks of an IInt8EntropyCalibrator2: batches until None, then the cache."""
            if config.calibration_profile is None:
                raise RuntimeError("fake tensorrt: dynamic-shape calibration needs set_calibration_profile")
            shape = config.calibration_profile.shapes[network.inputs[0].name][0]
            calibrator.read_calibration_cache()
            n = calibrator.get_batch_size()
            batches = 0
            while (pointers := calibrator.get_batch([network.inputs[0].name])) is not None:
                size = int(np.prod(shape))
                data = np.ctypeslib.as_array((ctypes.c_uint8 * size).from_address(int(pointers[0])))
                record("calibration batch", n, float(data.mean()))
                batches += 1
            calibrator.write_calibration_cache(b"fake calibration table")
            record("calibrated", batches)

    trt.Builder = Builder
    trt.OnnxParser = OnnxParser

    class IExecutionContext:
        def __init__(self, engine: ICudaEngine) -> None:
            self.engine = engine
            self.shapes = {t.name: t.shape for t in engine.header.inputs}
            self.addresses: dict[str, int] = {}

        def _set_shape(self, name: str, shape: Any) -> bool:
            lo, _, hi = self.engine.header.profile
            shape = tuple(int(d) for d in shape)
            if len(shape) != len(lo) or not all(a <= d <= b for a, d, b in zip(lo, shape, hi, strict=True)):
                return False
            self.shapes[name] = shape
            return True

        def _resolved(self, info: _TensorInfo) -> tuple[int, ...]:
            batch = self.shapes[self.engine.header.inputs[0].name][0]
            return (
                tuple(batch if d < 0 else d for d in info.shape)
                if info in self.engine.header.outputs
                else (self.shapes[info.name])
            )

        def _execute(self) -> bool:
            import onnxruntime as ort

            header = self.engine.header
            if self.engine.session is None:
                # Q/DQ computed as written, like TensorRT's int32 accumulation: ONNX Runtime's fused int8 kernels
                # saturate on AVX2-only CPUs (export/parity.py, onnxruntime_outputs)
                options = ort.SessionOptions()
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
                self.engine.session = ort.InferenceSession(header.onnx, options, providers=["CPUExecutionProvider"])
            feeds = {}
            for info in header.inputs:
                shape, dtype = self.shapes[info.name], np.dtype(_NUMPY[info.dtype])
                size = int(np.prod(shape)) * dtype.itemsize
                raw = np.ctypeslib.as_array((ctypes.c_uint8 * size).from_address(self.addresses[info.name]))
                feeds[info.name] = raw.view(dtype).reshape(shape).copy()
            results = self.engine.session.run([o.name for o in header.outputs], feeds)
            for info, value in zip(header.outputs, results, strict=True):
                value = np.ascontiguousarray(value, dtype=_NUMPY[info.dtype])
                ctypes.memmove(self.addresses[info.name], value.ctypes.data, value.nbytes)
            return True

    class TensorContext(IExecutionContext):
        """10.x / 11.x: tensors by name."""

        def set_input_shape(self, name: str, shape: Any) -> bool:
            record("IExecutionContext.set_input_shape", name, tuple(shape))
            return self._set_shape(name, shape)

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return self._resolved(self.engine.info(name))

        def set_tensor_address(self, name: str, memory: int) -> bool:
            record("IExecutionContext.set_tensor_address", name)
            self.addresses[name] = int(memory)
            return True

        def execute_async_v3(self, stream_handle: int) -> bool:
            record("IExecutionContext.execute_async_v3", int(stream_handle))
            return self._execute()

    class BindingContext(IExecutionContext):
        """8.5 / 8.6: binding indices."""

        def set_binding_shape(self, binding: int, shape: Any) -> bool:
            record("IExecutionContext.set_binding_shape", binding, tuple(shape))
            return self._set_shape(self.engine.names[binding], shape)

        def get_binding_shape(self, binding: int) -> tuple[int, ...]:
            return self._resolved(self.engine.info(self.engine.names[binding]))

        def execute_async_v2(self, bindings: list[int], stream_handle: int) -> bool:
            record("IExecutionContext.execute_async_v2", len(bindings), int(stream_handle))
            self.addresses = {name: int(bindings[i]) for i, name in enumerate(self.engine.names)}
            return self._execute()

    class ICudaEngine:
        def __init__(self, header: _PlanHeader) -> None:
            self.header = header
            self.names = [t.name for t in header.inputs] + [t.name for t in header.outputs]
            self.session: Any = None

        def info(self, name: str) -> _TensorInfo:
            return next(t for t in [*self.header.inputs, *self.header.outputs] if t.name == name)

        # every line: a read-only property (python/src/infer/pyCore.cpp, ICudaEngine::getNbOptimizationProfiles)
        num_optimization_profiles = property(lambda self: 1)

        def _profile(self, name: str) -> list[tuple[int, ...]]:
            if name != self.header.inputs[0].name:
                raise ValueError(f"fake tensorrt: '{name}' is not an input with a profile")
            return [tuple(s) for s in self.header.profile]

        def create_execution_context(self) -> IExecutionContext:
            record("ICudaEngine.create_execution_context")
            return (BindingContext if eight else TensorContext)(self)

    class TensorEngine(ICudaEngine):
        num_io_tensors = property(lambda self: len(self.names))

        def get_tensor_name(self, index: int) -> str:
            return self.names[index]

        def get_tensor_mode(self, name: str) -> Any:
            inputs = {t.name for t in self.header.inputs}
            return trt.TensorIOMode.INPUT if name in inputs else trt.TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name: str) -> Any:
            return trt.DataType[self.info(name).dtype]

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return self.info(name).shape

        def get_tensor_profile_shape(self, name: str, profile_index: int) -> list[tuple[int, ...]]:
            record("ICudaEngine.get_tensor_profile_shape", name, profile_index)
            return self._profile(name)

    class BindingEngine(ICudaEngine):
        num_bindings = property(lambda self: len(self.names))

        def get_binding_name(self, index: int) -> str:
            return self.names[index]

        def binding_is_input(self, index: int) -> bool:
            return index < len(self.header.inputs)

        def get_binding_dtype(self, index: int) -> Any:
            return trt.DataType[self.info(self.names[index]).dtype]

        def get_binding_shape(self, index: int) -> tuple[int, ...]:
            return self.info(self.names[index]).shape

        def get_profile_shape(self, profile_index: int, binding: int) -> list[tuple[int, ...]]:
            record("ICudaEngine.get_profile_shape", profile_index, binding)
            return self._profile(self.names[binding])

    class Runtime:
        def __init__(self, logger: ILogger) -> None:
            record("Runtime")
            object.__setattr__(self, "logger", logger)
            object.__setattr__(self, "DLA_core", -1)

        def __setattr__(self, name: str, value: Any) -> None:
            if name == "DLA_core":
                record("Runtime.DLA_core", value)
            object.__setattr__(self, name, value)

        def deserialize_cuda_engine(self, serialized_engine: bytes) -> ICudaEngine | None:
            data = bytes(serialized_engine)
            record("Runtime.deserialize_cuda_engine", len(data))
            error = ILogger.Severity.ERROR
            if not data.startswith(PLAN_MAGIC):
                reason = "Serialization assertion magicTagRead == kMAGIC_TAG failed.Magic tag does not match"
                self.logger.log(
                    error, f"1: [stdArchiveReader.cpp::StdArchiveReader::32] Error Code 1: Serialization ({reason})"
                )
                return None
            body = json.loads(data[len(PLAN_MAGIC) :])
            if body["version"] != version:
                self.logger.log(
                    error,
                    "1: [stdArchiveReader.cpp::StdArchiveReader::40] Error Code 1: Serialization "
                    f"(Version tag does not match: plan {body['version']}, runtime {version})",
                )
                return None
            header = _PlanHeader(
                **{
                    **body,
                    "inputs": [_TensorInfo(t["name"], t["dtype"], tuple(t["shape"])) for t in body["inputs"]],
                    "outputs": [_TensorInfo(t["name"], t["dtype"], tuple(t["shape"])) for t in body["outputs"]],
                }
            )
            return (BindingEngine if eight else TensorEngine)(header)

    trt.Runtime = Runtime
    return trt


# ---------------------------------------------------------------- installing them


@dataclass
class Fakes:
    """The fake modules of one test and the calls both received, in one order."""

    trt: types.ModuleType
    cudart: types.ModuleType
    record: Recorder
    modules: dict[str, types.ModuleType]

    @property
    def calls(self) -> list[tuple[Any, ...]]:
        return self.record.calls


def make_fakes(
    version: str = LINES["10"],
    *,
    dla_cores: int = 0,
    devices: list[tuple[str, tuple[int, int]]] | None = None,
    cuda_module: str = "cuda.bindings.runtime",
) -> Fakes:
    """Fake ``tensorrt`` plus cuda-python as ``cuda.bindings.runtime`` (12.6+) or the older ``cuda.cudart``.

    The result's ``modules`` go into ``sys.modules``: ``monkeypatch.setitem(sys.modules, name, module)``
    for each (``install``), or ``sys.modules.update`` in a subprocess.
    """
    record = Recorder()
    devices = [("Fake Orin", (8, 7))] if devices is None else devices
    cudart = make_cudart(record, devices, cuda_module)
    cuda = _module("cuda", "FAKE cuda-python package (tests/runtime/fake_tensorrt.py)")
    modules: dict[str, Any] = {"tensorrt": make_tensorrt(version, record, dla_cores), "cuda": cuda}
    if cuda_module == "cuda.bindings.runtime":
        bindings = _module("cuda.bindings", "FAKE cuda.bindings (tests/runtime/fake_tensorrt.py)")
        bindings.runtime = cudart
        cuda.bindings = bindings
        modules.update({"cuda.bindings": bindings, "cuda.bindings.runtime": cudart, "cuda.cudart": None})
    elif cuda_module == "cuda.cudart":
        cuda.cudart = cudart
        modules.update({"cuda.bindings": None, "cuda.bindings.runtime": None, "cuda.cudart": cudart})
    else:
        raise ValueError(f"cuda_module must be 'cuda.bindings.runtime' or 'cuda.cudart', not '{cuda_module}'")
    return Fakes(modules["tensorrt"], cudart, record, modules)


def install(monkeypatch: Any, version: str = LINES["10"], **options: Any) -> Fakes:
    """``make_fakes`` and put its modules into ``sys.modules`` for the duration of one test."""
    fakes = make_fakes(version, **options)
    for name, module in fakes.modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return fakes


def _module(name: str, doc: str) -> types.ModuleType:
    """A module object with a spec, so ``importlib.util.find_spec`` (torch._dynamo calls it) accepts it."""
    module = types.ModuleType(name, doc)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    return module
