"""An edgead graph as a Triton Inference Server model repository: ``REPO/NAME/config.pbtxt`` + ``REPO/NAME/1/``.

The graph needs no custom code in Triton: its uint8 NHWC input and four float outputs map directly onto the
``onnxruntime_onnx`` platform (``1/model.onnx``) and the ``tensorrt_plan`` platform (``1/model.plan``, from an
engine built by ``edgead export --format trt``). Shapes follow Triton's rules (server docs,
``docs/user_guide/model_configuration.md``): with ``max_batch_size > 0`` the batch dimension is left out of
``dims``; an output that is only ``[N]`` (the scores) is declared ``dims: [ 1 ]`` with ``reshape: { shape: [ ] }``.
The edgead metadata (threshold, input size, model) rides in ``parameters`` so a client reads it from the server's
model configuration and needs no local copy.

``config.pbtxt`` is written as text here, with no tritonclient dependency; the tests parse every generated
file with tritonclient's own protobuf schema (``model_config_pb2``), so a wrong field or enum fails there.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgead_runtime.engine_file import EngineInfo, read_engine
from edgead_runtime.errors import EdgeadError
from edgead_runtime.files import atomic_write
from edgead_runtime.metadata import INPUT_NAME, METADATA_KEY, OUTPUT_NAMES, ModelMetadata

from .formats import Written

TENSORRT_KEY = "edgead_tensorrt"  # the engine's build facts (TensorRT version, GPU), beside the metadata
DEFAULT_MAX_BATCH = 8
DEFAULT_QUEUE_DELAY_US = 1000
KINDS = {"cpu": "KIND_CPU", "gpu": "KIND_GPU"}
_TYPES = {np.dtype(np.uint8): "TYPE_UINT8", np.dtype(np.float32): "TYPE_FP32", np.dtype(np.float16): "TYPE_FP16"}
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Tensor:
    """One input or output as the server sees it: per-item dims (no batch dim) and the Triton type."""

    name: str
    data_type: str
    dims: tuple[int, ...]

    def text(self) -> str:
        dims = self.dims or (1,)  # Triton needs non-empty dims: an [N] output is [N, 1] to clients
        reshape = "\n    reshape: { shape: [ ] }" if not self.dims else ""
        return (
            f'  {{\n    name: "{self.name}"\n    data_type: {self.data_type}\n'
            f"    dims: [ {', '.join(str(d) for d in dims)} ]{reshape}\n  }}"
        )


@dataclass(frozen=True)
class Serving:
    """How Triton serves the model: the user's options, checked."""

    name: str
    max_batch: int | None  # None: the default (8, or an engine's profile maximum if smaller)
    instances: int
    kind: str  # "cpu" | "gpu"
    queue_delay_us: int


def write_triton_repo(
    source: Path,
    output: Path,
    precision: str,
    part: str,
    name: str | None = None,
    max_batch: int | None = None,
    instances: int | None = None,
    kind: str | None = None,
    queue_delay_us: int | None = None,
) -> Written:
    """The format table's writer: a run directory (exported to ONNX first), an ``.onnx`` or an ``.engine``."""
    source, repo = Path(source), Path(output)
    if part != "full":
        raise EdgeadError("--format triton serves the full graph (score and anomaly maps); drop --part")
    engine = source.is_file() and source.suffix.lower() in (".engine", ".plan")
    name = name or (source.stem if source.is_file() else source.name)
    if not _NAME.match(name):
        raise EdgeadError(f"Triton model name '{name}' may hold only letters, digits, '.', '_' and '-'; pass --name")
    kind = kind or ("gpu" if engine else "cpu")
    if kind not in KINDS:
        raise EdgeadError(f"--kind must be one of {', '.join(KINDS)}, not '{kind}'")
    for flag, value in (("--max-batch", max_batch), ("--instances", instances)):
        if value is not None and value < 1:
            raise EdgeadError(f"{flag} must be >= 1, got {value}")
    if queue_delay_us is not None and queue_delay_us < 0:
        raise EdgeadError(f"--queue-delay-us must be >= 0, got {queue_delay_us}")
    serving = Serving(
        name, max_batch, instances or 1, kind, DEFAULT_QUEUE_DELAY_US if queue_delay_us is None else queue_delay_us
    )
    model_dir = repo / name
    version_dir = model_dir / "1"
    version_dir.mkdir(parents=True, exist_ok=True)
    checks: list[str] = []
    if engine:
        files, config = _from_engine(source, version_dir, serving, checks)
    else:
        files, config = _from_onnx(source, version_dir, precision, serving, checks)
    config_path = model_dir / "config.pbtxt"
    atomic_write(config_path, lambda tmp: Path(tmp).write_text(config))
    checks.append(f"wrote {config_path} ({config.count(chr(10))} lines)")
    hint = (
        f"tritonserver --model-repository {repo}   then   edgead-runtime predict triton://HOST:8001/{name} --source DIR"
    )
    return Written([config_path, *files], checks, hint)


