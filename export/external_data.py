"""Where an ONNX graph's external data lives, checked before a parser opens it (torch-free).

A graph names its external data by a ``location`` relative to the graph's folder. ONNX Runtime, OpenVINO and
``onnx.load`` refuse one that leaves that folder, but TensorRT's parser (``--format trt``) is handed the file as
is; so ``edgead doctor`` refuses it first: an absolute location, one with ``..``, a symlink that resolves outside
the folder, and a missing file are errors. An empty file is refused too: protobuf parses zero bytes as an empty
model, which would pass every check.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath

import onnx
from onnx import TensorProto

from edgead_runtime.errors import ModelFileError


def check_not_empty(path: Path, proto: onnx.ModelProto) -> None:
    """A zero-byte file or a model without a graph is not a model."""
    if path.stat().st_size == 0:
        raise ModelFileError(f"'{path}' is empty (0 bytes); re-export it with `edgead export RUN_DIR --format onnx`")
    if not proto.graph.node and not proto.graph.input:
        raise ModelFileError(f"'{path}' holds no graph (no nodes, no inputs); it is not an exported model: re-export")


def external_tensors(proto: onnx.ModelProto) -> Iterator[TensorProto]:
    """Every tensor stored outside the file: initializers and tensors in node attributes (Constant)."""
    for tensor in proto.graph.initializer:
        if tensor.data_location == TensorProto.EXTERNAL:
            yield tensor
    for node in proto.graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_location == TensorProto.EXTERNAL:
                yield attr.t


def external_data_problems(path: Path, proto: onnx.ModelProto) -> list[str]:
    """One message per external-data location that leaves the model's folder or is missing."""
    folder = Path(path).resolve().parent
    problems: dict[str, str] = {}
    for tensor in external_tensors(proto):
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        if location in problems:
            continue
        if not location:
            problems[location] = f"tensor '{tensor.name}' is external but names no location"
        elif PurePosixPath(location).is_absolute() or PureWindowsPath(location).is_absolute():
            problems[location] = f"external data '{location}' is an absolute path; it must lie beside the model"
        elif ".." in PurePosixPath(location.replace("\\", "/")).parts:
            problems[location] = f"external data '{location}' climbs out of the model's folder ('..')"
        else:
            target = (folder / location).resolve()
            if not target.is_relative_to(folder):
                problems[location] = f"external data '{location}' is a link to '{target}', outside the model's folder"
            elif not target.is_file():
                problems[location] = f"external data '{location}' is missing beside the model"
    return list(problems.values())
