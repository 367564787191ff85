"""PatchCore's greedy k-center coreset: the pruned, compiled selection is the plain greedy selection."""

from __future__ import annotations

import numba
import numpy as np
import pytest
import torch

from edgead.train.models.patchcore.coreset import CHUNK, _greedy_k_center, greedy_coreset


def plain_greedy(points: np.ndarray, count: int, first: int) -> np.ndarray:
    """Gonzalez's farthest-point greedy, every distance computed at every step (float64)."""
    points = points.astype(np.float64)
    min_dist = np.full(len(points), np.inf)
    selected = [first]
    for _ in range(count - 1):
        min_dist = np.minimum(min_dist, ((points - points[selected[-1]]) ** 2).sum(1))
        selected.append(int(np.argmax(min_dist)))
    return np.array(selected)


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    """Points in a few tight blobs of different spreads: the case where pruning skips most of the work."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (12, dim))
    spread = rng.uniform(0.2, 3.0, 12)
    label = rng.integers(0, 12, n)
    return (centres[label] + rng.normal(0, 1, (n, dim)) * spread[label, None]).astype(np.float32)


@pytest.mark.parametrize(("n", "count"), [(3 * CHUNK + 17, 300), (500, 500), (50, 1)])
def test_pruned_selection_is_the_plain_greedy_selection(n, count):
    points = clustered(n, 16, seed=n)
    np.testing.assert_array_equal(_greedy_k_center(points, count, first=7), plain_greedy(points, count, first=7))


def test_selection_is_seeded_and_independent_of_the_thread_count():
    features = torch.from_numpy(clustered(2 * CHUNK + 5, 152, seed=1))
    runs = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        torch.manual_seed(5)
        runs.append(greedy_coreset(features, 64))
    torch.manual_seed(6)
    other_seed = greedy_coreset(features, 64)
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], other_seed)
    assert len(set(runs[0].tolist())) == 64  # distinct rows
