"""CI's proof that every registered model family exports a TensorRT-ready graph: ``edgead doctor`` on the fp32
graph and on its fp16 and int8 variants, for TensorRT 8.5, 10.x and 11.x. PatchCore's edge bank options
(``--bank-dtype fp16``, ``--bank-dim 32``) change the graph, so their graphs are checked the same way.

Uses the session's ``trained`` runs (reduced bottle set, 128 px), so the training cost is shared with the
end-to-end tests. New model families are covered as soon as they are registered.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from edgead.export.doctor import diagnose
from edgead.train.models import model_names

from .trt_runs import BANK_OPTIONS, patchcore_bank  # noqa: F401 - a fixture, used by name

PRECISIONS = ("fp32", "fp16", "int8")
VERSIONS = ("8.5", "10", "11")
GRAPHS = (*model_names(), *BANK_OPTIONS)  # every family, and PatchCore with each bank option


@pytest.fixture(scope="session")
def graph_for(
    trained: Callable,
    patchcore_bank: Callable,  # noqa: F811 - the fixture
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str, str], Path]:
    """``graph_for(name, precision)``: the exported fp32 graph, or its fp16/int8 variant (made once)."""
    cache: dict[tuple[str, str], Path] = {}

    def get(name: str, precision: str) -> Path:
        t = patchcore_bank(name) if name in BANK_OPTIONS else trained(name)
        if precision == "fp32":
            return t.onnx
        if (name, precision) not in cache:
            from edgead.export.precision import quantize_int8, to_fp16
            from edgead.train.run_dir import load_parity_frames

            out = tmp_path_factory.mktemp(f"variant-{name}") / f"{name}.{precision}.onnx"
            if precision == "fp16":
                to_fp16(t.onnx, out)
            else:
                quantize_int8(t.onnx, out, load_parity_frames(t.run))
            cache[(name, precision)] = out
        return cache[(name, precision)]

    return get


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("name", GRAPHS)
def test_exported_graph_is_tensorrt_ready(graph_for: Callable, name: str, precision: str, version: str) -> None:
    """No error and no warning, TensorRT 8.5 (opset 17, as export writes it) included."""
    report = diagnose(graph_for(name, precision), "trt", version)
    problems = [f.line() for f in report.findings if f.severity != "info"]
    assert not problems, report.text()
