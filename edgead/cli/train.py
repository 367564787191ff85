"""``edgead train``: its flags (model options from the model classes) and the command."""

from __future__ import annotations

import argparse
import dataclasses
import time
import types
import typing
from pathlib import Path

from edgead.train.device import add_device_argument  # argparse only: torch loads when a command runs
from edgead_runtime import values
from edgead_runtime.values import at_least_zero, positive

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


def add_train(commands: argparse._SubParsersAction, model_options: bool) -> None:
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
