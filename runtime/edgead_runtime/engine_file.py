"""A TensorRT engine file and its metadata sidecar: write, read, check it fits this machine.

``model.engine`` is the plain serialized TensorRT plan; ``model.engine.json`` beside it holds the
same JSON as the ONNX graph's ``metadata_props`` (key ``edgead``) plus a ``"tensorrt"`` section:
TensorRT version, device name, compute capability, precision, batch profile, the engine's size and
SHA-256, and the flags that rebuild it.

Why a sidecar and not a length-prefixed header: the engine stays a plan that NVIDIA's tools load
unchanged (``trtexec --loadEngine``, Polygraphy, Triton's ``tensorrt_plan``, the C++ runtime with
nothing to skip), which is how Jetson users benchmark and deploy; DeepStream's nvinfer is not one of
them, it feeds engines float planar tensors (docs/tensorrt.md). The price is two files to copy; the
SHA-256 in the sidecar makes a stale or mismatched pair a clear error instead of wrong numbers.

Everything here is pure Python (no TensorRT, no CUDA), so it is tested on machines without a GPU.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelFileError
from .files import write_bytes, write_json
from .metadata import ModelMetadata

TRT_KEY = "tensorrt"
SIDECAR_SUFFIX = ".json"


def sidecar_path(engine: str | Path) -> Path:
    """``model.engine`` -> ``model.engine.json``."""
    engine = Path(engine)
    return engine.with_name(engine.name + SIDECAR_SUFFIX)


def parse_version(text: str) -> tuple[int, ...]:
    """'8.5.2.2' -> (8, 5, 2, 2); trailing text such as '10.0.0b6' keeps its leading digits."""
    parts: list[int] = []
    for piece in str(text).split("."):
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
    if not parts:
        raise ValueError(f"'{text}' is not a version number")
    return tuple(parts)


@dataclass(frozen=True)
class EngineInfo:
    """What a built engine is tied to, and how to rebuild it."""

    tensorrt_version: str
    device: str
    compute_capability: str  # "8.7"
    precision: str  # fp32 | fp16 | int8
    precision_mode: str  # graph | builder
    batch: tuple[int, int, int]  # min, opt, max of the optimization profile
    source_onnx: str  # file name of the ONNX graph it was built from (beside the engine, usually)
    build_args: list[str] = field(default_factory=list)  # `edgead export` flags that rebuild it
    dla_core: int | None = None
    engine_bytes: int = 0
    engine_sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["batch"] = {"min": self.batch[0], "opt": self.batch[1], "max": self.batch[2]}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "engine") -> EngineInfo:
        try:
            batch = data["batch"]
            return cls(
                tensorrt_version=str(data["tensorrt_version"]),
                device=str(data["device"]),
                compute_capability=str(data["compute_capability"]),
                precision=str(data["precision"]),
                precision_mode=str(data.get("precision_mode", "graph")),
                batch=(int(batch["min"]), int(batch["opt"]), int(batch["max"])),
                source_onnx=str(data.get("source_onnx", "model.onnx")),
                build_args=[str(a) for a in data.get("build_args", [])],
                dla_core=None if data.get("dla_core") is None else int(data["dla_core"]),
                engine_bytes=int(data.get("engine_bytes", 0)),
                engine_sha256=str(data.get("engine_sha256", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(
                f"{source}: the '{TRT_KEY}' metadata is malformed ({exc!r}); rebuild the engine"
            ) from exc


def engine_metadata(onnx_metadata: dict[str, Any], info: EngineInfo) -> dict[str, Any]:
    """The sidecar JSON: the ONNX graph's metadata, unchanged, plus the engine's own section."""
    return {**onnx_metadata, TRT_KEY: info.to_dict()}


def write_engine(path: str | Path, engine: bytes | memoryview, onnx_metadata: dict[str, Any], info: EngineInfo) -> Path:
    """Write the engine and its sidecar, each atomically; the sidecar's SHA-256 ties the pair together."""
    path = Path(path)
    data = bytes(engine)
    info = EngineInfo(**{**asdict(info), "engine_bytes": len(data), "engine_sha256": hashlib.sha256(data).hexdigest()})
    write_bytes(path, data)
    write_json(sidecar_path(path), engine_metadata(onnx_metadata, info))
    return path


