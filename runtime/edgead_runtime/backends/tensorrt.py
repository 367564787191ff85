"""Native TensorRT backend: a ``.engine`` built by ``edgead export --format trt``, run with cuda-python.

Device buffers and pinned host buffers are allocated once, for the optimization profile's largest
batch; each ``run`` sets the input shape, copies in, enqueues and copies out on one CUDA stream,
then synchronizes once. TensorRT 10+ is driven through the tensor-name API (``set_input_shape``,
``set_tensor_address``, ``execute_async_v3``); 8.5/8.6 through the binding API they all share
(``set_binding_shape``, ``execute_async_v2``), which TensorRT 10 removed.

An engine only loads with the TensorRT version and GPU architecture it was built for, and
``deserialize_cuda_engine`` then returns None with the reason only in the log. So the sidecar's
version and device are compared with this machine's first (``engine_file.compatibility_problem``),
and the log is captured for anything that check cannot see.
"""

from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BackendError, FrameMismatchError, ModelFileError
from ..metadata import ModelMetadata
from .base import Backend, Dim
from .options import device_option

if TYPE_CHECKING:  # numpy and the engine-file reader load with the first engine, not with `--help`
    import numpy as np

    from ..engine_file import EngineInfo

TENSORRT_HINT = (
    "TensorRT is not installed (Python package 'tensorrt'): on Jetson it comes with JetPack "
    "(`sudo apt install python3-libnvinfer`), on x86 `pip install tensorrt` (NVIDIA's wheels); see docs/tensorrt.md"
)
CUDA_HINT = (
    "cuda-python is not installed: `pip install 'cuda-python==12.*'` (match your CUDA major version; "
    "JetPack 6 has CUDA 12, JetPack 5 CUDA 11: 'cuda-python==11.8.*')"
)


def import_tensorrt() -> Any:
    """The tensorrt module, or a BackendError that says how to install it."""
    try:
        import tensorrt
    except ImportError as exc:
        raise BackendError(TENSORRT_HINT) from exc
    return tensorrt


