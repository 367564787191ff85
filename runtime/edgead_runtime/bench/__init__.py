"""Latency, throughput, memory and accuracy of exported graphs on any backend, recorded with the machine.

A *target* is a model file on a backend at a precision (``targets``). Targets given together are timed
round-robin in short blocks (``timing``), so drift (turbo, thermals, other load) hits them alike and their
ratios are fair. A frame's path is split into stages (``run``): decode (image file -> pixels), preprocess
(``prepare_frame``), graph (the backend call, as ``Backend.last_run_s`` records it) and postprocess
(``detector.make_result``). ``time_callable`` and ``time_interleaved`` take any callable, so the training
side times a torch forward the same way.

``bench`` returns a report with a versioned schema (``SCHEMA``; docs/bench.md lists every field), with the
machine (``edgead_runtime.system``), accuracy (``accuracy``) and per-target memory (``memory``, a fresh
process each); ``format_report`` renders it as Markdown (``report``) and ``write_plots`` as PNG (``plots``).
"""

from ..system import machine_info, parse_nvidia_smi, parse_nvpmodel, parse_tegra_release, peak_rss_mb
from .frames import synthetic_frame
from .plots import write_plots
from .report import format_report
from .run import SCHEMA, bench, bench_model
from .targets import Target, parse_targets, reference_indices
from .timing import LatencyStats, time_callable, time_interleaved, time_interleaved_samples

__all__ = [
    "SCHEMA",
    "LatencyStats",
    "Target",
    "bench",
    "bench_model",
    "format_report",
    "machine_info",
    "parse_nvidia_smi",
    "parse_nvpmodel",
    "parse_targets",
    "parse_tegra_release",
    "peak_rss_mb",
    "reference_indices",
    "synthetic_frame",
    "time_callable",
    "time_interleaved",
    "time_interleaved_samples",
    "write_plots",
]
