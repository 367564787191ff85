"""Greedy k-center coreset selection with a random projection (PatchCore, Sec. 3.2).

The greedy step is exact and lazy (the lazy evaluation of Minoux's accelerated greedy, 1978, applied to
Gonzalez's farthest-point greedy). Each point's distance to its nearest centre only shrinks as centres are added,
so a distance computed against the first ``last`` centres is an upper bound on the current one. The points sit in
a max-heap on those bounds; a step refreshes the bounds at the top of the heap against the centres added since
(the top is then exact) until the top is up to date: it is then at least every other point's current distance,
so it is the farthest point. Only the few points near the top are ever refreshed, and their distances are to
the centres (a few MB, in cache), never a pass over all points. The selection is that of the plain greedy
algorithm: same centres, same order, ties to the lowest index. (One difference, where every remaining distance is
0 because more centres are asked for than there are distinct rows: the plain arg-max picks row 0 again, the heap
only holds rows not chosen yet, so the selection stays distinct rows.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch
from numba import njit, prange
from tqdm.auto import tqdm

# Stale heap entries refreshed together, in parallel: enough to amortize starting the threads (a refresh is a
# few microseconds), few enough that hardly any of them is refreshed before it had to be (measured on Magnetic
# Tile, 2-core EPYC: 64 is 1.8x a single thread; 8 is slower than one thread, 256 wastes work).
REFRESH_BATCH = 64
# Reassociation lets LLVM vectorize the sum of squares over the dimensions; no flag that assumes finite values.
# The order of the sum is fixed at compile time, so the selection is deterministic and independent of threads.
FASTMATH = {"reassoc", "contract"}


def random_projection(dim: int, out_dim: int) -> torch.Tensor:
    """A Gaussian Johnson-Lindenstrauss projection [dim, out_dim]: squared distances are kept in expectation.

    Drawn from torch's global (CPU) generator, which ``edgead train --seed`` seeds, whatever the device.
    """
    return torch.randn(dim, out_dim) / out_dim**0.5


def principal_directions(features: torch.Tensor, count: int, chunk: int = 65536) -> torch.Tensor:
    """The ``count`` directions of largest variance of ``features`` [N, D], as orthonormal columns [D, count].

    The covariance is summed in float64 over chunks of rows (so that the order of the eigenvalues is not float32
    noise, and without a float64 copy of all N rows)."""
    mean = features.double().mean(0)
    covariance = torch.zeros(features.shape[1], features.shape[1], dtype=torch.float64, device=features.device)
    for rows in features.split(chunk):
        centred = rows.double() - mean
        covariance += centred.T @ centred
    _, vectors = torch.linalg.eigh(covariance / max(features.shape[0] - 1, 1))  # ascending
    return vectors[:, -count:].flip(1).float().contiguous()


def greedy_coreset(features: torch.Tensor, count: int, projection_dim: int = 128) -> torch.Tensor:
    """Indices of ``count`` rows of ``features`` [n, D] that cover all rows best (greedy k-center).

    Distances are computed in a Johnson-Lindenstrauss random projection to ``projection_dim`` dimensions.
    Random draws (the projection, then the first centre) use torch's global generator, which
    ``edgead train --seed`` seeds; the rest is deterministic and does not depend on the thread count.
    """
    n, dim = features.shape
    device = features.device  # random draws on the CPU generator; the projection on ``device``, the greedy on the CPU
    count = max(1, min(count, n))
    points = features @ random_projection(dim, projection_dim).to(device) if dim > projection_dim else features
    first = int(torch.randint(n, (1,)))
    points = np.ascontiguousarray(points.detach().cpu().numpy(), dtype=np.float32)
    return torch.from_numpy(_greedy_k_center(points, count, first)).to(device)


def _greedy_k_center(points: np.ndarray, count: int, first: int) -> np.ndarray:
    """Gonzalez's farthest-point greedy from ``first``: the ``count`` selected row indices, in order."""
    progress = tqdm(total=count, desc="coreset", unit="centre", leave=False, mininterval=0.5)
    selected = []
    for block in greedy_blocks(points, count, first, block=max(1, count // 100)):
        selected.append(block)
        progress.update(len(block))
    progress.close()
    return np.concatenate(selected)


class _LazyState(NamedTuple):
    centres: np.ndarray  # [count, dim] the centres chosen so far
    last: np.ndarray  # [n] how many centres each point's bound accounts for
    keys: np.ndarray  # [n] the heap: bound (squared distance to the nearest of its ``last`` centres) ...
    items: np.ndarray  # [n] ... and point, largest bound first, ties to the lowest index
    size: np.ndarray  # [1] entries in the heap
    batch_keys: np.ndarray  # [REFRESH_BATCH] the stale entries being refreshed
    batch_items: np.ndarray
    work: np.ndarray  # [2] entries refreshed, distances computed


def greedy_blocks(
    points: np.ndarray, count: int, first: int, block: int = 1, work: np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """The greedy selection, up to ``block`` centres per ``next``: ``first``, then each farthest point in turn.

    ``work``, if given (int64 [2]), accumulates the heap entries refreshed and the distances they took.
    """
    n, dim = points.shape
    state = _LazyState(
        np.empty((count, dim), np.float32),
        np.ones(n, np.int32),
        np.empty(n, np.float32),
        np.empty(n, np.int64),
        np.zeros(1, np.int64),
        np.empty(REFRESH_BATCH, np.float32),
        np.empty(REFRESH_BATCH, np.int64),
        np.zeros(2, np.int64) if work is None else work,
    )
    state.centres[0] = points[first]
    _start(points, first, state)
    yield np.array([first])
    for done in range(1, count, block):
        out = np.empty(min(block, count - done), np.int64)
        _advance(points, done, out, state)
        yield out


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _squared_distance(a: np.ndarray, b: np.ndarray) -> np.float32:
    s = np.float32(0.0)
    for k in range(a.shape[0]):
        t = a[k] - b[k]
        s += t * t
    return s


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def _distances_to(points: np.ndarray, centre: np.ndarray, out: np.ndarray) -> None:
    for p in prange(points.shape[0]):
        out[p] = _squared_distance(points[p], centre)


@njit(cache=True)
def _start(points: np.ndarray, first: int, state: _LazyState) -> None:
    """Every point's distance to the first centre, in a heap without the first centre."""
    n = points.shape[0]
    keys, items = state.keys, state.items
    # the parallel kernels take plain arrays: numba 0.68 compiles writes through a NamedTuple's fields inside a
    # prange loop into writes that never reach the arrays (seen here: keys left uninitialized)
    _distances_to(points, state.centres[0], keys)
    for p in range(n):
        items[p] = p
    keys[first], items[first] = keys[n - 1], items[n - 1]
    state.size[0] = n - 1
    for pos in range((n - 1) // 2 - 1, -1, -1):
        _sift_down(keys, items, n - 1, pos)


@njit(cache=True)
def _advance(points: np.ndarray, done: int, out: np.ndarray, state: _LazyState) -> None:
    """Choose centres ``done`` .. ``done + len(out) - 1`` into ``out``."""
    keys, items, last, size = state.keys, state.items, state.last, state.size
    for step in range(out.shape[0]):
        i = done + step  # centres chosen so far
        while last[items[0]] != i:  # the top's bound is stale: refresh it and the stale entries below it
            count = 0
            while count < REFRESH_BATCH and size[0] > 0 and last[items[0]] != i:
                state.batch_keys[count], state.batch_items[count] = keys[0], items[0]
                count += 1
                size[0] -= 1
                keys[0], items[0] = keys[size[0]], items[size[0]]
                _sift_down(keys, items, size[0], 0)
            state.work[0] += count
            state.work[1] += _refresh(
                points, state.centres, i, state.batch_keys[:count], state.batch_items[:count], last
            )
            for b in range(count):
                keys[size[0]], items[size[0]] = state.batch_keys[b], state.batch_items[b]
                size[0] += 1
                _sift_up(keys, items, size[0] - 1)
        out[step] = items[0]  # exact, and no other point's bound exceeds it: the farthest point
        state.centres[i] = points[items[0]]
        size[0] -= 1
        keys[0], items[0] = keys[size[0]], items[size[0]]
        _sift_down(keys, items, size[0], 0)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def _refresh(points, centres, i, keys, items, last) -> int:
    """Bring the bounds ``keys`` of points ``items`` up to date against centres ``last`` .. ``i - 1``; the number
    of distances that took."""
    distances = 0
    for b in prange(items.shape[0]):
        p = items[b]
        m = keys[b]
        distances += i - last[p]
        for j in range(last[p], i):
            s = _squared_distance(points[p], centres[j])
            if s < m:
                m = s
        keys[b] = m
        last[p] = i
    return distances


@njit(cache=True, inline="always")
def _first(keys: np.ndarray, items: np.ndarray, a: int, b: int) -> bool:
    """Heap order: the larger bound first, on equal bounds the lower index (the plain greedy's arg-max)."""
    return keys[a] > keys[b] or (keys[a] == keys[b] and items[a] < items[b])


@njit(cache=True)
def _sift_down(keys: np.ndarray, items: np.ndarray, size: int, pos: int) -> None:
    while True:
        child = 2 * pos + 1
        if child >= size:
            return
        if child + 1 < size and _first(keys, items, child + 1, child):
            child += 1
        if not _first(keys, items, child, pos):
            return
        keys[pos], keys[child] = keys[child], keys[pos]
        items[pos], items[child] = items[child], items[pos]
        pos = child


@njit(cache=True)
def _sift_up(keys: np.ndarray, items: np.ndarray, pos: int) -> None:
    while pos > 0:
        parent = (pos - 1) // 2
        if not _first(keys, items, pos, parent):
            return
        keys[pos], keys[parent] = keys[parent], keys[pos]
        items[pos], items[parent] = items[parent], items[pos]
        pos = parent


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
