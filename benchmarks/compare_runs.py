"""Compare two run directories of the same model: weights, memory bank, calibration, metrics, fit time.

    python benchmarks/compare_runs.py REF_RUN OTHER_RUN --exact       # bit for bit (CPU vs CPU)
    python benchmarks/compare_runs.py CPU_RUN CUDA_RUN                  # within tolerances (benchmarks/gpu_check.sh)

Within tolerances means (defaults; each a flag):
- every float tensor of model.safetensors but the bank: relative L2 difference ||a - b|| / ||b|| <= --weights-rtol;
  integer tensors (batch-norm counters) equal;
- PatchCore's bank (and its norms): each row of OTHER's bank lies within --bank-rtol (relative L2) of some row of
  REF's bank, for at least --bank-match of the rows. The greedy coreset is an argmax per step, so a near-tie that
  float32 summation order breaks the other way changes later picks; the rows are still training patches, and most
  of them are picked by both runs. The neighbour table (``support``) indexes the bank, so it is compared only when
  the banks are equal row for row;
- image and pixel AUROC (metrics.json) agree to 3 decimals: |a - b| < 5e-4.
Exit status 0 when everything holds, 1 otherwise; one line per check.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

BANK_KEYS = ("model.bank", "model.bank_sq_norm")
SUPPORT_KEY = "model.support"
AUROC_KEYS = ("image_auroc", "pixel_auroc")


def relative_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def bank_match(bank: torch.Tensor, ref: torch.Tensor, rtol: float) -> tuple[float, float]:
    """Share of ``bank`` rows within ``rtol`` (relative L2) of their nearest ``ref`` row; largest such distance."""
    bank, ref = bank.double(), ref.double()
    dist = torch.cdist(bank, ref).min(dim=1).values / ref.norm(dim=1).mean().clamp_min(1e-12)
    return float((dist <= rtol).double().mean()), float(dist.max())


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def compare(ref_dir: Path, other_dir: Path, args: argparse.Namespace) -> list[tuple[bool, str]]:
    """(passed, line) per check."""
    ref, other = load_file(str(ref_dir / "model.safetensors")), load_file(str(other_dir / "model.safetensors"))
    checks: list[tuple[bool, str]] = []
    if set(ref) != set(other):
        return [
            (
                False,
                f"tensors differ: only in ref {sorted(set(ref) - set(other))[:5]}, "
                f"only in other {sorted(set(other) - set(ref))[:5]}",
            )
        ]
    if args.exact:
        unequal = [k for k in ref if ref[k].dtype != other[k].dtype or not torch.equal(ref[k], other[k])]
        checks.append((not unequal, f"{len(ref)} tensors bit-identical" if not unequal else f"differ: {unequal[:8]}"))
        same_cal = _read_json(ref_dir / "calibration.json") == _read_json(other_dir / "calibration.json")
        checks.append((same_cal, "calibration.json identical" if same_cal else "calibration.json differs"))
    else:
        banks_equal = all(k not in ref or ref[k].shape == other[k].shape for k in BANK_KEYS)
        if "model.bank" in ref:
            share, worst = bank_match(other["model.bank"], ref["model.bank"], args.bank_rtol)
            in_order = (
                ref["model.bank"].shape == other["model.bank"].shape
                and relative_l2(other["model.bank"], ref["model.bank"]) <= args.bank_rtol
            )
            banks_equal = banks_equal and in_order
            checks.append(
                (
                    share >= args.bank_match and ref["model.bank"].shape == other["model.bank"].shape,
                    f"bank {tuple(other['model.bank'].shape)}: {share:.1%} of rows within {args.bank_rtol:g} "
                    f"of a reference row (need {args.bank_match:.0%}); row for row equal: {in_order}",
                )
            )
        worst_key, worst = "", 0.0
        for key, tensor in ref.items():
            if key in BANK_KEYS or (key == SUPPORT_KEY and not banks_equal):
                continue
            if tensor.shape != other[key].shape:
                checks.append((False, f"{key}: shape {tuple(other[key].shape)} vs {tuple(tensor.shape)}"))
            elif not tensor.is_floating_point():
                if not torch.equal(tensor, other[key]):
                    checks.append((False, f"{key}: integer tensor differs"))
            elif (diff := relative_l2(other[key], tensor)) > worst:
                worst_key, worst = key, diff
        checks.append(
            (
                worst <= args.weights_rtol,
                f"weights: largest relative L2 difference {worst:.2e} ({worst_key or '-'}), "
                f"tolerance {args.weights_rtol:g}",
            )
        )
    ref_m, other_m = _read_json(ref_dir / "metrics.json"), _read_json(other_dir / "metrics.json")
    for key in AUROC_KEYS:
        if key in ref_m and key in other_m:
            same = abs(ref_m[key] - other_m[key]) < 5e-4
            checks.append((same, f"{key}: {ref_m[key]:.4f} vs {other_m[key]:.4f} (3 decimals)"))
    seconds = [m.get("fit_seconds") for m in (ref_m, other_m)]
    if None not in seconds:
        devices = [m.get("device", "?") for m in (ref_m, other_m)]
        checks.append(
            (
                True,
                f"fit time: {seconds[0]:.1f} s on {devices[0]}, {seconds[1]:.1f} s on {devices[1]} "
                f"({seconds[0] / max(seconds[1], 1e-9):.1f}x)",
            )
        )
    return checks


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("ref", type=Path, help="reference run directory (e.g. the CPU run)")
    p.add_argument("other", type=Path, help="run directory to check against it (e.g. the CUDA run)")
    p.add_argument("--exact", action="store_true", help="require bit-identical tensors and calibration")
    p.add_argument("--weights-rtol", type=float, default=1e-2, help="relative L2 per tensor (default: %(default)s)")
    p.add_argument("--bank-rtol", type=float, default=1e-3, help="relative L2 per bank row (default: %(default)s)")
    p.add_argument("--bank-match", type=float, default=0.95, help="share of bank rows matched (default: %(default)s)")
    args = p.parse_args(argv)
    for run in (args.ref, args.other):
        if not (run / "model.safetensors").is_file():
            print(f"compare_runs: error: '{run}' is not a run directory (no model.safetensors)", file=sys.stderr)
            return 1
    checks = compare(args.ref, args.other, args)
    for passed, line in checks:
        print(f"  {'ok  ' if passed else 'FAIL'} {line}")
    return 0 if all(passed for passed, _ in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
