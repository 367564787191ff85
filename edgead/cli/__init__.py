"""``edgead``: train, export, evaluate and benchmark anomaly detectors.

Each subcommand does one job and prints what it did. torch is imported inside the commands, so
``edgead --help`` is fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgead.train.device import add_device_argument  # argparse only: torch loads when a command runs
from edgead_runtime import values
from edgead_runtime.cli import dispatch
from edgead_runtime.values import at_least_zero, positive

from .export import add_export
from .train import add_train

EXAMPLES = """\
workflow:
  edgead train --model patchcore --data ../shared/data/mvtec_ad/bottle --out runs/bottle-pc
  edgead export runs/bottle-pc --format onnx -o bottle-pc.onnx
  edgead doctor bottle-pc.onnx --trt-version 8.5      # TensorRT-ready? (export runs it too)
  edgead-runtime predict bottle-pc.onnx --source ../shared/data/mvtec_ad/bottle/test --json preds.jsonl
  edgead-runtime run bottle-pc.onnx --source 0 --events events.jsonl   # camera-stream service
  edgead evaluate bottle-pc.onnx --data ../shared/data/mvtec_ad/bottle
  edgead-runtime bench bottle-pc.onnx
  edgead demo          # all of it on solar-cell images that install from PyPI
"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    values.one_line_warnings("edgead")
    # Model options come from the model classes (torch); load them only when `train` is asked for.
    return dispatch("edgead", lambda: build_parser(model_options=bool(argv) and argv[0] == "train").parse_args(argv))


def build_parser(model_options: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgead",
        description="Train visual anomaly detectors on good images and export one self-contained ONNX graph.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train(commands, model_options)
    add_export(commands)
    _add_evaluate(commands)
    _add_bench(commands)
    _add_doctor(commands)
    _add_demo(commands)
    return parser


# ---------------------------------------------------------------- evaluate


def _add_evaluate(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "evaluate",
        help="metrics of an exported model, computed through the runtime",
        description="Score a labelled MVTec-layout test split with the exported model through edgead-runtime "
        "(the same preprocessing and graph a deployment runs) and print image/pixel AUROC, AUPRO and F1-max.",
    )
    p.add_argument("model", type=Path, help="exported model file (.onnx)")
    p.add_argument("--data", required=True, type=Path, metavar="DIR", help="MVTec-layout folder with a test split")
    p.add_argument("--batch", type=positive("--batch"), default=8, help="frames per graph call")
    p.add_argument("--backend", default="auto", help="runtime backend (default: by file extension)")
    p.add_argument(
        "--compare-torch",
        type=Path,
        metavar="RUN_DIR",
        help="also run the torch model of this run on the same frames and report the differences",
    )
    p.add_argument(
        "--json", type=values.flag(values.output_path, "--json"), metavar="OUT", help="write the metrics as JSON"
    )
    add_device_argument(p, "--compare-torch model")
    p.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from edgead.evaluation import evaluate_model

    evaluate_model(args.model, args.data, args.batch, args.backend, args.compare_torch, args.json, args.device)
    return 0


# ---------------------------------------------------------------- bench


def _add_bench(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "bench",
        help="time a run's torch eager forward against its exported graph, in one interleaved run",
        description="Latency of the torch eager model next to the exported graph(s) on ONNX Runtime, "
        "timed round-robin in one run so the ratio is fair. For graph-only benchmarks use `edgead-runtime bench`.",
    )
    p.add_argument("run", type=Path, help="run directory")
    p.add_argument("models", type=Path, nargs="+", help="exported model files to time beside torch")
    p.add_argument("--batch", type=positive("--batch"), nargs="+", default=[1, 8], help="batch sizes")
    p.add_argument("--warmup", type=at_least_zero("--warmup"), default=10, help="untimed iterations first")
    p.add_argument("--iters", type=positive("--iters"), default=50, help="timed iterations")
    p.add_argument(
        "--json", type=values.flag(values.output_path, "--json"), metavar="OUT", help="also write the report as JSON"
    )
    add_device_argument(p, "torch eager model (on a GPU each call includes the upload and waits for the result)")
    p.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    from edgead.bench import bench_against_torch

    bench_against_torch(args.run, args.models, args.batch, args.warmup, args.iters, args.json, args.device)
    return 0


# ---------------------------------------------------------------- doctor

# the shared engine names (edgead_runtime.names; trt and ort stay accepted) -> diagnose()'s target keys,
# which its --json report carries
DOCTOR_TARGETS = {"tensorrt": "trt", "onnxruntime": "ort", "openvino": "openvino"}
DOCTOR_EXAMPLES = """\
examples:
  edgead doctor bottle-pc.onnx                          # TensorRT 10.x (JetPack 6.1/6.2, x86)
  edgead doctor bottle-pc.onnx --trt-version 8.5        # JetPack 5.x
  edgead doctor bottle-pc.onnx --target openvino --json  # machine-readable findings
exit status: 0 when no finding is an error, 1 otherwise. Needs only onnx (no torch, no GPU).
"""


def _add_doctor(commands: argparse._SubParsersAction) -> None:
    from edgead_runtime.names import ENGINES, argtype, engine, spellings

    p = commands.add_parser(
        "doctor",
        help="check statically (no GPU) that an ONNX graph will build in TensorRT / load in ORT or OpenVINO",
        description="Check an ONNX graph against the TensorRT ONNX parser's operator table for a TensorRT version "
        "(op support and constraints, data types, dynamic dims besides the batch, the 2 GB protobuf limit, "
        "constant folding). Each finding names the node and a fix.",
        epilog=DOCTOR_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", type=Path, help="ONNX file to check")
    p.add_argument(
        "--target",
        default="tensorrt",
        type=argtype(engine, DOCTOR_TARGETS, "--target"),
        help=f"deployment target: {spellings(ENGINES, DOCTOR_TARGETS)} (default: %(default)s)",
    )
    p.add_argument(
        "--trt-version",
        default="10",
        choices=("8.5", "8.6", "10", "11"),
        help="TensorRT version for --target trt: 8.5 JetPack 5, 8.6 JetPack 6.0, 10 = every 10.x, 11 (default: 10)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    p.set_defaults(func=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    import json

    from edgead.export.doctor import diagnose

    report = diagnose(args.model, DOCTOR_TARGETS[args.target], args.trt_version)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.text())
    return 0 if report.ok else 1


# ---------------------------------------------------------------- demo


def _add_demo(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "demo",
        help="train, export, evaluate and benchmark on solar-cell images from PyPI (elpv-dataset)",
        description="The whole workflow on a fresh machine: builds an MVTec-layout folder from the "
        "elpv-dataset package (electroluminescence images of solar cells), trains, exports to ONNX, "
        "evaluates through the runtime and prints metrics and latency.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    from edgead.train.config import MIN_IMAGE_SIZE
    from edgead.train.models import model_names

    p.add_argument("--model", default="patchcore", choices=model_names(), help="detector family")
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="where data, run and model go")
    p.add_argument(
        "--image-size",
        type=values.flag(values.integer, "--image-size", minimum=MIN_IMAGE_SIZE),
        default=256,
        help="model input size",
    )
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from edgead.demo import run_demo

    run_demo(args.model, args.out, args.image_size)
    return 0