def import_cudart() -> Any:
    """cuda-python's runtime module: ``cuda.bindings.runtime`` (12.6+), else ``cuda.cudart`` (gone in 13)."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError as exc:
            raise BackendError(CUDA_HINT) from exc
    return cudart


# TensorRT DataType name -> numpy. Not ``trt.nptype``: 8.5.x builds its map with ``np.bool``, which numpy
# 1.24-1.26 do not have (removed in 1.24, back in 2.0), so on JetPack 5 no engine would open (NVIDIA/TensorRT#2557,
# #2701: "The fix will be in TRT 8.6"; 8.6's python/packaging/tensorrt/__init__.py maps ``bool: np.bool_``).
_NUMPY_OF_TRT = {
    "FLOAT": "float32",
    "HALF": "float16",
    "INT8": "int8",
    "INT32": "int32",
    "INT64": "int64",  # 10+
    "BOOL": "bool",  # numpy's np.bool_, whatever the numpy version
    "UINT8": "uint8",
}


def numpy_dtype(trt_dtype: Any) -> np.dtype:
    """The numpy dtype of a TensorRT ``DataType`` (an edgead engine's I/O is uint8 in, float32/fp16 out)."""
    name = getattr(trt_dtype, "name", str(trt_dtype).rpartition(".")[2])
    if name not in _NUMPY_OF_TRT:
        raise BackendError(f"engine tensor type {name} has no numpy type; edgead engines use {list(_NUMPY_OF_TRT)}")
    import numpy as np

    return np.dtype(_NUMPY_OF_TRT[name])


def io_api(tensorrt_version: str) -> str:
    """'binding' for TensorRT 8.x, 'tensor' (names + execute_async_v3) for 10 and later."""
    from ..engine_file import parse_version

    return "binding" if parse_version(tensorrt_version)[0] < 10 else "tensor"


def cuda_check(cudart: Any, result: Any, what: str) -> Any:
    """Unpack a cuda-python ``(error, value...)`` tuple; raise BackendError naming the call on failure."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        name = cudart.cudaGetErrorName(err)[1]
        name = name.decode() if isinstance(name, bytes) else str(name)
        raise BackendError(f"CUDA {what} failed: {name}; is a CUDA GPU visible (nvidia-smi / tegrastats)?")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def cuda_device(cudart: Any, device: int = 0) -> tuple[str, str]:
    """(name, compute capability 'major.minor') of CUDA device ``device``."""
    count = cuda_check(cudart, cudart.cudaGetDeviceCount(), "cudaGetDeviceCount")
    if device >= count:
        raise BackendError(f"CUDA device {device} does not exist; this machine has {count} (0..{count - 1})")
    props = cuda_check(cudart, cudart.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    return name.rstrip("\x00").strip(), f"{props.major}.{props.minor}"


def capturing_logger(trt: Any, echo_level: str | None = None) -> Any:
    """A trt.ILogger that keeps every message (TensorRT reports load failures only there).

    ``echo_level`` ("ERROR", "WARNING", "INFO") also prints messages that severe or worse to stderr.
    """

    class CapturingLogger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.messages: list[tuple[int, str]] = []
            self.echo = int(getattr(trt.ILogger.Severity, echo_level)) if echo_level else -1

        def log(self, severity: Any, msg: str) -> None:
            self.messages.append((int(severity), msg))
            if int(severity) <= self.echo:
                print(f"tensorrt: {msg}", file=sys.stderr)

        def lines(self, level: str = "WARNING") -> list[str]:
            limit = int(getattr(trt.ILogger.Severity, level))
            return [m for s, m in self.messages if s <= limit]

    return CapturingLogger()


class _TensorIO:
    """TensorRT >= 10: tensors by name, execute_async_v3."""

    def __init__(self, trt: Any, engine: Any, context: Any) -> None:
        self.trt, self.engine, self.context = trt, engine, context
        self.names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]

    def is_input(self, name: str) -> bool:
        return self.engine.get_tensor_mode(name) == self.trt.TensorIOMode.INPUT

    def dtype(self, name: str) -> np.dtype:
        return numpy_dtype(self.engine.get_tensor_dtype(name))

    def engine_shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.engine.get_tensor_shape(name))

    def profile(self, name: str) -> list[tuple[int, ...]]:
        return [tuple(shape) for shape in self.engine.get_tensor_profile_shape(name, 0)]

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        return bool(self.context.set_input_shape(name, shape))

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.context.get_tensor_shape(name))

    def bind(self, name: str, address: int) -> None:
        self.context.set_tensor_address(name, address)

    def execute(self, stream: int) -> bool:
        return bool(self.context.execute_async_v3(stream))


class _BindingIO:
    """TensorRT 8.5/8.6: binding indices, execute_async_v2 (removed in 10)."""

    def __init__(self, trt: Any, engine: Any, context: Any) -> None:
        self.trt, self.engine, self.context = trt, engine, context
        self.names = [engine.get_binding_name(i) for i in range(engine.num_bindings)]
        self.index = {name: i for i, name in enumerate(self.names)}
        self.addresses = [0] * len(self.names)

    def is_input(self, name: str) -> bool:
        return bool(self.engine.binding_is_input(self.index[name]))

    def dtype(self, name: str) -> np.dtype:
        return numpy_dtype(self.engine.get_binding_dtype(self.index[name]))

    def engine_shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.engine.get_binding_shape(self.index[name]))

    def profile(self, name: str) -> list[tuple[int, ...]]:
        return [tuple(shape) for shape in self.engine.get_profile_shape(0, self.index[name])]

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        return bool(self.context.set_binding_shape(self.index[name], shape))

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.context.get_binding_shape(self.index[name]))

    def bind(self, name: str, address: int) -> None:
        self.addresses[self.index[name]] = address

    def execute(self, stream: int) -> bool:
        return bool(self.context.execute_async_v2(bindings=self.addresses, stream_handle=stream))


@dataclass
class _Buffer:
    """One I/O tensor: device memory and pinned host memory sized for the largest batch."""

    name: str
    dtype: np.dtype
    device: int
    host_address: int
    host: np.ndarray  # flat view of the pinned host memory

    def view(self, shape: tuple[int, ...]) -> np.ndarray:
        import numpy as np

        return self.host[: int(np.prod(shape))].reshape(shape)


@dataclass(frozen=True)
class TensorRTOptions:
    device_id: int = device_option()


class TensorRTBackend(Backend):
    name = "tensorrt"
    library = "tensorrt"
    Options = TensorRTOptions

    def __init__(
        self,
        path: Path,
        metadata: ModelMetadata,
        info: EngineInfo,
        trt: Any,
        cudart: Any,
        engine: Any,
        device: int,
    ) -> None:
        self.trt, self.cudart, self.engine, self.info, self.device = trt, cudart, engine, info, device
        self._buffers: list[_Buffer] = []
        self._stream: Any = None
        self._runtime: Any = None  # set by open(): the engine must not outlive its runtime (nor its logger)
        self._logger: Any = None
        self.device_name = ""
        self.context = engine.create_execution_context()
        if self.context is None:
            raise BackendError(f"TensorRT could not create an execution context for '{path}' (out of GPU memory?)")
        self.io = (_BindingIO if io_api(trt.__version__) == "binding" else _TensorIO)(trt, engine, self.context)
        inputs = [n for n in self.io.names if self.io.is_input(n)]
        if len(inputs) != 1:
            raise ModelFileError(f"'{path}' has inputs {inputs}; an edgead engine has one (uint8 image)")
        profile = self.io.profile(inputs[0])  # min, opt, max input shapes
        self.min_batch, self.max_batch = profile[0][0], profile[-1][0]
        outputs = {n: self._dims(self.io.engine_shape(n)) for n in self.io.names if n not in inputs}
        super().__init__(path, metadata, inputs[0], self._dims(self.io.engine_shape(inputs[0])), outputs)
        try:
            self._allocate()
        except BaseException:
            self.close()  # a later allocation failed: free the stream and the buffers already allocated
            raise

    def _dims(self, shape: tuple[int, ...]) -> tuple[Dim, ...]:
        return tuple(f"batch<={self.max_batch}" if d < 0 else d for d in shape)

    @classmethod
    def _open(cls, path: str | Path, options: TensorRTOptions) -> TensorRTBackend:
        """Load ``path`` (+ ``path.json``) on CUDA device ``device_id``; a mismatched engine says how to rebuild."""
        from ..engine_file import compatibility_problem, deserialize_failure, device_warning, read_engine

        path, device_id = Path(path), options.device_id
        data, metadata, info = read_engine(path)  # file errors first: they need no GPU
        trt = import_tensorrt()
        cudart = import_cudart()
        name, capability = cuda_device(cudart, device_id)
        cuda_check(cudart, cudart.cudaSetDevice(device_id), "cudaSetDevice")
        problem = compatibility_problem(path, info, trt.__version__, name, capability)
        if problem:
            raise ModelFileError(problem)
        warning = device_warning(path, info, name)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
        logger = capturing_logger(trt)
        runtime = trt.Runtime(logger)
        if info.dla_core is not None:
            runtime.DLA_core = info.dla_core
        engine = runtime.deserialize_cuda_engine(data)
        if engine is None:
            raise ModelFileError(deserialize_failure(path, info, trt.__version__, name, logger.lines("ERROR")))
        backend = cls(path, metadata, info, trt, cudart, engine, device_id)
        backend._runtime, backend._logger = runtime, logger
        backend.device_name = name
        return backend

    def _allocate(self) -> None:
        import numpy as np

        cudart = self.cudart
        self._stream = cuda_check(cudart, cudart.cudaStreamCreate(), "cudaStreamCreate")
        max_input = (self.max_batch, *self.io.engine_shape(self.input_name)[1:])
        if not self.io.set_input_shape(self.input_name, max_input):
            raise BackendError(f"TensorRT rejected input shape {list(max_input)} for '{self.path}'")
        for name in self.io.names:
            shape = max_input if name == self.input_name else self.io.shape(name)
            dtype = self.io.dtype(name)
            nbytes = max(int(np.prod(shape)) * dtype.itemsize, 1)
            device_address = int(cuda_check(cudart, cudart.cudaMalloc(nbytes), f"cudaMalloc({nbytes})"))
            try:
                host_address = int(cuda_check(cudart, cudart.cudaMallocHost(nbytes), f"cudaMallocHost({nbytes})"))
            except BaseException:
                cudart.cudaFree(device_address)  # not in self._buffers yet, so close() would not free it
                raise
            raw = np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(host_address))
            host = raw[: nbytes - nbytes % dtype.itemsize].view(dtype)
            self._buffers.append(_Buffer(name, dtype, device_address, host_address, host))
            self.io.bind(name, device_address)

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "version": self.trt.__version__,
            "device": self.device_name,
            "precision": self.info.precision,
            "precision_mode": self.info.precision_mode,
            "max_batch": self.max_batch,
            "dla_core": self.info.dla_core,
        }

    def check_batch(self, batch: np.ndarray) -> None:
        super().check_batch(batch)
        if not self.min_batch <= batch.shape[0] <= self.max_batch:
            raise FrameMismatchError(
                f"'{self.path}' was built for batches of {self.min_batch} up to {self.max_batch}, got "
                f"{batch.shape[0]}: change --batch, or rebuild with other --min-batch/--max-batch"
            )

    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        import numpy as np

        cudart, stream = self.cudart, self._stream
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        if not self.io.set_input_shape(self.input_name, batch.shape):
            raise FrameMismatchError(f"TensorRT rejected input shape {list(batch.shape)} for '{self.path}'")
        shapes = {}
        for buf in self._buffers:
            if buf.name == self.input_name:
                staged = buf.view(batch.shape)
                staged[...] = batch  # casts if the engine's input is not uint8
                cuda_check(
                    cudart, cudart.cudaMemcpyAsync(buf.device, buf.host_address, staged.nbytes, h2d, stream), "H2D copy"
                )
        if not self.io.execute(int(stream)):
            raise BackendError(f"TensorRT failed to enqueue '{self.path}' for a batch of {batch.shape[0]}")
        for buf in self._buffers:
            if buf.name != self.input_name:
                shapes[buf.name] = self.io.shape(buf.name)
                nbytes = int(np.prod(shapes[buf.name])) * buf.dtype.itemsize
                cuda_check(
                    cudart, cudart.cudaMemcpyAsync(buf.host_address, buf.device, nbytes, d2h, stream), "D2H copy"
                )
        cuda_check(cudart, cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")
        by_name = {buf.name: buf for buf in self._buffers}
        return {name: by_name[name].view(shape).copy() for name, shape in shapes.items()}

    def close(self) -> None:
        cudart = self.cudart
        for buf in self._buffers:
            cudart.cudaFree(buf.device)
            cudart.cudaFreeHost(buf.host_address)
        self._buffers = []
        if self._stream is not None:
            cudart.cudaStreamDestroy(self._stream)
            self._stream = None
        self.context = self.engine = None
        super().close()
