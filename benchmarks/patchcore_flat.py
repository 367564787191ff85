"""PatchCore's distance error on a flat, uniform surface (issue 11, item 2) and the graph-vs-torch map error.

    python benchmarks/patchcore_flat.py make DIR               write the flat synthetic set (12 frames, each twice)
    python benchmarks/patchcore_flat.py measure RUN MODEL.onnx [--frames DIR] [--limit N]

``measure`` prints, as JSON, for the run's parity frames (and for the frames of DIR, e.g. the training frames):
the largest |d - d_float64| of the torch patch distances (float64 ``cdist`` on the same features as reference)
and the largest graph-vs-torch difference of each output, absolute and relative to the largest torch value.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np


def make_flat_surface(dest: Path, distinct: int = 12, copies: int = 2, size: tuple[int, int] = (240, 320)) -> Path:
    """Grey, low-texture, non-square frames (a static camera on a metal part): each frame written ``copies`` times."""
    rng = np.random.default_rng(0)
    h, w = size
    dest.mkdir(parents=True, exist_ok=True)
    ramp = np.linspace(-4, 4, w)[None, :, None]
    for i in range(distinct):
        grain = cv2.GaussianBlur(rng.normal(0, 1.5, (h, w)).astype(np.float32), (0, 0), 2)[..., None]
        frame = np.clip(118 + i * 0.5 + ramp + grain, 0, 255).round().astype(np.uint8).repeat(3, axis=2)
        for c in range(copies):
            cv2.imwrite(str(dest / f"{i:03d}_{c}.png"), frame)
    return dest


def measure(run: Path, model_path: Path, frames_dir: Path | None, limit: int | None) -> dict:
    import onnxruntime as ort
    import torch

    from edgead.train.data import find_dataset, load_frames
    from edgead.train.run_dir import load_parity_frames, load_run
    from edgead_runtime.metadata import INPUT_NAME, OUTPUT_NAMES

    config, graph, _ = load_run(run)
    sets = {"parity": load_parity_frames(run)}
    if frames_dir:
        sets[str(frames_dir)] = load_frames(find_dataset(frames_dir).train[:limit], config.size, False, desc=None)[0]
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    bank = graph.model.bank.double()
    report = {}
    for name, frames in sets.items():
        dist_err, dist_max = 0.0, 0.0
        diff = {k: 0.0 for k in OUTPUT_NAMES}
        top = {k: 0.0 for k in OUTPUT_NAMES}
        for start in range(0, len(frames), 8):
            batch = frames[start : start + 8]
            with torch.no_grad():
                x = graph.input(torch.from_numpy(batch))
                dist, _ = graph.model(x)
                emb = graph.model.embed(x)
                ref = torch.cdist(emb.permute(0, 2, 3, 1).reshape(-1, bank.shape[1]).double(), bank).amin(1)
                expected = [t.numpy() for t in graph(torch.from_numpy(batch))]
            dist_err = max(dist_err, float((dist.double().flatten() - ref).abs().max()))
            dist_max = max(dist_max, float(ref.max()))
            got_all = session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})
            for k, want, got in zip(OUTPUT_NAMES, expected, got_all, strict=True):
                diff[k] = max(diff[k], float(np.abs(got - want).max()))
                top[k] = max(top[k], float(np.abs(want).max()))
        report[name] = {
            "frames": len(frames),
            "distance_abs_error_vs_float64": dist_err,
            "largest_distance": dist_max,
            "graph_vs_torch_abs": diff,
            "graph_vs_torch_relative": {k: diff[k] / top[k] if top[k] else 0.0 for k in diff},
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make", help="write the flat synthetic set")
    make.add_argument("dir", type=Path)
    meas = sub.add_parser("measure", help="distance and map errors of a run and its exported graph")
    meas.add_argument("run", type=Path)
    meas.add_argument("model", type=Path)
    meas.add_argument("--frames", type=Path, help="also these frames (a folder of good images)")
    meas.add_argument("--limit", type=int, help="at most this many frames of --frames")
    args = parser.parse_args()
    if args.command == "make":
        print(make_flat_surface(args.dir))
    else:
        print(json.dumps(measure(args.run, args.model, args.frames, args.limit), indent=1))


if __name__ == "__main__":
    main()
