"""PatchCore's coreset selection alone: the dense greedy loop against the lazy one, step-interleaved.

    python benchmarks/coreset_speed.py DATA [--before-steps N]

Extracts the training patch features exactly as ``edgead train --model patchcore`` does (defaults, seed 0), then
runs both selections one greedy step at a time in turn, so both see the same machine load. The dense loop costs
the same at every step, so ``--before-steps N`` times only its first N steps and scales them to all steps (say
so when you quote it). It also prints the lazy loop's work (heap entries refreshed, distances computed), the
numbers behind the memory traffic model in train/models/patchcore/README.md.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from edgead.train.config import TrainConfig
from edgead.train.data import find_dataset, load_frames, split_holdout
from edgead.train.gradient_loop import batches
from edgead.train.graph import build_graph
from edgead.train.models import get_model_class
from edgead.train.models.patchcore import coreset


def training_features(data: Path) -> torch.Tensor:
    config = TrainConfig(model="patchcore", data=str(data), out="unused")
    torch.manual_seed(config.seed)
    fit_paths, _ = split_holdout(find_dataset(data).train, config.holdout_fraction, config.seed)
    graph = build_graph(config, get_model_class("patchcore"))
    frames, _ = load_frames(fit_paths, config.size, False, desc="fit images")
    with torch.no_grad():
        embeddings = [graph.model.embed(graph.input(b)) for b in batches(frames, config.batch_size, "features")]
    return torch.cat([e.permute(0, 2, 3, 1).reshape(-1, e.shape[1]) for e in embeddings])


def dense_steps(points: torch.Tensor, count: int, first: int) -> Iterator[int]:
    """edgead's coreset loop before the pruning: every step a mat-vec over all points."""
    sq_norms = (points * points).sum(1)
    min_dist = torch.full((points.shape[0],), float("inf"))
    selected = first
    for _ in range(count):
        yield selected
        centre = points[selected]
        dist = sq_norms - 2.0 * (points @ centre) + centre.dot(centre)
        torch.minimum(min_dist, dist, out=min_dist)
        selected = int(torch.argmax(min_dist))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument("--before-steps", type=int, help="time the dense loop on this many steps only")
    args = parser.parse_args()
    features = training_features(args.data)
    torch.manual_seed(0)
    n, dim = features.shape
    count = int(round(n * 0.01))
    points = features @ coreset.random_projection(dim, 128)
    first = int(torch.randint(n, (1,)))
    array = np.ascontiguousarray(points.numpy())
    list(coreset.greedy_blocks(array, 3, first))  # compiled kernels loaded before timing
    work = np.zeros(2, np.int64)
    before_steps = min(args.before_steps or count, count)
    after = (int(block[0]) for block in coreset.greedy_blocks(array, count, first, block=1, work=work))
    runs = {"before": dense_steps(points, count, first), "after": after}
    seconds = dict.fromkeys(runs, 0.0)
    picks: dict[str, list[int]] = {k: [] for k in runs}
    for step in range(count):
        for name, steps in runs.items():
            if name == "before" and step >= before_steps:
                continue
            start = time.perf_counter()
            picks[name].append(next(steps))
            seconds[name] += time.perf_counter() - start
    before = seconds["before"] * count / before_steps
    same = picks["before"] == picks["after"][:before_steps]
    scaled = f" (its first {before_steps} steps: {seconds['before']:.1f} s, scaled)" if before_steps < count else ""
    print(f"{n} patches x {dim} -> {count} centres, 128-d projection, torch threads {torch.get_num_threads()}")
    print(f"coreset before {before:.1f} s{scaled}, after {seconds['after']:.1f} s: {before / seconds['after']:.1f}x")
    print(f"same centres in the same order over the {before_steps} steps compared: {same}")
    print(
        f"lazy loop: {work[0]} heap entries refreshed, {work[1]} distances ({work[1] / count:.0f} per step, dense: {n})"
    )


if __name__ == "__main__":
    main()
