"""k-means: seeded determinism, inertia vs init, nearest-centroid assignment, reservoir sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiotokens.tokenizers.kmeans import (
    KMeansConfig,
    ReservoirSampler,
    assign,
    fit_kmeans,
    inertia,
    kmeans_parallel,
    kmeans_plus_plus,
    lloyd,
)

pytestmark = pytest.mark.usefixtures("single_thread")


def blobs(n: int = 4000, dim: int = 16, centers: int = 24, seed: int = 0) -> np.ndarray:
    """Gaussian clusters with unequal sizes and spreads: float32 [n, dim]."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(centers, dim)) * 4.0
    labels = rng.choice(centers, n, p=rng.dirichlet(np.full(centers, 2.0)))
    scale = rng.uniform(0.5, 1.5, size=centers)[labels, None]
    return (mu[labels] + rng.normal(size=(n, dim)) * scale).astype(np.float32)


def test_same_seed_same_centroids_and_other_seed_differs() -> None:
    x = blobs()
    a = fit_kmeans(x, KMeansConfig(k=16, iterations=10, seed=3))
    b = fit_kmeans(x, KMeansConfig(k=16, iterations=10, seed=3))
    c = fit_kmeans(x, KMeansConfig(k=16, iterations=10, seed=4))
    np.testing.assert_array_equal(a.centroids, b.centroids)
    assert a.centroids.shape == (16, 16) and a.centroids.dtype == np.float32
    assert not np.array_equal(a.centroids, c.centroids)


def test_lloyd_lowers_inertia_below_init_and_random_centroids() -> None:
    x = blobs()
    res = fit_kmeans(x, KMeansConfig(k=24, iterations=20, seed=0))
    assert res.inertia == pytest.approx(inertia(x, res.centroids), rel=1e-6)
    assert res.inertia < res.init_inertia
    seeds_only = fit_kmeans(x, KMeansConfig(k=24, iterations=0, seed=0))
    assert res.init_inertia == pytest.approx(seeds_only.init_inertia, rel=1e-5)
    assert seeds_only.init_inertia == pytest.approx(inertia(x, seeds_only.centroids), rel=1e-9)
    capped = fit_kmeans(x, KMeansConfig(k=24, iterations=20, seed=0, max_points_per_centroid=40))
    assert capped.init_inertia == pytest.approx(seeds_only.init_inertia, rel=1e-9)
    rng = np.random.default_rng(0)
    random_rows = x[rng.choice(len(x), 24, replace=False)]
    assert res.inertia < 0.8 * inertia(x, random_rows)
    # with the true number of clusters, k-means gets close to the within-cluster noise
    more = fit_kmeans(x, KMeansConfig(k=24, iterations=20, seed=0, redo=3))
    assert more.inertia <= res.inertia


def test_redo_keeps_the_best_run() -> None:
    x = blobs(seed=1)
    runs = [fit_kmeans(x, KMeansConfig(k=20, iterations=5, seed=s * 1000)).inertia
            for s in range(3)]
    best = fit_kmeans(x, KMeansConfig(k=20, iterations=5, seed=0, redo=3)).inertia
    assert best == pytest.approx(min(runs), rel=1e-6)


def test_kmeans_plus_plus_picks_distinct_data_rows() -> None:
    x = blobs(n=500)
    init = kmeans_plus_plus(x, 24, seed=0)
    assert init.shape == (24, 16)
    rows = {tuple(r) for r in x.tolist()}
    assert all(tuple(r) in rows for r in init.tolist())
    assert len({tuple(r) for r in init.tolist()}) == 24
    # seeding spreads out: its inertia beats k random rows on clustered data
    rng = np.random.default_rng(1)
    assert inertia(x, init) < inertia(x, x[rng.choice(len(x), 24, replace=False)])


def test_kmeans_plus_plus_with_duplicate_points() -> None:
    x = np.repeat(np.eye(3, dtype=np.float32), 10, axis=0)
    init = kmeans_plus_plus(x, 5, seed=0)
    assert len({tuple(r) for r in init.tolist()}) == 3  # only 3 distinct points exist


