"""The one parity check of export: a written graph against its reference on the same frames, torch-free.

Every file ``edgead export`` writes is compared with what it was made from before it is reported: the fp32
graph with torch (``onnx_export``), an fp16/int8 variant with its fp32 graph, an OpenVINO IR with the ONNX graph,
a TensorRT engine with ONNX Runtime. Each gives its reference outputs and its runs (one batch, frame by frame) to
``check_parity`` with a bound: relative for files that must compute the same numbers, absolute on the normalized
score and map for variants that round by design.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgead_runtime.errors import EdgeadError
from edgead_runtime.metadata import INPUT_NAME, OUTPUT_NAMES

PARITY_RTOL = 1e-4  # max |graph - reference| / max |reference|, per output
# Parity of a variant with its fp32 graph: max |diff| of the normalized score and map (both in [0, 1],
# threshold 0.5). fp16 and int8 round by design, so the bound catches a broken graph, not rounding;
# docs/precision.md lists what they measure on bottle (fp16 ~1e-3, int8 ~0.05-0.1).
VARIANT_ATOL = {"fp16": 0.02, "int8": 0.25}
VARIANT_JUDGED = ("score", "anomaly_map")  # the normalized outputs; raw ones have no common scale


class ExportParityError(EdgeadError):
    """The written file computes other numbers than what it was made from."""


@dataclass(frozen=True)
class ParityReport:
    """Per output: max abs difference and that divided by the largest reference value; label agreement if asked."""

    max_abs: dict[str, float]
    relative: dict[str, float]
    frames: int
    labels_agree: int | None = None  # frames labelled alike (score > threshold) by both; None when not compared

    def summary(self) -> str:
        text = ", ".join(f"{k} {self.max_abs[k]:.2e} (rel {self.relative[k]:.1e})" for k in self.max_abs)
        if self.labels_agree is not None:
            text += f"; labels agree on {self.labels_agree}/{self.frames}"
        return text


def max_differences(
    expected: dict[str, np.ndarray], got: dict[str, np.ndarray]
) -> tuple[dict[str, float], dict[str, float]]:
    """Per output of ``expected`` that ``got`` has: max |got - expected|, and that over the largest |expected|."""
    names = [name for name in expected if name in got]
    max_abs = {n: float(np.abs(got[n].astype(np.float32) - expected[n]).max()) for n in names}
    relative = {n: max_abs[n] / max(float(np.abs(expected[n]).max()), 1e-12) for n in names}
    return max_abs, relative


def run_batched_and_single(
    run: Callable[[np.ndarray], dict[str, np.ndarray]], frames: np.ndarray
) -> list[dict[str, np.ndarray]]:
    """Outputs for all frames as one batch, and frame by frame: a dynamic batch must not change numbers."""
    batched = run(frames)
    one_by_one = [run(frames[i : i + 1]) for i in range(len(frames))]
    single = {name: np.concatenate([outs[name] for outs in one_by_one]) for name in batched}
    return [batched, single]


def check_parity(
    expected: dict[str, np.ndarray],
    runs: Sequence[dict[str, np.ndarray]],
    path: Path,
    reference: str,
    kind: str,
    rtol: float | None = PARITY_RTOL,
    atol: float | None = None,
    judged: Sequence[str] | None = None,
    threshold: float | None = None,
    advice: str = "The file is kept for inspection; do not deploy it. Please report this with the run's config.json.",
) -> ParityReport:
    """The worst difference of ``runs`` from ``expected``; raise ExportParityError past ``rtol`` (relative) or
    ``atol`` (absolute) on the ``judged`` outputs (default all). With ``threshold``, count frames labelled alike."""
    diffs = [max_differences(expected, got) for got in runs]
    names = list(diffs[0][0])
    max_abs = {name: max(d[0][name] for d in diffs) for name in names}
    relative = {name: max(d[1][name] for d in diffs) for name in names}
    frames = len(next(iter(expected.values())))
    agree = None
    if threshold is not None:
        agree = min(int(((expected["score"] > threshold) == (got["score"] > threshold)).sum()) for got in runs)
    report = ParityReport(max_abs, relative, frames, agree)
    measured, bound, what = (relative, rtol, "relative") if atol is None else (max_abs, atol, "(normalized)")
    bad = {k: measured[k] for k in (judged or names) if not measured[k] <= bound}
    if bad:
        raise ExportParityError(
            f"'{path}' disagrees with {reference} on {frames} {kind} frames beyond {bound:g} {what}: "
            + ", ".join(f"{k} {v:.2e}" for k, v in bad.items())
            + f". {advice}"
        )
    return report


def onnxruntime_outputs(
    path: Path, frames: np.ndarray, simulate_quantization: bool = False, batch: int | None = None
) -> dict[str, np.ndarray]:
    """The graph's four outputs on ONNX Runtime's CPU provider (the reference every backend is held to), from one
    session; ``batch``: run the frames that many at a time (default: all in one call).

    ``simulate_quantization`` runs a Q/DQ graph with basic optimizations only, so each QuantizeLinear/
    DequantizeLinear pair is computed as written (int8 rounding and clipping, float arithmetic between) instead
    of being fused into ONNX Runtime's integer kernels. Those kernels use VPMADDUBSW on x86 CPUs without VNNI
    (AVX2 only, e.g. the AMD EPYC Zen 2 these tests run on), whose int16 intermediate sums saturate: ONNX
    Runtime's quantization docs ("When and why do I need to try U8U8?", "reduce_range") describe it. Measured
    here on the CI PatchCore int8 graph: image AUROC 0.83 fused vs 1.00 simulated (fp32 1.00). TensorRT
    accumulates int8 products in int32, so the simulated numbers are the ones an int8 engine is held to.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    if simulate_quantization:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    step = batch or max(len(frames), 1)
    runs = [session.run(list(OUTPUT_NAMES), {INPUT_NAME: frames[i : i + step]}) for i in range(0, len(frames), step)]
    return {name: np.concatenate([run[k] for run in runs]) for k, name in enumerate(OUTPUT_NAMES)}


def compare_variant(
    reference: Path, variant: Path, frames: np.ndarray, precision: str, threshold: float, kind: str = "real"
) -> ParityReport:
    """An fp16/int8 graph against its fp32 graph on ONNX Runtime; raise if the normalized score or map differs
    grossly (``VARIANT_ATOL``)."""
    return check_parity(
        onnxruntime_outputs(reference, frames),
        [onnxruntime_outputs(variant, frames, simulate_quantization=precision == "int8")],
        variant,
        f"its fp32 graph '{reference}'",
        kind,
        atol=VARIANT_ATOL[precision],
        judged=VARIANT_JUDGED,
        threshold=threshold,
        advice="Do not deploy it; use the fp32 graph, or report this with the run's config.json",
    )
