"""``edgead-runtime``: predict, run on streams, bench and inspect exported models without torch.

Engine and image libraries are imported inside each command, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .backends.options import backend_options
from .errors import EdgeadError, FrameMismatchError
from .values import (
    add_threshold_flag,
    at_least_zero,
    flag,
    one_line_warnings,
    output_folder,
    output_path,
    positive,
)

if TYPE_CHECKING:
    import numpy as np

    from .detector import Detector, Result
    from .sources import Item

EXAMPLES = """\
examples:
  edgead-runtime predict model.onnx --source bottle/test/broken_large --json out.jsonl
  edgead-runtime predict model.onnx --source 'line/*.png' --threshold 0.6 --save-overlays overlays/
  edgead-runtime predict model.onnx --source line.mp4 --batch 8
  edgead-runtime predict model.onnx --source 0              # camera 0; or rtsp://host/stream
  edgead-runtime run model.onnx --source rtsp://cam/stream --events ev.jsonl --metrics-port 9100
  edgead-runtime bench patchcore.onnx dfm.onnx --batch 1 8 --json bench.json
  edgead-runtime info model.onnx
  edgead-runtime env                               # which engines and providers load here, and why not
  edgead-runtime adopt model.engine --from model.onnx   # an engine built by trtexec/Polygraphy
  edgead-runtime bench model.engine                # TensorRT engine from `edgead export model.onnx --format trt`
  edgead-runtime predict model.onnx --source 0 --backend ort-trt --precision f16 --engine-cache trt-cache/
  edgead-runtime serve pc=bottle-pc.onnx dfm=bottle-dfm.onnx       # Triton server (edgead-runtime[serve])
  edgead-runtime run triton://gpu-box:8001/pc --source rtsp://cam/stream   # a client of it (edgead-runtime[triton])
"""
BENCH_EXAMPLES = """\
examples:
  edgead-runtime bench model.onnx                                   # batch 1 and 8, synthetic frame
  edgead-runtime bench model.onnx --compare onnxruntime openvino:f32 openvino:bf16 --batch 1 4 16
  edgead-runtime bench pc.onnx dfm.onnx --source part.png --accuracy bottle/ --json b.json --plots plots/
  edgead-runtime bench model.xml --precision bf16 --threads 4       # an OpenVINO IR alone
