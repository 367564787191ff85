"""``edgead export``: the format table's flags (TensorRT, Triton) and the command."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgead_runtime import values
from edgead_runtime.values import at_least_zero, positive


def add_export(commands: argparse._SubParsersAction) -> None:
    from edgead.export.formats import FORMATS
    from edgead_runtime.names import ENGINES, PRECISIONS, argtype, engine, precision, spellings

    p = commands.add_parser(
        "export",
        help="write a run as one self-contained graph, checked against torch",
        description="Export a run directory. The ONNX graph takes uint8 BGR frames [N, H, W, 3] and holds "
        "preprocessing, the model, map upsampling and blur, the score and its normalization. Export runs the "
        "graph in ONNX Runtime on real frames and fails if it disagrees with torch.",
    )
    p.add_argument(
        "run",
        type=Path,
        help="run directory written by `edgead train`, an exported fp32 .onnx (openvino, trt, triton, and onnx "
        "fp16/int8: no torch needed then) or a TensorRT .engine (triton)",
    )
    p.add_argument(
        "--format",
        required=True,
        type=argtype(engine, FORMATS, "--format"),
        help=f"output format: {spellings(ENGINES, FORMATS)}",
    )
    p.add_argument(
        "--precision",
        default="fp32",
        type=argtype(precision, PRECISIONS, "--precision"),
        help=f"numeric precision, {spellings(PRECISIONS, PRECISIONS)}; see each format's choices",
    )
    p.add_argument(
        "-o",
        "--output",
        type=values.flag(values.output_path, "--output"),
        help="output file (default: RUN/<model><suffix>; from an .onnx: beside it, <name><suffix> or "
        "<name>.<precision>.onnx)",
    )
    p.add_argument(
        "--part",
        default="full",
        choices=("full", "backbone"),
        help="'backbone': preprocessing + backbone only, to compare latency with the full graph",
    )
    p.add_argument(
        "--skip-doctor",
        action="store_true",
        help="do not run `edgead doctor` (TensorRT 8.5/10/11 readiness) on the written ONNX graphs (and, for "
        "--format trt, on the graph TensorRT will parse)",
    )
    p.add_argument(
        "--calibration-images",
        type=positive("--calibration-images"),
        metavar="N",
        help="--precision int8 (--format onnx, or trt from an fp32 graph): calibrate on N good images, spread "
        "evenly over the run's training images or --calibration-data (default: 64); the .onnx and the engine of "
        "one run use the same ones. --format onnx fp16/int8 also writes the fp32 graph beside the output as "
        "<name>.fp32.onnx",
    )
    p.add_argument(
        "--calibration-data",
        type=Path,
        metavar="DIR",
        help="--precision int8 from an fp32 graph (--format onnx or trt): good images for the scales, a folder, an "
        "MVTec category (its train/good) or a run directory (the images it was fitted on; the default with a run "
        "directory). Not used with an int8 .onnx, which carries its scales",
    )
    _add_trt_options(p)
    _add_triton_options(p)
    p.set_defaults(func=_export)


TRT_EXAMPLES = """\
TensorRT on a Jetson: export the .onnx on the workstation, copy it, build the engine on the device.
The engine build needs TensorRT + cuda-python there, not torch:
  edgead export runs/bottle-pc --format onnx -o bottle-pc.onnx                  # workstation
  scp bottle-pc.onnx jetson:                                                    # copy
  edgead export bottle-pc.onnx --format trt --precision fp16 -o bottle-pc.engine  # on the Jetson
  edgead-runtime bench bottle-pc.engine
  edgead export bottle-pc.onnx --format trt --precision int8 --calibration-data good_images/
The fp16/int8 .onnx variants convert without torch too (written beside it as bottle-pc.fp16.onnx):
  edgead export bottle-pc.onnx --format onnx --precision fp16
"""


def _add_trt_options(p: argparse.ArgumentParser) -> None:
    p.epilog = TRT_EXAMPLES
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    g = p.add_argument_group(
        "TensorRT engine (--format trt)",
        "built with the TensorRT Python API of the machine that runs it (8.5, 8.6, 10.x, 11.x); "
        "--precision fp32|fp16|int8",
    )
    g.add_argument(
        "--precision-mode",
        choices=("graph", "builder"),
        help="graph (default): fp16 from the fp16-typed ONNX graph, int8 from the Q/DQ graph (the only way on "
        "TensorRT 11); builder: FP16/INT8 builder flags + entropy calibrator (TensorRT 8.x/10.x)",
    )
    g.add_argument(
        "--min-batch", type=positive("--min-batch"), metavar="N", help="smallest batch the engine takes (default 1)"
    )
    g.add_argument(
        "--opt-batch", type=positive("--opt-batch"), metavar="N", help="batch the kernels are tuned for (default 1)"
    )
    g.add_argument(
        "--max-batch",
        type=positive("--max-batch"),
        metavar="N",
        help="largest batch the engine takes; triton: max_batch_size (default 8)",
    )
    g.add_argument(
        "--workspace-gb",
        type=values.flag(values.real, "--workspace-gb", low=0.0, low_open=True),
        metavar="GB",
        help="builder workspace limit (default: TensorRT's)",
    )
    g.add_argument(
        "--timing-cache", type=Path, metavar="FILE", help="reuse and update this kernel timing cache between builds"
    )
    g.add_argument(
        "--dla-core",
        type=at_least_zero("--dla-core"),
        metavar="N",
        help="run on Jetson DLA core N (fp16/int8, static batch), GPU fallback",
    )


def _add_triton_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "Triton model repository (--format triton, -o REPO; docs/scale-out.md)",
        "REPO/NAME/config.pbtxt + 1/model.onnx (onnxruntime_onnx; from a run or an .onnx) or 1/model.plan "
        "(tensorrt_plan; from an .engine with its .engine.json and source .onnx beside it); --max-batch sets "
        "max_batch_size (default 8)",
    )
    g.add_argument("--name", help="model name on the server (default: the source's file or folder name)")
    g.add_argument("--instances", type=int, metavar="N", help="model instances (instance_group count, default 1)")
    g.add_argument("--kind", choices=("cpu", "gpu"), help="instance kind (default: cpu for ONNX, gpu for an engine)")
    g.add_argument(
        "--queue-delay-us",
        type=int,
        metavar="US",
        help="dynamic batcher's longest wait for a fuller batch (default 1000)",
    )


def _export(args: argparse.Namespace) -> int:
    from edgead.export.formats import FORMATS, export

    options = {name: getattr(args, name, None) for spec in FORMATS.values() for name in spec.options}
    export(args.run, args.format, args.precision, args.output, args.part, not args.skip_doctor, **options)
    return 0
