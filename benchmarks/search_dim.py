"""What PatchCore's ``--search-dim`` changes: the picks of the reduced search against the exact nearest bank row.

    python benchmarks/search_dim.py RUN [RUN ...] --data DATA [--limit N] [--json OUT]

For each run (the same data and seed, trained with different ``--search-dim``, so the same bank), on the test
images of DATA: the share of patches whose nearest bank row differs from the exact one (argmin over all
dimensions, float64), and the excess of the reported distance over the exact nearest distance (the reduced search
reports the exact distance to the row it picked, so the excess is never negative): its largest value and 99.9th
percentile, absolute and relative, and the largest change of an image's largest patch distance.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def measure(run: Path, data: Path, limit: int | None) -> dict:
    import torch

    from edgead.train.data import find_dataset, load_frames
    from edgead.train.run_dir import load_run

    config, graph, _ = load_run(run)
    model = graph.model
    paths = [s.path for s in find_dataset(data).test][:limit]
    frames, _ = load_frames(paths, config.size, desc=run.name)
    bank = model.bank.double()
    picked_d, exact_d, differ = [], [], 0
    with torch.no_grad():
        for start in range(0, len(frames), 8):
            emb = model.embed(graph.input(torch.from_numpy(frames[start : start + 8])))
            flat = emb.permute(0, 2, 3, 1).reshape(-1, emb.shape[1])
            picked = torch.argmin(model._bank_term(flat), dim=1)
            exact = torch.cdist(flat.double(), bank)  # [P, M]
            best = exact.min(1)
            differ += int((picked != best.indices).sum())
            picked_d.append(exact.gather(1, picked[:, None]).squeeze(1).reshape(emb.shape[0], -1).numpy())
            exact_d.append(best.values.reshape(emb.shape[0], -1).numpy())
    picked_d, exact_d = np.concatenate(picked_d), np.concatenate(exact_d)
    excess = picked_d - exact_d
    relative = excess / np.maximum(exact_d, 1e-12)
    return {
        "run": str(run),
        "search_dim": model.search_basis.shape[1] or None,
        "dims": int(bank.shape[1]),
        "images": len(paths),
        "patches": int(exact_d.size),
        "picks_differ": differ / exact_d.size,
        "excess_max": float(excess.max()),
        "excess_p999": float(np.quantile(excess, 0.999)),
        "relative_excess_max": float(relative.max()),
        "relative_excess_p999": float(np.quantile(relative, 0.999)),
        "image_max_change_max": float(np.abs(picked_d.max(1) - exact_d.max(1)).max()),
        "largest_exact_distance": float(exact_d.max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--limit", type=int, help="only the first N test images")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    rows = [measure(run, args.data, args.limit) for run in args.runs]
    print("| run | search dims | picks that differ | excess max (p99.9) | relative max (p99.9) | image max change |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {Path(r['run']).name} | {r['search_dim'] or r['dims']} of {r['dims']} | {r['picks_differ']:.2%} "
            f"| {r['excess_max']:.4f} ({r['excess_p999']:.4f}) | {r['relative_excess_max']:.2%} "
            f"({r['relative_excess_p999']:.2%}) | {r['image_max_change_max']:.4f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
