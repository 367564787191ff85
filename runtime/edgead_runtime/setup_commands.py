"""``edgead-runtime env`` and ``edgead-runtime adopt``: what this machine can run, and engines built elsewhere.

Kept apart from cli.py (the model-running commands); both parsers are argparse only, the work imports lazily.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import names
from .adopt import PRECISIONS  # a light module: the TensorRT imports happen inside adopt()

ENV_EPILOG = """\
Each engine runs a one-node probe graph on each of its providers/devices; a failure shows what the library
logged. Exit status 0 when at least one backend runs models here, 1 otherwise. Install choices: docs/gpu.md.
"""
ADOPT_EPILOG = """\
examples (on the machine that built the engine, with its TensorRT and cuda-python):
  trtexec --onnx=bottle-pc.onnx --saveEngine=bottle-pc.engine --fp16 \\
      --minShapes=image:1x256x256x3 --optShapes=image:4x256x256x3 --maxShapes=image:8x256x256x3
  edgead-runtime adopt bottle-pc.engine --from bottle-pc.onnx --precision fp16
  edgead-runtime bench bottle-pc.engine
--precision: what the builder was told (trtexec --fp16 / --int8 on an fp32 graph); default: the graph's own
precision (an fp16-typed or int8 Q/DQ graph from `edgead export --precision`), which TensorRT then follows.
"""


def add_setup_parsers(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "env",
        help="which engines and providers load on this machine, and why not where they don't",
        description="Check ONNX Runtime (each execution provider), OpenVINO (each device), TensorRT + cuda-python, "
        "the NVIDIA driver and OpenCV by loading each, not by looking for packages.",
        epilog=ENV_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_env)

    p = commands.add_parser(
        "adopt",
        help="write the .engine.json sidecar for a TensorRT engine built by trtexec or Polygraphy",
        description="Check that a TensorRT engine loads here and was built from an edgead ONNX graph (same inputs "
        "and outputs, uint8 input at the graph's size), then write MODEL.engine.json beside it: the graph's "
        "metadata plus TensorRT version, GPU, batch profile and SHA-256. Needs TensorRT and cuda-python.",
        epilog=ADOPT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("engine", type=Path, help="TensorRT engine (plan) file")
    p.add_argument(
        "--from", dest="onnx", type=Path, required=True, metavar="MODEL.onnx", help="the graph it was built from"
    )
    p.add_argument(
        "--precision",
        type=names.argtype(names.precision, PRECISIONS, "--precision"),
        metavar="{fp32,fp16,int8}",
        help="the builder's precision flag (default: the graph's); f32/f16 spell the same",
    )
    p.add_argument("--device", type=int, default=0, metavar="N", help="CUDA device to load it on (default 0)")
    p.add_argument("--dla-core", type=int, metavar="N", help="the DLA core it was built for (trtexec --useDLACore)")
    p.add_argument("--force", action="store_true", help="replace an existing .engine.json")
    p.set_defaults(func=_adopt)


def _env(args: argparse.Namespace) -> int:
    from .environment import format_report, report

    data = report()
    print(json.dumps(data, indent=2) if args.json else format_report(data))
    return 0 if any(data["backends"].values()) else 1


def _adopt(args: argparse.Namespace) -> int:
    from .adopt import adopt
    from .engine_file import read_engine

    side = adopt(args.engine, args.onnx, args.precision, args.device, args.dla_core, args.force)
    _, meta, info = read_engine(args.engine)
    print(
        f"wrote {side}: {meta.model} {meta.height}x{meta.width}, TensorRT {info.tensorrt_version} on {info.device} "
        f"(compute capability {info.compute_capability}), {info.precision}, batch {info.batch[0]}..{info.batch[2]}"
    )
    print(f"next: edgead-runtime bench {args.engine}")
    return 0