"""
_VERBOSE_MAX = 20  # up to this many known items get a line each; more get a progress bar


def main(argv: list[str] | None = None) -> int:
    one_line_warnings("edgead-runtime")
    return dispatch("edgead-runtime", lambda: _parser().parse_args(argv))


def dispatch(prog: str, parse: Callable[[], argparse.Namespace]) -> int:
    """Parse the command line and run ``args.func``: the one error boundary of both CLIs.

    A user error (:class:`EdgeadError`) or a failed write or read the OS reports (a full disk, a read-only folder:
    ``OSError``) is one line and exit code 1, never a traceback; Ctrl+C, during start-up too, is one line and 130.
    """
    try:
        args = parse()
        return args.func(args) or 0
    except EdgeadError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f" '{exc.filename}'" if exc.filename else ""
        print(f"{prog}: error:{where} {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgead-runtime",
        description="Run exported edgead anomaly-detection models (no torch needed).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from .backends import MODEL_HELP  # the backend table alone, no engine import
    from .backends.options import add_backend_args  # imports the backend modules, which load no engine

    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("predict", help="score images, a folder, a video, a camera or a stream")
    p.add_argument("model", type=Path, help=MODEL_HELP)
    p.add_argument(
        "--source", required=True, help="image, folder (recursive), glob, video, camera index or /dev/video*, or URL"
    )
    p.add_argument(
        "--json",
        type=flag(output_path, "--json"),
        metavar="OUT.jsonl",
        help="write one JSON object per frame, line by line",
    )
    add_threshold_flag(p)
    p.add_argument(
        "--save-overlays",
        type=flag(output_folder, "--save-overlays"),
        metavar="DIR",
        help="write heat-map overlays as PNG",
    )
    p.add_argument("--batch", type=positive("--batch"), default=1, help="frames per graph call (default 1)")
    add_backend_args(p)
    p.set_defaults(func=_predict)

    from .stream.command import add_run_parser  # argparse only; the pipeline loads when `run` runs

    add_run_parser(commands)

    p = commands.add_parser(
        "bench",
        help="latency, FPS, stages, memory and accuracy of models on backends, compared in one run",
        description="Time model files on backends and precisions, round-robin in one run so ratios are fair: "
        "p50/p90/p99, mean ± std and FPS per batch size; decode, preprocess, graph and postprocess apart; peak "
        "RSS per target (each in a fresh process); image/pixel AUROC with --accuracy. Prints a Markdown report.",
        epilog=BENCH_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("models", type=Path, nargs="+", help="model files (.onnx, .xml); several are timed round-robin")
    p.add_argument(
        "--compare",
        nargs="+",
        metavar="BACKEND[:PRECISION]",
        help="run every model on each of these, e.g. onnxruntime openvino:f32 openvino:bf16",
    )
    p.add_argument("--batch", type=positive("--batch"), nargs="+", default=[1, 8], help="batch sizes (default 1 8)")
    p.add_argument(
        "--warmup",
        type=at_least_zero("--warmup"),
        default=10,
        help="untimed calls per target and batch first (default 10)",
    )
    p.add_argument(
        "--iters", type=positive("--iters"), default=100, help="timed calls per target and batch (default 100)"
    )
    p.add_argument("--source", type=Path, metavar="IMAGE", help="image file to decode and time (default: synthetic)")
    p.add_argument("--accuracy", type=Path, metavar="DATA", help="MVTec-layout folder: add AUROC per target")
    p.add_argument(
        "--json",
        type=flag(output_path, "--json"),
        metavar="OUT",
        help="write the report as JSON (schema: docs/bench.md)",
    )
    p.add_argument(
        "--markdown",
        type=flag(output_path, "--markdown"),
        metavar="OUT.md",
        help="write the printed Markdown report to a file",
    )
    p.add_argument(
        "--plots",
        type=flag(output_folder, "--plots"),
        metavar="DIR",
        help="write PNG plots (needs edgead-runtime[plots])",
    )
    p.add_argument("--no-memory", action="store_true", help="skip the per-target peak-RSS probe (a subprocess each)")
    p.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        metavar="REPORT.json",
        help="add the targets of saved reports, e.g. a C++ run from `edgead-cpp-bench --json` (docs/cpp.md)",
    )
    add_backend_args(p)
    p.set_defaults(func=_bench)

    _add_serve_parser(commands)

    p = commands.add_parser("info", help="print a model's metadata and its inputs and outputs")
    p.add_argument("model", type=Path, help=MODEL_HELP)
    add_backend_args(p)
    p.set_defaults(func=_info)

    from .setup_commands import add_setup_parsers  # env, adopt

    add_setup_parsers(commands)
    return parser


def _predict(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .detector import Detector
    from .outputs import ImageFolder, JsonLines
    from .sources import FrameLoop, LoopPolicy, open_source

    if args.batch < 1:
        raise EdgeadError(f"--batch must be >= 1, got {args.batch}")
    # outputs are checked before any work, opened at their first line (a start that fails leaves them as they
    # were) and appended to: a rerun keeps the earlier lines, and an overlay never overwrites another file
    warn = _Warner()
    out = JsonLines(args.json, "--json", warn) if args.json else None
    overlays = ImageFolder(args.save_overlays, "--save-overlays", warn) if args.save_overlays else None
    with Detector(args.model, args.backend, args.threshold, **backend_options(args)) as detector:
        source = open_source(args.source)
        meta = detector.metadata
        print(
            f"model {args.model} ({meta.model}, {meta.backbone}, {meta.height}x{meta.width}) "
            f"on {detector.backend.name}, threshold {detector.threshold:g}"
        )
        total = source.total
        verbose = total is not None and total <= _VERBOSE_MAX
        bar = tqdm(total=total, unit="img", disable=verbose)
        warn.bar = bar
        n_ok = n_bad = n_err = 0
        latency_sum = 0.0
        try:
            # the frame loop `run` uses: a corrupt frame is an error line and reading goes on; a live source
            # that drops out ends predict (`run` reopens it)
            items = FrameLoop(source, LoopPolicy(reopen=False), warn=warn)
            for chunk in _chunks(items, args.batch):
                for item, result, latency_ms in _run_chunk(detector, chunk):
                    record, line = _describe(item, result, latency_ms)
                    if isinstance(result, str):
                        n_err += 1
                    else:
                        n_bad += result.is_anomalous
                        n_ok += not result.is_anomalous
                        latency_sum += latency_ms
                        if overlays is not None:
                            overlays.save(_overlay_stem(item.name), _overlay(item, result))
                    if out:
                        out.write(record)  # whole lines as they go: a crash later never loses them
                    if verbose or isinstance(result, str):
                        bar.write(line)
                    bar.update()
        finally:
            bar.close()
            if out:
                out.close()
    n = n_ok + n_bad
    mean = f"{latency_sum / n:.2f} ms/image" if n else "n/a"
    print(
        f"predicted {n} frames: {n_bad} anomalous, {n_ok} ok, {n_err} unreadable; mean latency {mean} "
        "(preprocess + graph)"
    )
    if out:
        lost = f" ({out.lost} lost: the disk was full or the file could not be written)" if out.lost else ""
        print(f"wrote {out.count} lines to {args.json}{lost}")
    if overlays is not None and (overlays.count or overlays.lost):
        lost = f" ({overlays.lost} lost: the disk was full or a file could not be written)" if overlays.lost else ""
        print(f"wrote {overlays.count} overlays to {args.save_overlays}{lost}")
    if n == 0:
        print(f"edgead-runtime: error: no frame from '{args.source}' could be processed", file=sys.stderr)
        return 1
    return 0


class _Warner:
    """Warnings above predict's progress bar once it exists, on stderr before."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, message: str) -> None:
        if self.bar is not None:
            self.bar.write(f"warning: {message}")
        else:
            print(f"edgead-runtime: warning: {message}", file=sys.stderr)