def test_kmeans_plus_plus_same_seed_same_rows_other_seed_differs() -> None:
    x = blobs(n=1000)
    np.testing.assert_array_equal(kmeans_plus_plus(x, 20, seed=5), kmeans_plus_plus(x, 20, seed=5))
    assert not np.array_equal(kmeans_plus_plus(x, 20, seed=5), kmeans_plus_plus(x, 20, seed=6))
    with pytest.raises(ValueError, match="n_trials"):
        kmeans_plus_plus(x, 20, n_trials=0)


def test_subsample_seeding_is_within_a_factor_of_exact_kmeans_plus_plus() -> None:
    """Default seeding (k-means++ on 16 * k sampled rows) vs k-means++ on all rows: its
    inertia on all rows is within 1.3x on clustered data (k = true number of clusters), far
    better than random rows, and the seeding time is reported within the total."""
    for seed in range(3):
        x = blobs(seed=seed)
        exact = inertia(x, kmeans_plus_plus(x, 24, seed=seed))
        res = fit_kmeans(x, KMeansConfig(k=24, iterations=0, seed=seed))
        assert KMeansConfig().init_points_per_centroid * 24 < len(x)  # really a subsample
        assert res.init_inertia <= 1.3 * exact, (seed, res.init_inertia / exact)
        rows = x[np.random.default_rng(seed).choice(len(x), 24, replace=False)]
        assert res.init_inertia < 0.6 * inertia(x, rows)
        assert 0.0 < res.init_seconds <= res.seconds


def test_assign_matches_brute_force_for_numpy_and_torch() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    c = rng.normal(size=(12, 8)).astype(np.float32)
    expected = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
    ids = assign(x, c)
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_array_equal(assign(torch.from_numpy(x), torch.from_numpy(c)), expected)
    assert assign(np.zeros((0, 8), np.float32), c).shape == (0,)
    with pytest.raises(ValueError, match=r"\[N, 8\]"):
        assign(x[:, :4], c)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_assign_on_gpu_matches_cpu() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 8)).astype(np.float32)
    c = rng.normal(size=(12, 8)).astype(np.float32)
    gpu = assign(torch.from_numpy(x).cuda(), torch.from_numpy(c).cuda())
    np.testing.assert_array_equal(gpu.cpu().numpy(), assign(x, c))


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="at least 10 vectors"):
        fit_kmeans(np.zeros((5, 3), np.float32), KMeansConfig(k=10))
    bad = blobs(n=100)
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_kmeans(bad, KMeansConfig(k=4))
    with pytest.raises(ValueError, match="k must be >= 1"):
        KMeansConfig(k=0)


def test_reservoir_caps_memory_and_keeps_everything_until_full() -> None:
    s = ReservoirSampler(100, seed=0)
    s.add(np.arange(60, dtype=np.float32).reshape(30, 2))
    assert len(s) == 30 and s.seen == 30
    np.testing.assert_array_equal(s.sample()[:, 0], np.arange(0, 60, 2))
    for i in range(50):
        s.add(np.full((37, 2), i, dtype=np.float32))
    assert len(s) == 100 and s.seen == 30 + 50 * 37
    assert s.sample().shape == (100, 2)
    assert s._buf is not None and s._buf.shape == (100, 2)  # never grows past the cap
    with pytest.raises(ValueError, match="D=3"):
        s.add(np.zeros((2, 3), np.float32))


def test_reservoir_is_uniform_over_the_stream() -> None:
    n, cap, trials = 2000, 100, 200
    counts = np.zeros(n)
    for seed in range(trials):
        s = ReservoirSampler(cap, seed=seed)
        rng = np.random.default_rng(seed)
        start = 0
        while start < n:  # uneven batch sizes, like utterances of different lengths
            size = int(rng.integers(1, 150))
            s.add(np.arange(start, min(n, start + size), dtype=np.float32)[:, None])
            start += size
        kept = s.sample()[:, 0].astype(int)
        assert len(np.unique(kept)) == cap
        counts[kept] += 1
    # each stream position is kept with probability cap / n; compare 10 position bins
    per_bin = counts.reshape(10, -1).sum(1)
    expected = trials * cap / 10
    assert np.all(np.abs(per_bin - expected) < 0.1 * expected), per_bin


