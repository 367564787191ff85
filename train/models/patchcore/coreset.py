"""Greedy k-center coreset selection with a random projection (PatchCore, Sec. 3.2)."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm


def random_projection(dim: int, out_dim: int) -> torch.Tensor:
    """A Gaussian Johnson-Lindenstrauss projection [dim, out_dim]: squared distances are kept in expectation.

    Drawn from torch's global (CPU) generator, which ``edgead train --seed`` seeds, whatever the device.
    """
    return torch.randn(dim, out_dim) / out_dim**0.5


def greedy_coreset(features: torch.Tensor, count: int, projection_dim: int = 128) -> torch.Tensor:
    """Indices of ``count`` rows of ``features`` [n, D] that cover all rows best (greedy k-center).

    Distances are computed in a Johnson-Lindenstrauss random projection to ``projection_dim``
    dimensions, which keeps each greedy step one matrix-vector product over the projected set.
    Random draws use torch's global generator, which ``edgead train --seed`` seeds.
    """
    n, dim = features.shape
    device = features.device  # random draws on the CPU generator (device-independent), the work on ``device``
    count = max(1, min(count, n))
    points = features @ random_projection(dim, projection_dim).to(device) if dim > projection_dim else features
    sq_norms = (points * points).sum(1)
    selected = torch.empty(count, dtype=torch.long, device=device)
    selected[0] = int(torch.randint(n, (1,)))
    # squared distance of every point to its closest selected centre
    min_dist = torch.full((n,), float("inf"), device=device)
    for i in tqdm(range(count), desc="coreset", unit="centre", leave=False, mininterval=0.5):
        centre = points[selected[i]]
        dist = sq_norms - 2.0 * (points @ centre) + centre.dot(centre)
        torch.minimum(min_dist, dist, out=min_dist)
        if i + 1 < count:
            selected[i + 1] = torch.argmax(min_dist)
    return selected


def nearest_in_bank(bank: torch.Tensor, k: int, chunk: int = 4096) -> torch.Tensor:
    """For each bank row, the indices of its ``k`` nearest bank rows, itself first: [M, k]."""
    k = min(k, bank.shape[0])
    sq = (bank * bank).sum(1)
    out = []
    for start in range(0, bank.shape[0], chunk):
        rows = bank[start : start + chunk]
        dist = sq[start : start + chunk, None] - 2.0 * rows @ bank.T + sq[None]
        diagonal = torch.arange(rows.shape[0], device=bank.device)
        dist[diagonal, diagonal + start] = -1.0  # itself first
        out.append(torch.topk(dist, k, dim=1, largest=False).indices)
    return torch.cat(out)