def _describe(item: Item, result: Result | str, latency_ms: float) -> tuple[dict[str, Any], str]:
    """The JSON record and the printed line for one frame."""
    if isinstance(result, str):
        return {"path": item.name, "error": result}, f"ERR  {item.name}: {result}"
    record = {
        "path": item.name,
        "score": result.score,
        "raw_score": result.raw_score,
        "is_anomalous": result.is_anomalous,
        "threshold": result.threshold,
        "latency_ms": latency_ms,
    }
    label = "NG" if result.is_anomalous else "OK"
    line = f"{label:<4} {result.score:.3f} raw {result.raw_score:<9.4g} {latency_ms:6.1f} ms  {item.name}"
    return record, line


def _chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _run_chunk(detector: Detector, chunk: list[Item]) -> list[tuple[Item, Result | str, float]]:
    """Results in item order; an unreadable or unusable frame becomes its error message."""
    results: list[Result | str] = [str(item.error) for item in chunk]
    readable = [i for i, item in enumerate(chunk) if item.frame is not None]
    frames = [chunk[i].frame for i in readable]
    start = time.perf_counter()
    if frames:
        try:
            done = detector.predict_batch(frames)
        except FrameMismatchError:  # one odd frame (e.g. float pixels) must not sink the batch
            done = [_predict_one(detector, frame) for frame in frames]
        for i, result in zip(readable, done, strict=True):
            results[i] = result
    latency_ms = (time.perf_counter() - start) * 1e3 / max(len(frames), 1)
    return [(item, result, latency_ms) for item, result in zip(chunk, results, strict=True)]


def _predict_one(detector: Detector, frame: np.ndarray) -> Result | str:
    try:
        return detector.predict(frame)
    except FrameMismatchError as exc:
        return str(exc)


def _overlay_stem(name: str) -> str:
    """An overlay's name from its frame's: the whole path as given (relative to the working folder where it is
    inside it), so ``lineA/good/000.png`` and ``lineB/good/000.png`` never meet; suffix dropped."""
    from .preprocess import IMAGE_SUFFIXES

    path = Path(name)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        path = path.with_suffix("")
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            path = path.relative_to(path.anchor)
    return str(path)


