"""CI's proof that every registered model family exports a TensorRT-ready graph: ``edgead doctor`` on the fp32
graph and on its fp16 and int8 variants, for TensorRT 8.5, 10.x and 11.x.

Uses the session's ``trained`` runs (reduced bottle set, 128 px), so the training cost is shared with the
end-to-end tests. New model families are covered as soon as they are registered.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from edgead.export.doctor import diagnose
from edgead.train.models import model_names

PRECISIONS = ("fp32", "fp16", "int8")
VERSIONS = ("8.5", "10", "11")


@pytest.fixture(scope="session")
def graph_for(trained: Callable, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Path]:
    """``graph_for(model, precision)``: the exported fp32 graph, or its fp16/int8 variant (made once)."""
    cache: dict[tuple[str, str], Path] = {}

    def get(model: str, precision: str) -> Path:
        t = trained(model)
        if precision == "fp32":
            return t.onnx
        if (model, precision) not in cache:
            from edgead.export.precision import quantize_int8, to_fp16
            from edgead.train.run import load_parity_frames

            out = tmp_path_factory.mktemp(f"variant-{model}") / f"{model}.{precision}.onnx"
            if precision == "fp16":
                to_fp16(t.onnx, out)
            else:
                quantize_int8(t.onnx, out, load_parity_frames(t.run))
            cache[(model, precision)] = out
        return cache[(model, precision)]

    return get


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("model", model_names())
def test_exported_graph_is_tensorrt_ready(graph_for: Callable, model: str, precision: str, version: str) -> None:
    """No error and no warning, TensorRT 8.5 (opset 17, as export writes it) included."""
    report = diagnose(graph_for(model, precision), "trt", version)
    problems = [f.line() for f in report.findings if f.severity != "info"]
    assert not problems, report.text()
