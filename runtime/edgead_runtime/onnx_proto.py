"""Just enough of the ONNX protobuf to read a model's metadata and its graph inputs and outputs, with no library.

Where TensorRT engines are built (a Jetson) there may be neither ``onnx`` nor onnxruntime, and the runtime
does not depend on either; ``edgead-runtime adopt`` only needs ``metadata_props`` and the I/O signature.
Field numbers are onnx/onnx.proto's (IR version 3 and later): ModelProto.graph = 7, .metadata_props = 14;
GraphProto.input = 11, .output = 12; ValueInfoProto.name = 1, .type = 2; TypeProto.tensor_type = 1;
TypeProto.Tensor.elem_type = 1, .shape = 2; TensorShapeProto.dim = 1; Dimension.dim_value = 1, .dim_param = 2;
StringStringEntryProto.key = 1, .value = 2. Initializers are skipped over by their length, never decoded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelFileError

# TensorProto.DataType -> numpy dtype name, for the types an edgead graph's inputs and outputs can have
ELEM_TYPES = {1: "float32", 2: "uint8", 3: "int8", 6: "int32", 7: "int64", 9: "bool", 10: "float16", 16: "bfloat16"}


@dataclass(frozen=True)
class TensorSignature:
    name: str
    dtype: str  # numpy name, or "onnx type N" for others
    shape: tuple[int | str, ...]  # dim_value, or dim_param for a named dynamic dimension


@dataclass(frozen=True)
class OnnxSummary:
    metadata: dict[str, str]
    inputs: list[TensorSignature]
    outputs: list[TensorSignature]


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def fields(data: memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """(field number, value) of one message: an int for varints, a memoryview for length-delimited fields."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated field")
            yield number, data[pos : pos + length]
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError(f"wire type {wire} is not used by ONNX")


def _text(value: int | memoryview) -> str:
    return bytes(value).decode("utf-8", errors="replace") if isinstance(value, memoryview) else str(value)


def _signature(value_info: memoryview) -> TensorSignature:
    name, dtype, shape = "", "undefined", []
    for number, value in fields(value_info):
        if number == 1:
            name = _text(value)
        elif number == 2:
            for t_number, tensor in fields(value):  # TypeProto
                if t_number != 1:
                    continue
                for s_number, s_value in fields(tensor):  # TypeProto.Tensor
                    if s_number == 1:
                        dtype = ELEM_TYPES.get(s_value, f"onnx type {s_value}")
                    elif s_number == 2:
                        for _, dim in fields(s_value):  # TensorShapeProto.dim
                            parts = dict(fields(dim))
                            shape.append(parts[1] if 1 in parts else _text(parts.get(2, b"?")))
    return TensorSignature(name, dtype, tuple(shape))


def read_summary(path: str | Path) -> OnnxSummary:
    """Metadata and graph I/O of the ONNX file ``path``; ModelFileError when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"ONNX file '{path}' does not exist; pass the graph the engine was built from")
    metadata: dict[str, str] = {}
    inputs: list[TensorSignature] = []
    outputs: list[TensorSignature] = []
    try:
        for number, value in fields(memoryview(path.read_bytes())):
            if number == 14:
                entry = {k: _text(v) for k, v in fields(value)}
                metadata[entry.get(1, "")] = entry.get(2, "")
            elif number == 7:
                for g_number, g_value in fields(value):
                    if g_number in (11, 12):
                        (inputs if g_number == 11 else outputs).append(_signature(g_value))
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"'{path}' is not a readable ONNX model ({exc}); export it again") from exc
    if not inputs or not outputs:
        raise ModelFileError(f"'{path}' has no graph inputs or outputs; is it an ONNX model? Export it again")
    return OnnxSummary(metadata, inputs, outputs)