def read_engine(path: str | Path) -> tuple[bytes, ModelMetadata, EngineInfo]:
    """The engine bytes, the model metadata and the engine info; ModelFileError naming the fix otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(
            f"engine file '{path}' does not exist; build it with `edgead export MODEL.onnx --format trt -o {path}`"
        )
    side = sidecar_path(path)
    if not side.is_file():
        raise ModelFileError(
            f"'{path}' has no metadata file '{side.name}' beside it; copy it together with the engine, "
            f"or rebuild both with `edgead export MODEL.onnx --format trt -o {path}`"
        )
    try:
        meta = json.loads(side.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"cannot read '{side}' ({exc}); rebuild the engine with `edgead export`") from exc
    if TRT_KEY not in meta:
        raise ModelFileError(f"'{side}' has no '{TRT_KEY}' section; it is not an edgead engine sidecar, rebuild it")
    info = EngineInfo.from_dict(meta[TRT_KEY], source=str(side))
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if info.engine_sha256 and digest != info.engine_sha256:
        raise ModelFileError(
            f"'{path}' ({len(data):,} bytes) is not the engine '{side.name}' describes ({info.engine_bytes:,} bytes, "
            f"other SHA-256): copy the matching pair, or {rebuild_hint(path, info)}"
        )
    body = {k: v for k, v in meta.items() if k != TRT_KEY}
    return data, ModelMetadata.from_json(json.dumps(body), source=str(side)), info


def rebuild_command(engine: str | Path, info: EngineInfo) -> str:
    """The exact `edgead export` command that rebuilds ``engine`` with the same settings on this machine."""
    engine = Path(engine)
    onnx = engine.parent / info.source_onnx
    args = ["edgead", "export", str(onnx), "--format", "trt", *info.build_args, "-o", str(engine)]
    return shlex.join(args)


def rebuild_hint(engine: str | Path, info: EngineInfo) -> str:
    return f"rebuild it on this machine from its ONNX graph: `{rebuild_command(engine, info)}`"


def compatibility_problem(
    engine: str | Path, info: EngineInfo, tensorrt_version: str, device: str, compute_capability: str
) -> str | None:
    """Why this engine cannot load here (other TensorRT version or GPU architecture), or None.

    TensorRT engines are tied to the TensorRT release (major.minor.patch) and to the GPU's compute
    capability they were built for; deserializing anything else fails, with the reason only in the log.
    """
    built = parse_version(info.tensorrt_version)[:3]
    running = parse_version(tensorrt_version)[:3]
    if built == running and info.compute_capability == compute_capability:
        return None
    return (
        f"'{engine}' was built with TensorRT {info.tensorrt_version} on {info.device} (compute capability "
        f"{info.compute_capability}); this machine runs TensorRT {tensorrt_version} on {device} (compute capability "
        f"{compute_capability}). An engine only loads with the TensorRT version and GPU it was built for: "
        f"{rebuild_hint(engine, info)}"
    )


def device_warning(engine: str | Path, info: EngineInfo, device: str) -> str | None:
    """Same architecture, other GPU model: it loads, but its kernels were timed on another chip."""
    if info.device == device:
        return None
    return (
        f"'{engine}' was built on {info.device} and runs on {device} "
        f"(same compute capability {info.compute_capability}); "
        f"its kernels were chosen for the other GPU: for the best latency, {rebuild_hint(engine, info)}"
    )


def deserialize_failure(
    engine: str | Path, info: EngineInfo, tensorrt_version: str, device: str, log: list[str]
) -> str:
    """The message for ``deserialize_cuda_engine`` returning None, with what TensorRT logged."""
    logged = "; ".join(line.strip() for line in log if line.strip()) or "nothing logged"
    hint = rebuild_hint(engine, info)  # not str.capitalize(): it would lower-case the command's paths
    return (
        f"TensorRT {tensorrt_version} on {device} could not load '{engine}' (built with TensorRT "
        f"{info.tensorrt_version} on {info.device}); TensorRT said: {logged}. {hint[:1].upper()}{hint[1:]}"
    )