def _from_onnx(
    source: Path, version_dir: Path, precision: str, serving: Serving, checks: list[str]
) -> tuple[list[Path], str]:
    target = version_dir / "model.onnx"
    if source.is_file():
        if source.suffix.lower() != ".onnx":
            raise EdgeadError(f"'{source}' is not an .onnx graph or a TensorRT .engine; --format triton takes those")
        files = _copy_graph(source, target)
    else:  # a run directory: export (and check against torch) straight into the repository
        from .onnx_format import write_onnx

        written = write_onnx(source, target, precision, "full")
        files, checks[:0] = [p for p in written.files if p.parent == version_dir], written.checks
    (version_dir / "model.plan").unlink(missing_ok=True)  # a stale engine of an earlier export would confuse
    metadata, tensors = _onnx_tensors(target)
    if source.is_file() and precision not in ("fp32", metadata.precision):
        raise EdgeadError(
            f"'{source}' is a {metadata.precision} graph; --precision applies to a run directory, "
            f"export the run with --precision {precision} first"
        )
    batch = serving.max_batch or DEFAULT_MAX_BATCH
    return files, model_config(serving, "onnxruntime_onnx", batch, tensors, [batch], metadata)


def _from_engine(source: Path, version_dir: Path, serving: Serving, checks: list[str]) -> tuple[list[Path], str]:
    if serving.kind != "gpu":
        raise EdgeadError(f"'{source}' is a TensorRT engine, which runs on a GPU only: drop --kind {serving.kind}")
    data, metadata, info = read_engine(source)  # sidecar present, SHA-256 matches
    low, opt, high = info.batch
    if low > 1:
        raise EdgeadError(
            f"'{source}' takes batches of {low} to {high}; Triton sends any batch from 1 to max_batch_size, so "
            "rebuild it with --min-batch 1"
        )
    batch = serving.max_batch or min(DEFAULT_MAX_BATCH, high)
    if batch > high:
        raise EdgeadError(
            f"--max-batch {batch} is larger than the {high} '{source}' was built for; rebuild or lower it"
        )
    target = version_dir / "model.plan"
    atomic_write(target, lambda tmp: Path(tmp).write_bytes(data))
    (version_dir / "model.onnx").unlink(missing_ok=True)
    tensors = _engine_tensors(source, info, metadata)
    checks.append(
        f"engine {source.name}: TensorRT {info.tensorrt_version} for {info.device} (compute capability "
        f"{info.compute_capability}); it loads only in a Triton built on that TensorRT release, on that GPU family"
    )
    preferred = sorted({min(max(opt, 1), batch), batch})
    extra = {TENSORRT_KEY: json.dumps(info.to_dict(), sort_keys=True)}
    return [target], model_config(serving, "tensorrt_plan", batch, tensors, preferred, metadata, extra)


