"""The ``run`` subcommand's flags and its entry point; the pipeline loads only when the command runs."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from ..backends import MODEL_HELP
from ..backends.options import add_backend_args, backend_options
from ..errors import EdgeadError
from ..files import write_json
from ..values import add_threshold_flag, flag, positive, real

EXAMPLES = """\
examples:
  edgead-runtime run model.onnx --source line.mp4 --events events.jsonl --video-out annotated.avi --save-dir ng/
  edgead-runtime run model.onnx --source rtsp://10.0.0.5/stream --metrics-port 9100 --events events.jsonl
  edgead-runtime run model.onnx --source 0 --show --roi 100,50,400,400 --threshold 0.6
  edgead-runtime run model.onnx --source rtsp://cam1/s --source rtsp://cam2/s --batch 4 --max-wait-ms 10
                                 # several cameras, one process, one model; events carry source_id
  edgead-runtime run model.onnx --sources cameras.json --metrics-port 9100   # names, per-source policies
  edgead-runtime run model.onnx --batch 4 --source 'nvarguscamerasrc ! video/x-raw(memory:NVMM),\
width=1920,height=1080,framerate=30/1 ! nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! \
video/x-raw,format=BGR ! appsink drop=1'      # Jetson CSI camera: needs JetPack's OpenCV (GStreamer)

Stop with Ctrl+C or SIGTERM: capture stops, queued frames are scored, every output is flushed and closed.
"""


def add_run_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``edgead-runtime run`` on the CLI's subparsers."""
    p = commands.add_parser(
        "run",
        help="the camera-stream service: score a live or recorded stream continuously",
        description="Score every frame of one or more cameras, streams, videos or image folders: a capture thread "
        "per source, one inference thread batching across sources, one output thread. Live sources drop the "
        "oldest frames when inference falls behind and are reopened with backoff when they drop out; files are "
        "read losslessly. Details: docs/stream.md.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", type=Path, help=MODEL_HELP)
    p.add_argument(
        "--source",
        action="append",
        help="camera index (0) or /dev/video*, video file, rtsp:// or http:// URL, GStreamer pipeline ending in "
        "appsink, image folder or glob; give it again for more sources, scored by one model in one process",
    )
    p.add_argument(
        "--sources",
        type=Path,
        metavar="FILE",
        help="more sources: a JSON list (specs, or objects with source, name, live, loop, max_reconnects, backoff, "
        "roi) or one spec per line",
    )
    add_backend_args(p)
    add_threshold_flag(p)
    p.add_argument(
        "--batch",
        type=positive("--batch"),
        default=1,
        help="frames per graph call, from every source's queue (default 1)",
    )
    p.add_argument(
        "--max-wait-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="wait up to MS for a batch to fill once its first frame is queued (default 0: take what is queued)",
    )
    p.add_argument(
        "--queue-size", type=positive("--queue-size"), default=8, help="frames held between threads (default 8)"
    )
    p.add_argument("--roi", type=_roi, metavar="X,Y,W,H", help="score only this rectangle of each frame (pixels)")
    p.add_argument(
        "--live",
        action=argparse.BooleanOptionalAction,
        help="--live treats a file as a camera (drop oldest when behind); --no-live makes a URL lossless "
        "(default: cameras, URLs and pipelines are live, files and folders are not)",
    )
    p.add_argument("--loop", action="store_true", help="start a file or folder again at its end (demos, soak tests)")
    p.add_argument("--events", type=Path, metavar="EVENTS.jsonl", help="JSON line per scored frame, flushed per line")
    p.add_argument("--save-dir", type=Path, metavar="DIR", help="save anomalous frames and their heat maps here")
    p.add_argument("--video-out", type=Path, metavar="FILE", help="annotated video (.avi MJPG, .mp4 mp4v, .mkv)")
    p.add_argument("--show", action="store_true", help="show annotated frames in a window (q or Esc stops)")
    p.add_argument("--metrics-port", type=int, metavar="PORT", help="serve Prometheus text on :PORT/metrics (0: any)")
    p.add_argument("--metrics-host", default="127.0.0.1", help="address to serve /metrics on (0.0.0.0: all)")
    p.add_argument(
        "--status-every",
        type=flag(real, "--status-every", low=0.0),
        default=10.0,
        metavar="SECONDS",
        help="status line period; 0: off",
    )
    p.add_argument("--status-json", type=Path, metavar="FILE", help="also write each status as a JSON line")
    p.add_argument(
        "--max-reconnects",
        type=int,
        metavar="N",
        help="give up after N failed reopen attempts in a row (default: retry a live source forever)",
    )
    p.add_argument(
        "--backoff",
        type=float,
        nargs=2,
        default=(0.5, 30.0),
        metavar=("FIRST", "MAX"),
        help="seconds between reopen attempts: first wait, doubling up to MAX (default 0.5 30)",
    )
    p.add_argument(
        "--max-frames", type=positive("--max-frames"), metavar="N", help="stop (each source) after N captured frames"
    )
    p.add_argument(
        "--stall-timeout",
        type=flag(real, "--stall-timeout", low=0.0),
        default=10.0,
        metavar="SECONDS",
        help="a live source that gives no frame for this long (a stalled stream) is dropped and reopened "
        "(default 10; 0: wait for the capture backend's own timeout)",
    )
    p.add_argument("--summary", type=Path, metavar="FILE", help="write the run's summary as JSON")
    p.set_defaults(func=run_service)


