"""The bench report as PNG pictures: latency distribution per batch, FPS vs batch, and the stage split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingDependencyError

PLOTS_HINT = "pip install 'edgead-runtime[plots]'"


def write_plots(report: dict[str, Any], folder: str | Path) -> list[Path]:
    """PNG pictures of the report: latency distribution per batch, FPS vs batch, and the stage split."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no GUI backend, nothing global
        from matplotlib.ticker import FuncFormatter, LogLocator
    except ImportError as exc:
        raise MissingDependencyError(f"--plots needs matplotlib ({exc}): {PLOTS_HINT}") from exc
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    targets = report["targets"]
    batches = report["settings"]["batch_sizes"]
    written = []

    fig = Figure(figsize=(5 * len(batches), 4), layout="constrained")
    for ax, n in zip(fig.subplots(1, len(batches), squeeze=False)[0], batches, strict=True):
        for t in targets:
            samples = np.sort(next(g for g in t["batches"] if g["batch"] == n)["samples_ms"])
            ax.step(samples, np.arange(1, len(samples) + 1) / len(samples), where="post", label=t["label"])
        ax.set(title=f"batch {n}", xlabel="latency per call (ms, log scale)", ylabel="fraction of calls ≤ x")
        ax.set_xscale("log")  # a few slow calls must not squash the body of the distribution
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize="small")
    fig.suptitle("Graph latency distribution (empirical CDF; steeper and further left is better)")
    written.append(_save(fig, folder / "latency_cdf.png"))

    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for t in targets:
        ax.plot([g["batch"] for g in t["batches"]], [g["fps"] for g in t["batches"]], marker="o", label=t["label"])
    ax.set(xscale="log", xlabel="batch size", ylabel="frames per second (graph)", title="FPS vs batch")
    ax.set_xticks(batches, [str(n) for n in batches])
    ax.minorticks_off()
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    written.append(_save(fig, folder / "fps_vs_batch.png"))

    fig = Figure(figsize=(7, 1.6 + 0.5 * len(targets)), layout="constrained")
    ax = fig.subplots()
    left = np.zeros(len(targets))
    for stage in ("decode", "preprocess", "graph", "postprocess"):
        widths = np.array([_stage_ms(report, t, stage) for t in targets])
        ax.barh([t["label"] for t in targets], widths, left=left, label=stage)
        left += widths
    ax.set(xlabel="ms per frame (p50; graph at the smallest batch)", title="Where a frame's time goes")
    ax.invert_yaxis()
    fig.legend(*ax.get_legend_handles_labels(), fontsize="small", ncols=4, loc="outside lower center")
    written.append(_save(fig, folder / "stages.png"))
    return written


def _stage_ms(report: dict[str, Any], target: dict[str, Any], stage: str) -> float:
    if stage == "decode":
        return report["decode"]["p50_ms"]
    if stage == "graph":
        g = min(target["batches"], key=lambda g: g["batch"])
        return g["p50_ms"] / g["batch"]
    return (target[stage] or {}).get("p50_ms", 0.0)


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=120)
    return path