def _overlay(item: Item, result: Result) -> np.ndarray:
    from .visualize import overlay

    return overlay(item.frame, result.anomaly_map, result.score, result.is_anomalous)


def _bench(args: argparse.Namespace) -> int:
    from .bench import bench, format_report, parse_targets, write_plots
    from .bench.merge import load_report, merge_reports

    merged = [(path, load_report(path)) for path in args.merge or []]  # a bad file fails before the timing
    options = backend_options(args)
    targets = parse_targets(args.models, args.compare, args.backend, options.pop("precision", None))
    report = bench(
        targets, args.batch, args.warmup, args.iters, args.source, args.accuracy, not args.no_memory, 10, options
    )
    report = merge_reports(report, merged)
    text = format_report(report)
    print(text)
    for path, content in ((args.json, json.dumps(report, indent=2) + "\n"), (args.markdown, text)):
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            print(f"wrote {path}")
    if args.plots:
        for path in write_plots(report, args.plots):
            print(f"wrote {path}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from .backends import open_backend

    with open_backend(args.model, args.backend, **backend_options(args)) as backend:
        size = f"{args.model.stat().st_size:,} bytes" if args.model.is_file() else backend.path
        print(f"{args.model} ({size}) on {backend.name}")
        for key, value in backend.metadata.to_dict().items():
            print(f"  {key:<16} {json.dumps(value) if isinstance(value, dict | list) else value}")
        print(f"  input  {backend.input_name:<16} {list(backend.input_shape)}")
        for name, shape in backend.output_shapes.items():
            print(f"  output {name:<16} {list(shape)}")
    return 0


SERVE_EXAMPLES = """\
examples:
  edgead-runtime serve bottle-pc.onnx                          # model "bottle-pc" on ports 8000/8001/8002
  edgead-runtime serve pc=bottle-pc.onnx tile=tile-dfm.xml --max-batch 16 --queue-delay-us 2000
  edgead-runtime serve pc=bottle-pc.engine --host 0.0.0.0     # TensorRT on the server's GPU, reachable by all
then, from any machine with edgead-runtime[triton]:
  edgead-runtime predict triton://SERVER:8001/pc --source images/ --json out.jsonl
  curl SERVER:8000/v2/health/ready; curl SERVER:8002/metrics
needs edgead-runtime[serve] (NVIDIA PyTriton, numpy<2) in its own venv: docs/scale-out.md
"""


def _add_serve_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "serve",
        help="serve models on a Triton Inference Server (HTTP, gRPC, metrics, dynamic batching)",
        description="Start NVIDIA Triton Inference Server (through PyTriton) with each MODEL run by an edgead-runtime "
        "backend, batched across clients. Clients use triton://HOST:GRPC_PORT/NAME as their model. SIGTERM or "
        "Ctrl-C stops it after in-flight requests finish.",
        epilog=SERVE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("models", nargs="+", metavar="[NAME=]MODEL", help="model files; NAME defaults to the file stem")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0: all)")
    p.add_argument("--http-port", type=int, default=8000, help="HTTP/REST port (default 8000)")
    p.add_argument("--grpc-port", type=int, default=8001, help="gRPC port (default 8001)")
    p.add_argument("--metrics-port", type=int, default=8002, help="Prometheus metrics port (default 8002)")
    p.add_argument("--max-batch", type=int, default=8, help="largest batch Triton forms from requests (default 8)")
    p.add_argument(
        "--queue-delay-us",
        type=int,
        default=1000,
        help="longest a request waits for others to fill a batch, microseconds (default 1000)",
    )
    p.add_argument(
        "--exit-timeout", type=int, default=30, metavar="S", help="on stop, wait this long for in-flight requests"
    )
    from .backends.options import add_backend_args

    add_backend_args(p)
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from .serve import Ports, serve

    ports = Ports(args.http_port, args.grpc_port, args.metrics_port, args.host)
    options = backend_options(args)
    serve(args.models, args.backend, options, ports, args.max_batch, args.queue_delay_us, args.exit_timeout)
    return 0
