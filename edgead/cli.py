"""``edgead``: train, export, evaluate and benchmark anomaly detectors.

Each subcommand does one job and prints what it did. torch is imported inside the commands, so
``edgead --help`` is fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import types
import typing
from pathlib import Path

from edgead.train.device import add_device_argument  # argparse only: torch loads when a command runs
from edgead_runtime import values
from edgead_runtime.cli import dispatch
from edgead_runtime.values import at_least_zero, positive

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
TRAIN_EXAMPLES = """\
examples:
  edgead train --model patchcore --data ../shared/data/mvtec_ad/bottle --out runs/bottle-pc
  edgead train --model patchcore --data line7/good_images/ --coreset-ratio 0.05   # plain folder of good images
  edgead train --model dfm --data ../shared/data/magnetic_tile --score-type nll
  edgead train --model stfpm --data ../shared/data/mvtec_ad/bottle --epochs 20 --patience 5
  edgead train --model reverse_distillation --data DIR --map-combine multiply --fast   # quick check
  edgead train --model stad --data DIR --n-students 3
  edgead train --model patchcore --data DIR --backbone mobilenetv2_100 --layers 2 3
  edgead train --model patchcore --data DIR --backbone resnet18 --weights resnet18.pth
  edgead train --model stfpm --data DIR --device cuda:1      # on the second GPU (default: auto)
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
    _add_train(commands, model_options)
    _add_export(commands)
    _add_evaluate(commands)
    _add_bench(commands)
    _add_doctor(commands)
    _add_demo(commands)
    return parser


# ---------------------------------------------------------------- train


def _add_train(commands: argparse._SubParsersAction, model_options: bool) -> None:
    from edgead.train.config import MIN_IMAGE_SIZE, default  # no torch: TrainConfig's defaults, as edgead.train()
    from edgead.train.models import model_names  # no torch: the model folders

    p = commands.add_parser(
        "train",
        help="fit a model on good images, calibrate its threshold, evaluate, save a run directory",
        description="Fit a detector on good images. 10 percent of them are held out to calibrate the\n"
        "threshold; with an MVTec-layout folder the test split is scored and metrics.json written.",
        epilog=TRAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, choices=model_names(), help="detector family")
    p.add_argument(
        "--data", required=True, type=Path, metavar="DIR", help="MVTec-layout folder or a folder of good images"
    )
    p.add_argument("--backbone", default=default("backbone"), help="timm backbone name (default: %(default)s)")
    p.add_argument(
        "--layers", type=at_least_zero("--layers"), nargs="+", help="backbone stages to use (default: the model's)"
    )
    p.add_argument(
        "--weights", type=Path, metavar="FILE", help="backbone weights file, when no offline package has them"
    )
    p.add_argument(
        "--image-size",
        type=values.flag(values.integer, "--image-size", minimum=MIN_IMAGE_SIZE),
        default=default("image_size"),
        help="square model input size in pixels (default: %(default)s)",
    )
    p.add_argument(
        "--out", type=Path, metavar="RUN_DIR", help="run directory (default: runs/<model>-<data folder name>)"
    )
    p.add_argument(
        "--seed",
        type=at_least_zero("--seed"),
        default=default("seed"),
        help="seed of every random choice: the holdout split, PatchCore's coreset, random projections, and for "
        "stfpm, reverse_distillation and stad the initial weights and each epoch's shuffling (default: %(default)s)",
    )
    p.add_argument(
        "--batch-size",
        type=positive("--batch-size"),
        default=default("batch_size"),
        help="images per forward pass when fitting and scoring, and per optimizer step for trained models "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--holdout",
        type=values.flag(values.fraction, "--holdout"),
        default=default("holdout_fraction"),
        help="fraction of good images held out to calibrate (default: %(default)s)",
    )
    p.add_argument("--skip-corrupt", action="store_true", help="skip unreadable images with a warning")
    add_device_argument(p, "backbone, fitting (PatchCore's coreset and kNN, DFM's PCA) and training loops")
    schedule = p.add_argument_group(
        "training schedule (stfpm, reverse_distillation, stad)",
        "Epochs on shuffled good images; after each, the loss on the held-out images decides early stopping\n"
        "and which epoch's weights are kept (RUN_DIR/checkpoint.safetensors, rewritten atomically).",
    )
    epochs = schedule.add_argument("--epochs", type=int, help="maximum epochs, at least 1 (default: the model's)")
    lr = schedule.add_argument(
        "--lr",
        type=float,
        help="learning rate, above 0 (default: the model's)",
    )
    schedule.add_argument(
        "--patience",
        type=int,
        default=default("patience"),
        help="stop after this many epochs (at least 1) without a better held-out loss (default: %(default)s)",
    )
    fast = schedule.add_argument(
        "--fast",
        action="store_true",
        help="the model's short schedule (fewer epochs, same everything else), sized for CI and quick checks on a "
        "CPU; --epochs overrides it",
    )
    p.set_defaults(func=_train)
    if not model_options:
        return
    from edgead.train.gradient_loop import is_gradient_model
    from edgead.train.models import get_model_class

    models = [get_model_class(name) for name in model_names()]  # --help lists every model's options
    trained = [m for m in models if is_gradient_model(m)]
    epochs.help = epochs.help.replace("the model's", ", ".join(f"{m.model_name} {m.default_epochs}" for m in trained))
    lr.help = lr.help.replace("the model's", ", ".join(f"{m.model_name} {m.default_lr:g}" for m in trained))
    fast.help += " (" + ", ".join(f"{m.model_name}: {m.fast_epochs} epochs" for m in trained) + ")"
    added: set[str] = set()
    for model in models:
        group = p.add_argument_group(f"{model.model_name} options")
        for f in dataclasses.fields(model.Options):
            flag = "--" + f.name.replace("_", "-")
            if flag in added:  # an option two models share (same name) is one flag, listed under the first
                continue
            added.add(flag)
            kind = _option_type(f.type)
            group.add_argument(
                flag,
                dest=f"opt_{f.name}",
                type=values.flag(_option_parser(f, kind), flag),
                default=None,
                choices=f.metadata.get("choices"),
                metavar=None if "choices" in f.metadata else kind.__name__.upper(),
                help=_with_default(f.metadata.get("help", ""), f.default),
            )