def _lost(output: dict) -> str:
    return f" ({output['lost']} lost: the disk was full or the file could not be written)" if output["lost"] else ""


def _roi(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not X,Y,W,H (four integers, e.g. 100,50,400,400)") from None
    if x < 0 or y < 0 or w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"'{text}': x and y must be >= 0, width and height >= 1")
    return x, y, w, h


def run_service(args: argparse.Namespace) -> int:
    from .pipeline import StreamConfig, run_stream
    from .specs import SourceSpec, read_sources_file

    if args.max_reconnects is not None and args.max_reconnects < 0:
        raise EdgeadError(f"--max-reconnects must be >= 0, got {args.max_reconnects}")
    if not args.stall_timeout >= 0:  # nan too
        raise EdgeadError(f"--stall-timeout must be >= 0 seconds, got {args.stall_timeout:g}")
    if args.backoff[0] <= 0 or args.backoff[1] < args.backoff[0]:
        raise EdgeadError(f"--backoff needs 0 < FIRST <= MAX, got {args.backoff[0]:g} {args.backoff[1]:g}")
    specs: list[str | SourceSpec] = [*(args.source or [])]
    if args.sources is not None:
        specs += read_sources_file(args.sources)
    if not specs:
        raise EdgeadError("no source given: pass --source SPEC (once or more) or --sources FILE")
    config = StreamConfig(
        model=args.model,
        source=specs[0] if len(specs) == 1 and isinstance(specs[0], str) else tuple(specs),
        backend=args.backend,
        backend_options=backend_options(args),
        threshold=args.threshold,
        batch=args.batch,
        max_wait_ms=args.max_wait_ms,
        queue_size=args.queue_size,
        roi=args.roi,
        live=args.live,
        loop=args.loop,
        events=args.events,
        save_dir=args.save_dir,
        video_out=args.video_out,
        show=args.show,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        status_every=args.status_every,
        status_json=args.status_json,
        max_reconnects=args.max_reconnects,
        backoff=tuple(args.backoff),
        max_frames=args.max_frames,
        stall_timeout=args.stall_timeout or None,
    )
    summary = run_stream(config)
    c = summary.counts
    mem0, mem1 = summary.memory_start_kb, summary.memory_end_kb
    latency = f"p50 {summary.p50_ms:.2f} ms, p99 {summary.p99_ms:.2f} ms" if summary.p50_ms is not None else "n/a"
    print(
        f"stopped ({summary.stop_reason}) after {summary.wall_s:.1f} s: {c['captured']} captured, {c['processed']} "
        f"scored ({c['anomalies']} NG), {c['dropped']} dropped, {c['corrupt']} corrupt, {c['reconnects']} reconnects; "
        f"{summary.fps:.1f} fps, latency {latency}; RSS {mem0['rss_kb'] / 1024:.0f} MB at start, "
        f"{mem1['rss_kb'] / 1024:.0f} MB at end, peak {mem1['peak_rss_kb'] / 1024:.0f} MB"
    )
    if len(summary.sources) > 1:
        for name, s in summary.sources.items():
            n = s["counts"]
            print(
                f"  {name} ({s['spec']}): {n['captured']} captured, {n['processed']} scored ({n['anomalies']} NG), "
                f"{n['dropped']} dropped, {n['corrupt']} corrupt, {n['reconnects']} reconnects; {s['stop_reason']}"
            )
    out = summary.outputs
    if "events" in out:
        events = out["events"]
        print(f"wrote {events['lines']} events (run {events['run']}) to {events['path']}{_lost(events)}")
    for place in [out, *out.get("sources", {}).values()]:
        if "video" in place:
            video = place["video"]
            print(f"wrote {video['frames']} frames to {video['path']} at {video['fps'] or 0:g} fps{_lost(video)}")
        if "saved" in place:
            saved = place["saved"]
            print(f"saved {saved['frames']} anomalous frames and heat maps to {saved['path']}{_lost(saved)}")
    if args.summary:
        try:
            write_json(args.summary, asdict(summary))
            print(f"wrote {args.summary}")
        except OSError as exc:
            print(f"edgead-runtime: warning: cannot write --summary '{args.summary}': {exc.strerror}", flush=True)
    failed = {name: s["error"] for name, s in summary.sources.items() if s["error"]}
    for name, error in failed.items():
        print(f"edgead-runtime: error: source '{name}' failed (the others ran on): {error}", flush=True)
    if summary.stop_reason == "end of source" and c["processed"] == 0:
        specs = "', '".join(s["spec"] for s in summary.sources.values())
        print(f"edgead-runtime: error: no frame from '{specs}' could be scored", flush=True)
        return 1
    return 1 if failed else 0
