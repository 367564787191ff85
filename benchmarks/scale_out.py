"""Many cameras on one box: K simulated cameras, several ways of serving them, timed in one interleaved run.

Each camera is a lossless video of real MVTec AD bottle test images (a different order per camera), read as
fast as possible (file speed, no frame dropped), so every mode scores the same K x N frames. Modes:

  separate   K `edgead-runtime run` processes, one per camera (the model loaded K times)
  multi      one `edgead-runtime run` with K `--source`s (one model, batches across cameras)
  triton     K `run` clients of one `edgead-runtime serve` (Triton; the server from .venv-serve:
             benchmarks/triton_mode.py, docs/scale-out.md)

For every (mode, K) it records total frames/s (events over the span from the first to the last scored frame,
and over the whole wall time including start-up), p50/p99 end-to-end latency (each event's ``age_ms``: capture
to scored, queueing included) and the RSS of all the mode's processes summed (peak of the sum, sampled every
0.1 s from /proc). Rounds repeat the whole grid with the order of modes rotated, so a noisy neighbour hits
every mode alike; the report gives the median over rounds.

  python benchmarks/scale_out.py MODEL.onnx [--k 1 2 4 8] [--frames 200] [--rounds 3] [--run-flags '--batch 4']
      [--out DIR]

A model: `edgead train --model dfm --data ../shared/data/mvtec_ad/bottle --image-size 128 --out run &&
edgead export run --format onnx -o dfm128.onnx`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from triton_mode import process_tree, triton_mode  # beside this script

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RUNTIME = [str(BIN / "edgead-runtime")]


@dataclass
class Launch:
    """What a mode starts for K cameras.

    ``services`` start first and stay up until every client has exited (a Triton server); ``ready()`` says when
    they accept work. ``clients`` are `run` processes, each writing its events to its ``--events`` file. Every
    process's RSS counts.
    """

    clients: list[tuple[list[str], Path]]  # argv, events file
    services: list[list[str]] = field(default_factory=list)
    ready: Callable[[], bool] = lambda: True


@dataclass(frozen=True)
class Context:
    model: Path
    work: Path
    run_flags: tuple[str, ...]  # flags every `run` gets (--batch, --max-wait-ms, --threads, ...)


def separate(cameras: list[Path], ctx: Context, tag: str) -> Launch:
    """(a) one `run` process per camera."""
    clients = []
    for k, video in enumerate(cameras):
        events = ctx.work / f"{tag}-cam{k}.jsonl"
        argv = [*RUNTIME, "run", str(ctx.model), "--source", str(video), "--events", str(events)]
        clients.append(([*argv, "--status-every", "0", *ctx.run_flags], events))
    return Launch(clients)


def multi(cameras: list[Path], ctx: Context, tag: str) -> Launch:
    """(b) one `run` process with every camera as a `--source`."""
    events = ctx.work / f"{tag}.jsonl"
    argv = [*RUNTIME, "run", str(ctx.model), *(a for v in cameras for a in ("--source", str(v)))]
    return Launch([([*argv, "--events", str(events), "--status-every", "0", *ctx.run_flags], events)])


def triton(cameras: list[Path], ctx: Context, tag: str) -> Launch:
    """(c) K `run` clients (triton://) of one `edgead-runtime serve`."""
    return Launch(*triton_mode(ctx.model, cameras, ctx.work, tag, ctx.run_flags))


MODES: dict[str, Callable[[list[Path], Context, str], Launch]] = {
    "separate": separate,
    "multi": multi,
    "triton": triton,
}


def make_cameras(data: Path, k_max: int, frames: int, size: int, work: Path) -> list[Path]:
    """``k_max`` lossless videos of ``frames`` frames each from the bottle test images, each in its own order."""
    paths = sorted((data / "mvtec_ad" / "bottle" / "test").glob("*/*.png"))
    if not paths:
        sys.exit(f"scale_out.py: no bottle test images under {data} (set --data or EDGEAD_DATA)")
    images = [cv2.resize(cv2.imread(str(p)), (size, size), interpolation=cv2.INTER_AREA) for p in paths]
    cameras = []
    for k in range(k_max):
        path = work / f"camera{k}-{frames}x{size}.avi"
        if not path.is_file():
            order = np.random.default_rng(k).permutation(len(images))
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 30.0, (size, size))
            for i in range(frames):
                writer.write(images[order[i % len(images)]])
            writer.release()
        cameras.append(path)
    return cameras


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(launch: Launch, timeout: float) -> dict:
    """Start the services, then every client at once; sample RSS until the clients exit; read their events."""
    for events in (e for _, e in launch.clients):
        events.unlink(missing_ok=True)
    services = [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for argv in launch.services]
    try:
        deadline = time.monotonic() + timeout
        while not launch.ready():
            if time.monotonic() > deadline or any(s.poll() is not None for s in services):
                raise RuntimeError("a service did not become ready")
            time.sleep(0.2)
        start = time.time()
        clients = [
            subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for argv, _ in launch.clients
        ]
        peak_rss = 0
        while any(c.poll() is None for c in clients):
            pids = [q for p in services + clients for q in process_tree(p.pid)]  # a server's children count too
            peak_rss = max(peak_rss, sum(_rss_kb(q) for q in pids))
            if time.monotonic() > deadline:
                for c in clients:
                    c.kill()
                raise RuntimeError(f"clients still running after {timeout:.0f} s")
            time.sleep(0.1)
        wall = time.time() - start
        failed = [c.stderr.read().decode()[-500:] for c in clients if c.returncode != 0]
        if failed:
            raise RuntimeError(f"a run failed: {failed[0]}")
    finally:
        for s in services:
            s.terminate()
            s.wait(timeout=60)
    records = [json.loads(line) for _, events in launch.clients for line in events.read_text().splitlines()]
    done = [r["timestamp"] + r["age_ms"] / 1e3 for r in records]
    ages = np.array([r["age_ms"] for r in records])
    span = max(done) - min(done) if len(done) > 1 else float("nan")
    return {
        "frames": len(records),
        "processes": len(launch.clients) + len(launch.services),
        "fps_scoring": len(records) / span,
        "fps_wall": len(records) / wall,
        "wall_s": wall,
        "p50_ms": float(np.percentile(ages, 50)),
        "p99_ms": float(np.percentile(ages, 99)),
        "rss_sum_mb": peak_rss / 1024,
    }


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()}