def _with_default(text: str, default: object) -> str:
    return text if "default" in text else f"{text} (default: {default})"


def _option_type(annotation: object) -> type:
    """The parser type for an Options field annotated like ``int`` or ``int | None``."""
    hint = eval(annotation, {}) if isinstance(annotation, str) else annotation  # noqa: S307 - our own annotations
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def _option_parser(f: dataclasses.Field, kind: type) -> typing.Callable[..., object]:
    """The flag's type: the value converted, then checked by the same rule the Python API applies."""
    from edgead.train.models import check_option

    return lambda text, _name: check_option(f, text if kind in (int, float) else kind(text))


def _train(args: argparse.Namespace) -> int:
    from edgead.train.config import TrainConfig
    from edgead.train.fit import train

    options = {k[4:]: v for k, v in vars(args).items() if k.startswith("opt_") and v is not None}
    config = TrainConfig.from_settings(
        args.model,
        args.data,
        args.out,
        backbone=args.backbone,
        layers=args.layers,
        image_size=args.image_size,
        seed=args.seed,
        weights=args.weights,
        batch_size=args.batch_size,
        holdout_fraction=args.holdout,
        skip_corrupt=args.skip_corrupt,
        epochs=args.epochs,
        lr=args.lr,
        patience=args.patience,
        fast=args.fast,
        **options,
    )
    start = time.perf_counter()
    train(config, args.device)
    print(f"train took {time.perf_counter() - start:.1f} s")
    return 0


# ---------------------------------------------------------------- export


def _add_export(commands: argparse._SubParsersAction) -> None:
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


if __name__ == "__main__":
    raise SystemExit(main())
