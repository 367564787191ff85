"""Small but real ONNX graphs with the exported contract, built with onnx.helper (a dev-only dependency)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from edgead_runtime.metadata import ModelMetadata

DATA = Path(os.environ.get("EDGEAD_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data")
BOTTLE = DATA / "mvtec_ad" / "bottle" / "test"
TILE = DATA / "magnetic_tile" / "test"
HEIGHT, WIDTH = 48, 64  # not square, so a swapped (h, w) shows
NORM = {"threshold": 0.54, "min": 0.2, "max": 0.8}  # bottle frames score either side of 0.5


def reference(batch: np.ndarray) -> dict[str, np.ndarray]:
    """The fixture graph's formula in numpy, to check the runtime's numbers against."""
    raw_map = (batch.astype(np.float32) / 255.0).mean(axis=3)
    raw_score = raw_map.mean(axis=(1, 2))

    def norm(x: np.ndarray) -> np.ndarray:
        return np.clip((x - NORM["threshold"]) / (NORM["max"] - NORM["min"]) + 0.5, 0.0, 1.0)

    return {
        "score": norm(raw_score),
        "anomaly_map": norm(raw_map),
        "raw_score": raw_score,
        "raw_anomaly_map": raw_map,
    }


def graph_model(nodes: list, outputs: list, initializers: list, metadata: ModelMetadata | None) -> onnx.ModelProto:
    image = helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", HEIGHT, WIDTH, 3])
    graph = helper.make_graph(nodes, "edgead_fixture", [image], outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if metadata is not None:
        helper.set_model_props(model, {"edgead": metadata.to_json()})
    onnx.checker.check_model(model, full_check=True)
    return model


def _const(name: str, value: float) -> onnx.TensorProto:
    return helper.make_tensor(name, TensorProto.FLOAT, [], [value])


def full_model(metadata: ModelMetadata | None) -> onnx.ModelProto:
    t, lo, hi = NORM["threshold"], NORM["min"], NORM["max"]
    initializers = [_const("k255", 255.0), _const("t", t), _const("span", hi - lo), _const("half", 0.5)]
    initializers += [_const("zero", 0.0), _const("one", 1.0)]
    nodes = [
        helper.make_node("Cast", ["image"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["x", "k255"], ["x01"]),
        helper.make_node("ReduceMean", ["x01"], ["raw_anomaly_map"], axes=[3], keepdims=0),
        helper.make_node("ReduceMean", ["raw_anomaly_map"], ["raw_score"], axes=[1, 2], keepdims=0),
    ]
    for raw, out in (("raw_score", "score"), ("raw_anomaly_map", "anomaly_map")):
        nodes += [
            helper.make_node("Sub", [raw, "t"], [f"{out}_c"]),
            helper.make_node("Div", [f"{out}_c", "span"], [f"{out}_s"]),
            helper.make_node("Add", [f"{out}_s", "half"], [f"{out}_h"]),
            helper.make_node("Clip", [f"{out}_h", "zero", "one"], [out]),
        ]
    outputs = [
        helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"]),
        helper.make_tensor_value_info("anomaly_map", TensorProto.FLOAT, ["N", HEIGHT, WIDTH]),
        helper.make_tensor_value_info("raw_score", TensorProto.FLOAT, ["N"]),
        helper.make_tensor_value_info("raw_anomaly_map", TensorProto.FLOAT, ["N", HEIGHT, WIDTH]),
    ]
    return graph_model(nodes, outputs, initializers, metadata)


def metadata(part: str = "full") -> ModelMetadata:
    norm = {"image": NORM, "pixel": NORM}
    return ModelMetadata("fixture", "mean_rgb", HEIGHT, WIDTH, part=part, normalization=norm)