def separated_blobs(centers: int = 12, per: int = 150, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Tight, far-apart Gaussian blobs of unequal sizes: (x float32 [N, 8], blob id [N])."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(centers, 8)) * 30.0
    labels = np.repeat(np.arange(centers), rng.integers(per // 3, per, centers))
    return (mu[labels] + rng.normal(size=(len(labels), 8))).astype(np.float32), labels


@pytest.mark.parametrize("seeding", [kmeans_parallel, kmeans_plus_plus])
def test_seeding_finds_every_separated_blob_and_is_deterministic(seeding) -> None:
    x, labels = separated_blobs()
    for seed in (0, 1, 2):
        init = seeding(x, 12, seed=seed)
        rows = {tuple(r) for r in x.tolist()}
        assert init.shape == (12, 8) and all(tuple(r) in rows for r in init.tolist())
        own = labels[np.argmin(((x[:, None] - init[None]) ** 2).sum(-1), 0)]  # seed -> blob
        assert sorted(own.tolist()) == list(range(12))  # one seed in every blob
        np.testing.assert_array_equal(init, seeding(x, 12, seed=seed))
    assert not np.array_equal(seeding(x, 12, seed=0), seeding(x, 12, seed=1))


def test_kmeans_parallel_small_and_degenerate_inputs() -> None:
    x = np.repeat(np.eye(3, dtype=np.float32), 10, axis=0)  # 3 distinct points, k=5
    init = kmeans_parallel(x, 5, seed=0)
    assert init.shape == (5, 3) and len({tuple(r) for r in init.tolist()}) == 3
    assert kmeans_parallel(x[:4], 4, seed=0).shape == (4, 3)  # k == N: every row
    with pytest.raises(ValueError, match="1 <= k <= N"):
        kmeans_parallel(x[:3], 4)
    with pytest.raises(ValueError, match="rounds >= 1"):
        kmeans_parallel(x, 2, rounds=0)


def test_weighted_kmeans_plus_plus_follows_the_weights() -> None:
    x = np.array([[0.0], [1.0], [10.0], [11.0]], dtype=np.float32)
    heavy = kmeans_plus_plus(x, 2, seed=0, weights=np.array([1, 1, 0, 0]))
    assert sorted(heavy[:, 0].tolist()) == [0.0, 1.0]  # zero weight: never worth a seed
    with pytest.raises(ValueError, match="weights must be"):
        kmeans_plus_plus(x, 2, weights=np.array([1.0, -1.0, 1.0, 1.0]))


def test_lloyd_tolerance_stops_early_and_history_is_monotone() -> None:
    x = blobs(seed=2)
    init = kmeans_plus_plus(x, 20, seed=0)
    full = lloyd(x, init, 30)
    assert full.n_iter == len(full.history) - 1 <= 30
    assert all(b <= a * (1 + 1e-6) for a, b in zip(full.history[:-1], full.history[1:],
                                                       strict=True))
    assert full.inertia == pytest.approx(inertia(x, full.centroids), rel=1e-5)
    early = lloyd(x, init, 30, tol=1e-2)
    assert early.n_iter < full.n_iter
    h = early.history
    assert h[-2] - h[-1] <= 1e-2 * h[-2]  # stopped at the first small step, not before
    assert all(a - b > 1e-2 * a for a, b in zip(h[:-2], h[1:-1], strict=True))
    np.testing.assert_array_equal(early.centroids, lloyd(x, init, early.n_iter).centroids)
    cfg = KMeansConfig(k=20, iterations=30, tol=1e-2, init="k-means||")
    res = fit_kmeans(x, cfg)
    assert res.n_iter < 30 and res.history[0] == res.init_inertia
    with pytest.raises(ValueError, match="init must be one of"):
        KMeansConfig(init="random")
    with pytest.raises(ValueError, match="tol must be in"):
        KMeansConfig(tol=1.5)
