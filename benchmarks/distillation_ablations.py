"""What edgead's departures from the STFPM and Reverse Distillation papers change, measured cheaply.

    python benchmarks/distillation_ablations.py --data ../shared/data/mvtec_ad/bottle --out runs/ablations \
        --results benchmarks/results/distillation

Each model is trained with ``--fast`` at 128 px on the first 40 good training images (the CI set's training
images, tests/conftest.py), then the trained torch model scores the whole test split at 128 px with its
per-stage maps combined in four ways:

- ``finest+blur``: combined at the finest stage's resolution, upsampled to the input, blurred (sigma 4): the
  exported graph (``combine_stage_maps`` + ``UpsampleBlur``);
- ``image+blur``: every stage map upsampled to the input size first, then combined, then blurred (anomalib's
  Reverse Distillation, the papers' code);
- ``image``: upsampled to the input first, combined, no blur (anomalib's STFPM and the STFPM paper);
- ``finest``: combined at the finest stage's resolution, upsampled, no blur.

Then the papers' training batch (STFPM 32, RD 16) against edgead's 8, same epochs (so fewer steps), graph maps.
Writes ``ablations.json`` (machine, settings, metrics) and ``ablations.txt`` (table).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from edgead.train.config import TrainConfig
from edgead.train.data import find_dataset, load_frames, load_masks
from edgead.train.fit import run_graph, train
from edgead.train.metrics import evaluate
from edgead.train.models.layers import UpsampleBlur, combine_stage_maps, resize_bilinear
from edgead.train.models.reverse_distillation.loss import cosine_distance
from edgead.train.models.stfpm.anomaly_map import stage_distance
from edgead.train.run_dir import load_run
from edgead_runtime.bench import machine_info
from edgead_runtime.preprocess import list_images

PAPER_BATCH = {"stfpm": 32, "reverse_distillation": 16}
COMBINE = {"stfpm": "multiply", "reverse_distillation": "add"}  # edgead's defaults, the papers' too
VARIANTS = ("finest+blur", "image+blur", "image", "finest")


def stage_maps(model: torch.nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """Per-stage anomaly maps [N, h_k, w_k], as the model's own anomaly map computes them."""
    if model.model_name == "stfpm":
        return [stage_distance(t, s) for t, s in zip(model.backbone(images), model.student(images), strict=True)]
    encoder, decoder = model.encode_decode(images)
    return [cosine_distance(e, d) for e, d in zip(encoder, decoder, strict=True)]


@torch.no_grad()
def variant_maps(graph: torch.nn.Module, frames: np.ndarray, variant: str) -> np.ndarray:
    """Raw anomaly maps [N, H, W] of one combination variant."""
    size = graph.size
    blur = UpsampleBlur(size)  # on a map already at the input size: the blur alone
    mode = COMBINE[graph.model.model_name]
    out = []
    for start in range(0, len(frames), 8):
        maps = stage_maps(graph.model, graph.input(torch.from_numpy(frames[start : start + 8])))
        if variant.startswith("image"):
            maps = [resize_bilinear(m.unsqueeze(1), size).squeeze(1) for m in maps]
        combined = resize_bilinear(combine_stage_maps(maps, mode).unsqueeze(1), size).squeeze(1)
        out.append((blur(combined) if variant.endswith("+blur") else combined).numpy())
    return np.concatenate(out)


def train_fast(model: str, good: Path, out: Path, size: int, batch_size: int) -> tuple[Path, float]:
    config = TrainConfig(model=model, data=str(good), out=str(out), image_size=size, fast=True, batch_size=batch_size)
    start = time.perf_counter()
    train(config)
    return out, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="MVTec AD bottle folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for the trained runs")
    parser.add_argument("--results", type=Path, required=True, help="folder for the JSON and text results")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--train-images", type=int, default=40, help="first N good training images (default 40)")
    args = parser.parse_args()

    good = args.out / "train-good"  # a plain folder of good images: the first N, as symlinks
    good.mkdir(parents=True, exist_ok=True)
    for path in list_images(args.data / "train" / "good")[: args.train_images]:
        if not (good / path.name).exists():
            (good / path.name).symlink_to(path.resolve())
    samples = find_dataset(args.data).test
    size = (args.image_size, args.image_size)
    frames, _ = load_frames([s.path for s in samples], size)
    labels = np.array([s.label for s in samples])
    masks, index = load_masks(samples, size)

    rows = []
    for model, paper_batch in PAPER_BATCH.items():
        for batch_size in (8, paper_batch):
            run, seconds = train_fast(model, good, args.out / f"{model}-b{batch_size}", args.image_size, batch_size)
            _, graph, _ = load_run(run)
            epochs = json.loads((run / "training.json").read_text())["epochs_run"]
            variants = VARIANTS if batch_size == 8 else VARIANTS[:1]
            graph_maps = run_graph(graph, frames, 8)["raw_anomaly_map"]
            for variant in variants:
                maps = variant_maps(graph, frames, variant)
                if variant == "finest+blur":  # the exported graph's own maps, computed again: must agree
                    np.testing.assert_allclose(maps, graph_maps, rtol=1e-4, atol=1e-6 * np.abs(graph_maps).max())
                metrics = evaluate(labels, maps.reshape(len(maps), -1).max(1), masks, maps[index])
                rows.append(
                    {"model": model, "batch_size": batch_size, "epochs": epochs, "variant": variant}
                    | {k: metrics[k] for k in ("image_auroc", "pixel_auroc", "aupro")}
                    | {"train_seconds": seconds}
                )

    report = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "machine": machine_info(),
        "settings": {
            "data": str(args.data),
            "train_images": args.train_images,
            "test_images": len(samples),
            "image_size": args.image_size,
            "schedule": "--fast",
            "seed": 0,
        },
        "rows": rows,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "ablations.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# {report['command']}",
        f"# machine: {report['machine']['cpu']}, {report['machine']['cores']} cores; "
        f"{args.train_images} train images, {len(samples)} test images, {args.image_size} px, --fast, seed 0",
        "model                 batch epochs variant      image_auroc pixel_auroc aupro  train_s",
    ]
    lines += [
        f"{r['model']:<21} {r['batch_size']:>5} {r['epochs']:>6} {r['variant']:<12} {r['image_auroc']:>11.4f} "
        f"{r['pixel_auroc']:>11.4f} {r['aupro']:>6.4f} {r['train_seconds']:>7.1f}"
        for r in rows
    ]
    (args.results / "ablations.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