def report(results: dict, args: argparse.Namespace, info: dict) -> str:
    lines = [
        f"# Scale-out: {args.model.name}, {args.frames} frames per camera, {args.size}x{args.size}, "
        f"median of {args.rounds} interleaved round(s)",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores; load average at start {info['load_avg_start']}, "
        f"at end {info['load_avg_end']}. Run flags: {' '.join(args.run_flags) or '(none)'}.",
        "",
        "| K | mode | processes | frames | frames/s (scoring span) | frames/s (wall, with start-up) | "
        "p50 ms | p99 ms | RSS sum MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, runs in results.items():
        k, mode = key.split(":")
        med = {m: statistics.median(r[m] for r in runs) for m in runs[0]}
        lines.append(
            f"| {k} | {mode} | {med['processes']:.0f} | {med['frames']:.0f} | {med['fps_scoring']:.1f} | "
            f"{med['fps_wall']:.1f} | {med['p50_ms']:.1f} | {med['p99_ms']:.1f} | {med['rss_sum_mb']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--k", type=int, nargs="+", default=[1, 2, 4, 8], help="simulated cameras (default 1 2 4 8)")
    parser.add_argument("--frames", type=int, default=200, help="frames per camera (default 200)")
    parser.add_argument("--size", type=int, default=256, help="camera frame size in pixels (default 256)")
    parser.add_argument("--rounds", type=int, default=3, help="repeats of the whole grid, modes rotated (default 3)")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("EDGEAD_DATA", REPO.parent / "shared/data")))
    parser.add_argument("--work", type=Path, default=Path("/tmp/edgead-scale-out"), help="videos and event logs")
    parser.add_argument("--out", type=Path, help="write scale_out.json and scale_out.md here")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per measurement before giving up")
    parser.add_argument(
        "--run-flags", default="", help="flags for every `run`, one string (e.g. '--batch 4 --threads 1')"
    )
    args = parser.parse_args()
    args.run_flags = shlex.split(args.run_flags)
    args.work.mkdir(parents=True, exist_ok=True)
    cameras = make_cameras(args.data, max(args.k), args.frames, args.size, args.work)
    ctx = Context(args.model.resolve(), args.work, tuple(args.run_flags))
    info = machine() | {"load_avg_start": [round(v, 1) for v in os.getloadavg()]}
    results: dict[str, list[dict]] = {}
    for r in range(args.rounds):
        modes = args.modes[r % len(args.modes) :] + args.modes[: r % len(args.modes)]
        for k in args.k:
            for mode in modes:
                got = measure(MODES[mode](cameras[:k], ctx, f"{mode}-k{k}"), args.timeout)
                assert got["frames"] == k * args.frames, f"{mode} K={k}: {got['frames']} events, not {k * args.frames}"
                results.setdefault(f"{k}:{mode}", []).append(got)
                print(f"round {r + 1} K={k} {mode}: {json.dumps({m: round(v, 2) for m, v in got.items()})}", flush=True)
    info["load_avg_end"] = [round(v, 1) for v in os.getloadavg()]
    text = report(dict(sorted(results.items(), key=lambda kv: (int(kv[0].split(":")[0]), kv[0]))), args, info)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "scale_out.md").write_text(text)
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        payload = {"machine": info, "settings": settings, "results": results}
        (args.out / "scale_out.json").write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.out / 'scale_out.md'} and scale_out.json")


if __name__ == "__main__":
    main()