def model_config(
    serving: Serving,
    platform: str,
    max_batch: int,
    tensors: list[Tensor],
    preferred: list[int],
    metadata: ModelMetadata,
    extra: dict[str, str] | None = None,
) -> str:
    """The ``config.pbtxt`` text (protobuf text format of Triton's ``ModelConfig``)."""
    inputs = [t for t in tensors if t.name == INPUT_NAME]
    outputs = [t for t in tensors if t.name != INPUT_NAME]
    parameters = {METADATA_KEY: metadata.to_json(), **(extra or {})}
    lines = [
        f'name: "{serving.name}"',
        f'platform: "{platform}"',
        f"max_batch_size: {max_batch}",
        "input [\n" + ",\n".join(t.text() for t in inputs) + "\n]",
        "output [\n" + ",\n".join(t.text() for t in outputs) + "\n]",
        "dynamic_batching {\n"
        f"  preferred_batch_size: [ {', '.join(str(b) for b in preferred)} ]\n"
        f"  max_queue_delay_microseconds: {serving.queue_delay_us}\n}}",
        f"instance_group [\n  {{\n    count: {serving.instances}\n    kind: {KINDS[serving.kind]}\n  }}\n]",
        *(
            f"parameters {{\n  key: {_quote(key)}\n  value: {{ string_value: {_quote(value)} }}\n}}"
            for key, value in parameters.items()
        ),
    ]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    """A protobuf text-format string literal (C escapes); the JSON is ASCII (json.dumps' default)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _copy_graph(source: Path, target: Path) -> list[Path]:
    """Copy the graph, and its external-data file under the name the graph refers to (past 2 GB of weights)."""
    atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))
    files = [target]
    data = source.with_name(source.name + ".data")
    if data.is_file():
        files.append(target.with_name(data.name))
        atomic_write(files[-1], lambda tmp: shutil.copyfile(data, tmp))
    return files


def _onnx_tensors(path: Path) -> tuple[ModelMetadata, list[Tensor]]:
    """Metadata and exact per-item shapes and types, from one ONNX Runtime call on a black frame."""
    from edgead_runtime.backends.onnxruntime import OnnxRuntimeBackend

    with OnnxRuntimeBackend.open(path, providers=["CPUExecutionProvider"]) as backend:
        metadata = backend.metadata
        missing = [n for n in OUTPUT_NAMES if n not in backend.output_names]
        if metadata.part != "full" or missing:
            raise EdgeadError(f"'{path}' is a '{metadata.part}' graph without {missing}; export the full model")
        frame = np.zeros((1, metadata.height, metadata.width, 3), np.uint8)
        outputs = backend.run(frame)
    tensors = [Tensor(backend.input_name, "TYPE_UINT8", (metadata.height, metadata.width, 3))]
    for out_name in OUTPUT_NAMES:
        value = outputs[out_name]
        if value.dtype not in _TYPES:
            raise EdgeadError(f"'{path}' output '{out_name}' is {value.dtype}, which this writer does not map")
        tensors.append(Tensor(out_name, _TYPES[value.dtype], tuple(int(d) for d in value.shape[1:])))
    return metadata, tensors


def _engine_tensors(source: Path, info: EngineInfo, metadata: ModelMetadata) -> list[Tensor]:
    """An engine's tensors, read from the ONNX graph it was built from (no TensorRT on the writing machine).

    An engine keeps the graph's names, shapes and output types (fp16/int8 engines compute inside, the
    outputs stay float32), so the source graph beside the engine describes it exactly.
    """
    onnx_path = source.parent / info.source_onnx
    if not onnx_path.is_file():
        raise EdgeadError(
            f"'{source}' was built from '{info.source_onnx}', which is not beside it; the repository's tensor shapes "
            f"come from that graph: copy it to {onnx_path}"
        )
    graph_metadata, tensors = _onnx_tensors(onnx_path)
    if graph_metadata.size != metadata.size or graph_metadata.model != metadata.model:
        raise EdgeadError(f"'{onnx_path}' is not the graph '{source}' was built from (other model or input size)")
    return tensors
