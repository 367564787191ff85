"""Latency, throughput, memory and accuracy of exported graphs on any backend, recorded with the machine.

A *target* is a model file on a backend at a precision. Targets given together are timed round-robin
in short blocks, so drift (turbo, thermals, other load) hits them alike and their ratios are fair.
A frame's path is split into stages: decode (image file -> pixels), preprocess (``prepare_frame``),
graph (the backend call) and postprocess (``detector.make_result``). ``time_callable`` and
``time_interleaved`` take any callable, so the training side times a torch forward the same way.

``bench`` returns a report with a versioned schema (``SCHEMA``; docs/bench.md lists every field);
``format_report`` renders it as Markdown and ``write_plots`` as PNG pictures.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from . import __version__
from .backends import backend_for, backend_name, open_backend
from .backends.base import Backend
from .errors import BackendError, EdgeadError, MissingDependencyError
from .metadata import OUTPUT_NAMES

T = TypeVar("T")
SCHEMA = "edgead-bench/2"  # bump when a field changes meaning or goes away; adding fields keeps it
ACCURACY_BATCH = 8
PLOTS_HINT = "pip install 'edgead-runtime[plots]'"


@dataclass(frozen=True)
class LatencyStats:
    """Per-call wall time in milliseconds over the timed iterations (warm-up excluded)."""

    iters: int
    mean_ms: float
    std_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @classmethod
    def from_seconds(cls, samples: Sequence[float]) -> LatencyStats:
        ms = np.asarray(samples, dtype=np.float64) * 1e3
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        std = statistics.stdev(ms) if len(ms) > 1 else 0.0
        return cls(len(ms), float(ms.mean()), float(std), float(p50), float(p90), float(p99))


def time_interleaved_samples(
    calls: Sequence[Callable[[], object]], warmup: int = 10, iters: int = 100, block: int = 10
) -> list[list[float]]:
    """Per call, ``iters`` wall times in seconds after ``warmup`` untimed calls, alternating calls in blocks.

    Each round runs one call ``block`` times in a row, after one untimed call: engines that keep
    their worker threads spinning after a call (ONNX Runtime does, for latency) would otherwise
    slow down whichever engine runs next, and the comparison would measure that cross-talk.
    """
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    for call in calls:
        for _ in range(warmup):
            call()
    samples: list[list[float]] = [[] for _ in calls]
    while len(samples[0]) < iters:
        for call, times in zip(calls, samples, strict=True):
            call()  # untimed: lets the previous engine's threads go idle
            for _ in range(min(block, iters - len(times))):
                start = time.perf_counter()
                call()
                times.append(time.perf_counter() - start)
    return samples


def time_interleaved(
    calls: Sequence[Callable[[], object]], warmup: int = 10, iters: int = 100, block: int = 10
) -> list[LatencyStats]:
    """``time_interleaved_samples`` summarised per call."""
    return [LatencyStats.from_seconds(s) for s in time_interleaved_samples(calls, warmup, iters, block)]


def time_callable(
    fn: Callable[[T], object], make_input: Callable[[], T], warmup: int = 10, iters: int = 100
) -> LatencyStats:
    """Time ``fn(x)``; ``x = make_input()`` is built once, outside the timing."""
    x = make_input()
    return time_interleaved([lambda: fn(x)], warmup, iters)[0]


# ---------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """One thing to time: a model file on a backend, at a precision (None: the backend's default)."""

    path: Path
    backend: str
    precision: str | None = None

    @property
    def label(self) -> str:
        engine = self.backend if self.precision is None else f"{self.backend}:{self.precision}"
        return f"{self.path.name} {engine}"

    def open(self, options: dict[str, Any]) -> Backend:
        if self.precision is not None:
            options = {**options, "precision": self.precision}
        return open_backend(self.path, self.backend, **options)


def parse_targets(
    models: Sequence[str | Path],
    compare: Sequence[str] | None = None,
    backend: str = "auto",
    precision: str | None = None,
) -> list[Target]:
    """Models x ``compare`` specs (``backend`` or ``backend:precision``), or each model on ``backend``."""
    if compare and (backend != "auto" or precision is not None):
        raise BackendError("--compare names the backend and precision of each target; drop --backend/--precision")
    specs = [s.partition(":")[::2] for s in compare] if compare else [(backend, precision or "")]
    targets = []
    for path in map(Path, models):
        for word, prec in specs:
            name = backend_name(word)  # an alias (trt, ort) names the same backend
            targets.append(Target(path, backend_for(path) if name == "auto" else name, prec or None))
    return targets


def reference_indices(targets: Sequence[Target]) -> list[int]:
    """Each target's reference for ratios and AUROC deltas: the first target on the same model file when that
    file is timed more than once (``--compare``: its backends compare among themselves), else the first target."""
    paths = [t.path for t in targets]
    return [paths.index(p) if paths.count(p) > 1 else 0 for p in paths]


# ---------------------------------------------------------------- the run


def bench(
    targets: Sequence[Target],
    batch_sizes: Sequence[int] = (1, 8),
    warmup: int = 10,
    iters: int = 100,
    source: str | Path | None = None,
    accuracy: str | Path | None = None,
    memory: bool = True,
    block: int = 10,
    backend_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Time every target in one interleaved run; add per-target memory and accuracy; return the report."""
    from tqdm import tqdm

    from .preprocess import read_image

    if not targets:
        raise EdgeadError("nothing to benchmark; give at least one model file")
    if not batch_sizes or min(batch_sizes) < 1:
        raise EdgeadError(f"batch sizes must be >= 1, got {list(batch_sizes)}")
    options = dict(backend_options or {})
    backends: list[Backend] = []
    with tempfile.TemporaryDirectory(prefix="edgead-bench-") as tmp:
        try:
            open_ms = []
            for target in targets:
                start = time.perf_counter()
                backends.append(target.open(options))
                open_ms.append((time.perf_counter() - start) * 1e3)
            frame_path = Path(source) if source is not None else _synthetic_file(backends[0], Path(tmp))
            frame = read_image(frame_path)
            (decode,) = time_interleaved([lambda: read_image(frame_path)], warmup, iters, block)
            reports = [_describe(t, b) for t, b in zip(targets, backends, strict=True)]
            for report, ms in zip(reports, open_ms, strict=True):
                report["startup"] = {"open_ms": ms}
            refs = reference_indices(targets)
            for report, ref in zip(reports, refs, strict=True):
                report["reference"] = targets[ref].label
            steps = tqdm(total=1 + len(batch_sizes) + bool(accuracy), desc="bench", unit="step")
            try:
                prepared = _time_stages(backends, reports, frame, warmup, iters, block)
                steps.update()
                for n in batch_sizes:
                    steps.set_postfix_str(f"batch {n}")
                    _time_batch(backends, reports, refs, prepared, n, warmup, iters, block)
                    steps.update()
                if accuracy is not None:
                    steps.set_postfix_str("accuracy")
                    _accuracy(backends, reports, refs, Path(accuracy))
                    steps.update()
            finally:
                steps.close()
        finally:
            for b in backends:
                b.close()
    decode_ms = decode.p50_ms
    for report in reports:
        report["pipeline_fps"] = _pipeline_fps(report, decode_ms)
        report["memory"] = _measure_memory(report, options, max(batch_sizes)) if memory else None
    return {
        "schema": SCHEMA,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {
            "batch_sizes": list(batch_sizes),
            "warmup": warmup,
            "iters": iters,
            "block": block,
            "interleaved": len(targets) > 1,
            "source": str(source) if source is not None else None,
            "frame_size": list(frame.shape[:2]),
            "backend_options": options,
            "accuracy_data": str(accuracy) if accuracy is not None else None,
            "memory": memory,
        },
        "decode": asdict(decode),
        "targets": reports,
        "process_peak_rss_mb": peak_rss_mb(),
    }


def bench_model(
    paths: Sequence[str | Path],
    batch_sizes: Sequence[int] = (1, 8),
    warmup: int = 10,
    iters: int = 100,
    source: str | Path | None = None,
    backend: str = "auto",
    **backend_options: Any,
) -> dict[str, Any]:
    """Model files on one backend, no memory probe: the short form (``edgead demo`` uses it)."""
    targets = parse_targets(paths, backend=backend)
    return bench(targets, batch_sizes, warmup, iters, source, memory=False, backend_options=backend_options)


def _describe(target: Target, backend: Backend) -> dict[str, Any]:
    meta = backend.metadata
    return {
        "label": target.label,
        "path": str(target.path),
        "backend": backend.name,
        "precision": target.precision,
        "engine": backend.describe(),
        "model": meta.model,
        "backbone": meta.backbone,
        "part": meta.part,
        "input_size": list(meta.size),
        "batches": [],
    }


def _time_stages(
    backends: list[Backend], reports: list[dict[str, Any]], frame: np.ndarray, warmup: int, iters: int, block: int
) -> list[np.ndarray]:
    """Preprocess and postprocess of one frame per target (interleaved); returns each target's input frame."""
    from .detector import make_result
    from .preprocess import prepare_frame

    prepared = [prepare_frame(frame, b.metadata.size) for b in backends]
    for backend, x, report in zip(backends, prepared, reports, strict=True):  # before any warm-up: cold
        start = time.perf_counter()
        backend.run(x[None])
        report["startup"]["first_call_ms"] = (time.perf_counter() - start) * 1e3
    pre = time_interleaved([lambda b=b: prepare_frame(frame, b.metadata.size) for b in backends], warmup, iters, block)
    full = [i for i, b in enumerate(backends) if set(OUTPUT_NAMES) <= set(b.output_names)]
    outputs = {i: backends[i].run(prepared[i][None]) for i in full}
    calls = [
        lambda out=outputs[i], b=backends[i]: make_result(out, 0, frame.shape[:2], b.metadata.threshold) for i in full
    ]
    post = dict(zip(full, time_interleaved(calls, warmup, iters, block), strict=True)) if calls else {}
    for i, report in enumerate(reports):
        report["preprocess"] = asdict(pre[i])
        report["postprocess"] = asdict(post[i]) if i in post else None  # a backbone graph has no map to resize
    return prepared


def _time_batch(
    backends: list[Backend],
    reports: list[dict[str, Any]],
    refs: list[int],
    prepared: list[np.ndarray],
    n: int,
    warmup: int,
    iters: int,
    block: int,
) -> None:
    inputs = [np.ascontiguousarray(np.repeat(p[None], n, axis=0)) for p in prepared]
    calls = [lambda b=b, x=x: b.run(x) for b, x in zip(backends, inputs, strict=True)]
    samples = time_interleaved_samples(calls, warmup, iters, block)
    stats = [LatencyStats.from_seconds(s) for s in samples]
    for report, s, times, ref in zip(reports, stats, samples, refs, strict=True):
        fps = n * 1e3 / s.mean_ms
        report["batches"].append(
            {
                "batch": n,
                **asdict(s),
                "fps": fps,
                "ratio_to_reference": s.p50_ms / stats[ref].p50_ms,
                "fps_ratio_to_reference": fps / (n * 1e3 / stats[ref].mean_ms),
                "samples_ms": [round(t * 1e3, 4) for t in times],
            }
        )


def _pipeline_fps(report: dict[str, Any], decode_ms: float) -> float | None:
    """Frames/s if decode, preprocess, graph (per frame, smallest batch) and postprocess ran back to back."""
    if report["postprocess"] is None:
        return None
    smallest = min(report["batches"], key=lambda g: g["batch"])
    per_frame = decode_ms + report["preprocess"]["p50_ms"] + smallest["p50_ms"] / smallest["batch"]
    return 1e3 / (per_frame + report["postprocess"]["p50_ms"])


def _synthetic_file(backend: Backend, folder: Path) -> Path:
    """A PNG of twice the model size, so decode and the downscale do real work without a --source."""
    from .opencv import cv2

    height, width = backend.metadata.size
    path = folder / "synthetic.png"
    cv2.imwrite(str(path), synthetic_frame(2 * height, 2 * width))
    return path


def synthetic_frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus noise: a frame resize cannot shortcut, reproducible without data."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], axis=-1)
    noise = rng.integers(-20, 21, size=base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- accuracy


def _accuracy(backends: list[Backend], reports: list[dict[str, Any]], refs: list[int], data: Path) -> None:
    """Image and pixel AUROC of each full graph on the labelled test split of ``data`` (MVTec layout)."""
    from .datasets import find_test_split, load_mask
    from .metrics import auroc
    from .preprocess import load_frame

    samples = find_test_split(data)
    if not samples:
        raise EdgeadError(
            f"--accuracy '{data}' has no labelled test split (test/good, test/<defect>); use the MVTec layout"
        )
    labels = np.array([s.label for s in samples])
    index = np.array([i for i, s in enumerate(samples) if s.label == 0 or s.mask_path is not None], dtype=int)
    loaded: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  # per input size: frames, masks
    for backend, report in zip(backends, reports, strict=True):
        if not set(OUTPUT_NAMES) <= set(backend.output_names):
            report["accuracy"] = None
            continue
        size = backend.metadata.size
        if size not in loaded:
            frames = np.stack([load_frame(s.path, size) for s in samples])
            masks = np.stack([load_mask(samples[i].mask_path, size) for i in index])
            loaded[size] = frames, masks
        frames, masks = loaded[size]
        scores, maps = [], []
        for start in range(0, len(frames), ACCURACY_BATCH):
            out = backend.run(frames[start : start + ACCURACY_BATCH])
            scores.append(out["raw_score"])
            maps.append(out["raw_anomaly_map"])
        score, amap = np.concatenate(scores), np.concatenate(maps)
        result: dict[str, Any] = {
            "images": len(samples),
            "anomalous": int(labels.sum()),
            "image_auroc": auroc(labels, score),
            "pixel_images": int(len(index)) if masks.any() else 0,
            "pixel_auroc": auroc(masks, amap[index]) if masks.any() else None,
        }
        report["accuracy"] = result
    for report, ref in zip(reports, refs, strict=True):  # references come first, so they are scored by now
        result, base = report["accuracy"], reports[ref]["accuracy"]
        if result is None:
            continue
        result["image_auroc_delta_to_reference"] = result["image_auroc"] - base["image_auroc"] if base else None
        both = base is not None and result["pixel_auroc"] is not None and base["pixel_auroc"] is not None
        result["pixel_auroc_delta_to_reference"] = result["pixel_auroc"] - base["pixel_auroc"] if both else None


# ---------------------------------------------------------------- memory


def peak_rss_mb() -> float | None:
    """This process's resident-set high-water mark in MiB (None where the OS does not say).

    Linux's VmHWM belongs to the running program; getrusage's ru_maxrss would also count the parent's
    memory at fork, which a freshly started probe process inherits.
    """
    status = _read("/proc/self/status") or ""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**10  # kB
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB elsewhere


def _measure_memory(report: dict[str, Any], options: dict[str, Any], batch: int) -> dict[str, Any]:
    """Peak RSS of the target alone, opened and run at ``batch`` in a fresh process: a per-model figure that
    an in-process number (shared with every other target) cannot give."""
    spec = {"path": report["path"], "backend": report["backend"], "precision": report["precision"]}
    spec |= {"options": options, "batch": batch}
    cmd = [sys.executable, "-m", "edgead_runtime.bench", "--memory-probe", json.dumps(spec)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return {"error": "the memory probe took over 600 s"}
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no output"]
        return {"error": f"the memory probe failed: {lines[-1]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _memory_probe(spec_json: str) -> dict[str, Any]:
    """The child side of ``_measure_memory``: RSS high-water before opening, after opening, after running."""
    spec = json.loads(spec_json)
    baseline = peak_rss_mb()
    target = Target(Path(spec["path"]), spec["backend"], spec["precision"])
    with target.open(spec["options"]) as backend:
        opened = peak_rss_mb()
        height, width = backend.metadata.size
        batch = np.repeat(synthetic_frame(height, width)[None], spec["batch"], axis=0)
        for _ in range(3):
            backend.run(batch)
        peak = peak_rss_mb()
    if baseline is None or opened is None or peak is None:
        return {"error": "this OS does not report peak RSS"}
    return {
        "batch": spec["batch"],
        "baseline_mb": baseline,
        "after_open_mb": opened,
        "peak_mb": peak,
        "model_mb": peak - baseline,
        "isolated": True,
    }


# ---------------------------------------------------------------- machine


def machine_info() -> dict[str, Any]:
    """What a latency number depends on, recorded beside it: CPU, engines, and GPU/Jetson facts where present."""
    cpu, cores = _cpu()
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": cores,
        "threads": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": _module_version("cv2"),
        "onnxruntime": _module_version("onnxruntime"),
        "openvino": _module_version("openvino"),
        "tensorrt": _module_version("tensorrt"),
        "edgead_runtime": __version__,
        "gpus": parse_nvidia_smi(_command(["nvidia-smi", *NVIDIA_SMI_QUERY])),
        "jetson": None,
    }
    release = _read("/etc/nv_tegra_release")
    if release is not None:
        info["jetson"] = {
            "l4t": parse_tegra_release(release),
            "release_line": release.splitlines()[0].strip() if release.strip() else "",
            "jetpack": (_command(["dpkg-query", "-W", "-f=${Version}", "nvidia-jetpack"]) or "").strip() or None,
            "model": (_read("/proc/device-tree/model") or "").strip("\x00\n ") or None,
            "power_mode": parse_nvpmodel(_command(["nvpmodel", "-q"])),
        }
    return info


NVIDIA_SMI_QUERY = ["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits"]


def parse_nvidia_smi(text: str | None) -> list[dict[str, Any]] | None:
    """``nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader,nounits`` -> one dict per
    GPU; None without nvidia-smi."""
    if not text or not text.strip():
        return None
    gpus = []
    for line in text.strip().splitlines():
        name, driver, memory = (field.strip() for field in line.rsplit(",", 2))
        gpus.append({"name": name, "driver": driver, "memory_mb": int(memory) if memory.isdigit() else memory})
    return gpus


def parse_tegra_release(text: str) -> str | None:
    """``# R36 (release), REVISION: 4.3, ...`` -> ``R36.4.3`` (the L4T release, which fixes the JetPack)."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    if not first.startswith("# R"):
        return None
    major = first[2:].split()[0]
    revision = first.split("REVISION:", 1)[1].split(",")[0].strip() if "REVISION:" in first else ""
    return f"{major}.{revision}" if revision else major


def parse_nvpmodel(text: str | None) -> str | None:
    """``nvpmodel -q`` prints ``NV Power Mode: MAXN`` then the mode number -> ``MAXN (mode 0)``."""
    if not text:
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "NV Power Mode:" in line:  # `nvpmodel -q --verbose` prefixes it with "NVPM VERB: Current mode: "
            name = line.split("NV Power Mode:", 1)[1].strip()
            number = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].isdigit() else None
            return f"{name} (mode {number})" if number is not None else name
    return None


def _cpu() -> tuple[str, int | None]:
    """CPU model name and physical core count, from /proc/cpuinfo where there is one."""
    cpu = platform.processor() or platform.machine()
    text = _read("/proc/cpuinfo") or ""
    cores: set[tuple[str, str]] = set()
    physical = "0"
    for line in text.splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key.lower() in ("model name", "hardware") and cpu in (platform.processor(), platform.machine()):
            cpu = value
        elif key == "physical id":
            physical = value
        elif key == "core id":
            cores.add((physical, value))
    return cpu, len(cores) or os.cpu_count()  # ARM cpuinfo has no core ids: every CPU is a core there


def _module_version(name: str) -> str | None:
    """Version of an installed module, None when absent (found without importing where possible)."""
    import importlib.metadata
    import importlib.util

    dists = {"cv2": ("opencv-python-headless", "opencv-python"), "onnxruntime": ("onnxruntime", "onnxruntime-gpu")}
    for dist in dists.get(name, (name,)):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    if importlib.util.find_spec(name) is None:  # a system package (JetPack's cv2, tensorrt) has no dist-info
        return None
    try:
        return str(getattr(__import__(name), "__version__", "unknown"))
    except Exception as exc:  # an installed but broken module is worth recording, not worth a crash
        return f"unimportable ({type(exc).__name__})"


def _command(cmd: list[str]) -> str | None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return None


# ---------------------------------------------------------------- rendering


def format_report(report: dict[str, Any]) -> str:
    """The report as Markdown: latency per batch with ratios, stages, memory, accuracy."""
    m, s = report["machine"], report["settings"]
    engines = ", ".join(f"{k} {m[k]}" for k in ("onnxruntime", "openvino", "tensorrt") if m.get(k))
    gpus = "; ".join(f"{g['name']} (driver {g['driver']})" for g in m.get("gpus") or [])
    jetson = m.get("jetson")
    lines = [
        "# edgead-runtime bench",
        "",
        f"- machine: {m['cpu']}, {m['cores']} cores / {m['threads']} threads; {m['platform']}; python {m['python']}",
        f"- engines: {engines}" + (f"; GPU: {gpus}" if gpus else ""),
    ]
    if jetson:
        lines.append(f"- Jetson: {jetson['model']}, L4T {jetson['l4t']}, JetPack {jetson['jetpack']}, "
                     f"power mode {jetson['power_mode']}")  # fmt: skip
    frame = f"{s['source'] or 'synthetic'} ({s['frame_size'][0]}x{s['frame_size'][1]})"
    lines += [
        f"- run: {s['warmup']} warm-up + {s['iters']} timed calls per target and batch, "
        + ("interleaved in blocks of " + str(s["block"]) if s["interleaved"] else "one target")
        + f"; frame {frame}; {report['created_utc']}",
        "",
        "Latency per graph call. Ratios: p50 against the target's reference at the same batch (>1 = slower); the",
        "reference is the first target on the same model file when a file runs on several backends, else the first.",
        "",
        "| target | precision | batch | p50 ms | p90 ms | p99 ms | mean ± std ms | FPS | p50 vs ref |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in report["targets"]:
        for g in t["batches"]:
            lines.append(
                f"| {t['label']} | {_precision(t)} | {g['batch']} | {g['p50_ms']:.2f} | {g['p90_ms']:.2f} | "
                f"{g['p99_ms']:.2f} | {g['mean_ms']:.2f} ± {g['std_ms']:.2f} | {g['fps']:.1f} | "
                f"{g['ratio_to_reference']:.2f}x |"
            )
    lines += [
        "",
        "Stages per frame, p50 ms (graph: per frame at the smallest batch; pipeline FPS: the four back to back).",
        "",
        "| target | decode | preprocess | graph | postprocess | pipeline FPS | peak RSS MB (model + engine) "
        "| open ms | first call ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in report["targets"]:
        g = min(t["batches"], key=lambda g: g["batch"])
        post, startup = t["postprocess"], t.get("startup") or {}  # reports saved before startup was recorded
        lines.append(
            f"| {t['label']} | {report['decode']['p50_ms']:.2f} | {t['preprocess']['p50_ms']:.2f} | "
            f"{g['p50_ms'] / g['batch']:.2f} | {_num(post and post['p50_ms'])} | {_num(t['pipeline_fps'], 1)} | "
            f"{_memory(t['memory'])} | {_num(startup.get('open_ms'), 0)} | {_num(startup.get('first_call_ms'), 1)} |"
        )
    if s["accuracy_data"]:
        lines += [
            "",
            f"Accuracy on {s['accuracy_data']} (raw scores and maps at the model size; Δ: against the reference).",
            "",
            "| target | precision | images | image AUROC | pixel AUROC | Δ image | Δ pixel |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for t in report["targets"]:
            a = t.get("accuracy")
            if a is None:
                lines.append(f"| {t['label']} | {_precision(t)} | | n/a (not a full graph) | | | |")
                continue
            lines.append(
                f"| {t['label']} | {_precision(t)} | {a['images']} | {a['image_auroc']:.4f} | "
                f"{_num(a['pixel_auroc'], 4)} | {_signed(a['image_auroc_delta_to_reference'])} | "
                f"{_signed(a['pixel_auroc_delta_to_reference'])} |"
            )
    return "\n".join(lines) + "\n"


def _precision(target: dict[str, Any]) -> str:
    """The precision the engine reports (OpenVINO reads it back); ORT computes in the graph's own types."""
    engine = target["engine"].get("precision")
    return "as graph" if engine == "graph" else str(engine or target["precision"] or "default")


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4f}"


def _memory(memory: dict[str, Any] | None) -> str:
    if memory is None:
        return "not measured"
    if "error" in memory:
        return memory["error"]
    return f"{memory['peak_mb']:.0f} ({memory['model_mb']:+.0f})"


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


if __name__ == "__main__" and sys.argv[1:2] == ["--memory-probe"]:
    print(json.dumps(_memory_probe(sys.argv[2])))
