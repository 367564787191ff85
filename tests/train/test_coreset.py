"""PatchCore's greedy k-center coreset: the lazy, compiled selection is the plain greedy selection."""

from __future__ import annotations

import numba
import numpy as np
import pytest
import torch

from edgead.train.models.patchcore.coreset import REFRESH_BATCH, _greedy_k_center, greedy_blocks, greedy_coreset


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
    """Points in a few tight blobs of different spreads: many near-ties between bounds, and stale bounds that
    stay on top of the heap for many steps."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (12, dim))
    spread = rng.uniform(0.2, 3.0, 12)
    label = rng.integers(0, 12, n)
    return (centres[label] + rng.normal(0, 1, (n, dim)) * spread[label, None]).astype(np.float32)


@pytest.mark.parametrize(("n", "count"), [(20_000, 300), (500, 500), (50, 1), (REFRESH_BATCH + 1, 40)])
def test_lazy_selection_is_the_plain_greedy_selection(n, count):
    points = clustered(n, 16, seed=n)
    np.testing.assert_array_equal(_greedy_k_center(points, count, first=7), plain_greedy(points, count, first=7))


def test_ties_go_to_the_lowest_index_as_in_the_plain_greedy():
    """Duplicate rows and a lattice of equal distances: the heap must break every tie as arg-max does."""
    grid = np.stack(np.meshgrid(np.arange(6), np.arange(6)), -1).reshape(-1, 2).astype(np.float32)
    points = np.concatenate([grid, grid, grid[::-1]])
    np.testing.assert_array_equal(_greedy_k_center(points, 36, first=0), plain_greedy(points, 36, first=0))
    # past the 36 distinct rows every distance is 0: the plain greedy's arg-max picks row 0 again and again,
    # the heap never holds a chosen row, so the bank gets the duplicates (distinct indices, no repeated row)
    more = _greedy_k_center(points, 50, first=0)
    assert len(set(more.tolist())) == 50


def test_blocks_of_any_size_give_the_same_selection_and_count_the_work():
    points = clustered(5_000, 16, seed=3)
    work = np.zeros(2, np.int64)
    one = np.concatenate(list(greedy_blocks(points, 120, 11, block=1, work=work)))
    many = np.concatenate(list(greedy_blocks(points, 120, 11, block=50)))
    np.testing.assert_array_equal(one, many)
    assert len(one) == 120
    assert 0 < work[0] <= work[1] < 120 * 5_000  # lazy: far fewer distances than the plain greedy's


def test_selection_is_seeded_and_independent_of_the_thread_count():
    features = torch.from_numpy(clustered(20_000, 152, seed=1))
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
