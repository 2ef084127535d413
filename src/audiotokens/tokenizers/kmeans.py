"""k-means for semantic tokens: k-means++ (or k-means||) seeding + Lloyd iterations with a
convergence tolerance, nearest-centroid assignment, and a reservoir sampler that caps the
memory used for training vectors.

Centroids are plain float32 [k, D] arrays (saved as tensors beside a JSON config, never a
pickled estimator). Fitting:

1. seeding on a random subsample of ``init_points_per_centroid * k`` vectors (default 16 * k):
   ``init="k-means++"`` (default; :func:`kmeans_plus_plus`, greedy as scikit-learn:
   ``2 + log k`` trials per step, k memory-bound passes over the subsample) or
   ``"k-means||"`` (:func:`kmeans_parallel`: 5 oversampling rounds, each one float32 GEMM,
   then greedy weighted k-means++ on the ~2.5 k candidates). At 200k x 768, k=1000 on
   speech features k-means|| seeds in 3.3 CPU s against 10.6 s, but after 10 / 20 / 30
   Lloyd iterations its inertia was 0.20 / 0.12 / 0.09 % higher, which the ~2 Lloyd passes
   its saved time buys do not win back; at 100k x 256, k=500 it was 0.15 % higher too.
   k-means++ on 8 * k (5.8 CPU s) ended 0.35 % higher (``benchmarks/kmeans.py --init
   --init-points``);
2. at most ``iterations`` full-batch Lloyd iterations (:func:`lloyd`: a faiss
   nearest-centroid pass, which also yields the inertia, then a mean update), stopping once
   an iteration lowers the inertia by less than ``tol`` (default 2e-4, relative): about 25
   iterations at both benchmark sizes, 0.1-0.2 % above the inertia of 40-50 full
   iterations at about half their time, and below scikit-learn's MiniBatchKMeans baseline
   at 100k x 256 (numbers in ``benchmarks/kmeans.py``);
3. ``redo`` times with seeds ``seed + 1000 r`` (restart r is exactly the single run with that
   seed), keeping the lowest inertia.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "INIT_METHODS",
    "KMeansConfig",
    "KMeansResult",
    "LloydResult",
    "ReservoirSampler",
    "assign",
    "fit_kmeans",
    "inertia",
    "kmeans_parallel",
    "kmeans_plus_plus",
    "lloyd",
]


INIT_METHODS = ("k-means++", "k-means||")


@dataclass(frozen=True)
class KMeansConfig:
    """k clusters; at most ``iterations`` Lloyd steps, fewer when one lowers the inertia by
    less than ``tol`` (relative; 0 = always all); ``redo`` restarts (best inertia kept).

    ``init`` is one of :data:`INIT_METHODS`; ``init_points_per_centroid`` sizes its subsample
    (``* k`` vectors); ``max_points_per_centroid`` caps the vectors Lloyd iterates on
    (``* k``, a random subsample; None = all). Defaults: see the module docstring.
    """

    k: int = 500
    iterations: int = 50
    seed: int = 0
    redo: int = 1
    init: str = "k-means++"
    init_points_per_centroid: int = 16
    tol: float = 2e-4
    max_points_per_centroid: int | None = None

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")
        if self.iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {self.iterations}")
        if self.redo < 1:
            raise ValueError(f"redo must be >= 1, got {self.redo}")
        if self.init not in INIT_METHODS:
            raise ValueError(f"init must be one of {INIT_METHODS}, got {self.init!r}")
        if not 0.0 <= self.tol < 1.0:
            raise ValueError(f"tol must be in [0, 1), got {self.tol}")
        if self.init_points_per_centroid < 1:
            raise ValueError("init_points_per_centroid must be >= 1")
        if self.max_points_per_centroid is not None and self.max_points_per_centroid < 1:
            raise ValueError("max_points_per_centroid must be >= 1 or None")


@dataclass
class KMeansResult:
    """``centroids`` float32 [k, D]; ``inertia`` = sum of squared distances of the training
    vectors to their nearest centroid; ``init_inertia`` the same for the k-means++ centroids."""

    centroids: np.ndarray
    inertia: float
    init_inertia: float
    n_vectors: int
    seconds: float
    init_seconds: float = 0.0  # of ``seconds``: subsampling + seeding (all restarts)
    n_iter: int = 0  # Lloyd updates of the kept run (fewer than asked when ``tol`` stopped it)
    cpu_seconds: float = 0.0  # process CPU time of the fit (all threads)
    init_cpu_seconds: float = 0.0  # of ``cpu_seconds``: seeding
    history: tuple[float, ...] = ()  # Lloyd inertia after 0..n_iter updates (rows iterated on)


def _as_matrix(x: np.ndarray | torch.Tensor, what: str = "features") -> np.ndarray:
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{what} must be a non-empty [N, D] matrix, got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return arr


def _sq_dists(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Squared L2 distances [N, M] between rows of x [N, D] and c [M, D] (clamped >= 0)."""
    d = (x * x).sum(1, keepdim=True) - 2.0 * (x @ c.T) + (c * c).sum(1)[None]
    return d.clamp_min_(0.0)


def kmeans_plus_plus(x: np.ndarray | torch.Tensor, k: int, seed: int = 0,
                     n_trials: int | None = None,
                     weights: np.ndarray | None = None) -> np.ndarray:
    """Greedy k-means++ seeding of [N, D] vectors -> float32 centroids [k, D] (rows of x).

    Each step samples ``n_trials`` (default ``2 + int(log k)``) candidates with probability
    proportional to the squared distance to the nearest chosen centroid (inverse-CDF draws on
    a float64 cumulative sum) and keeps the one that lowers the total most. Row norms are
    computed once; each step is one float32 [n_trials, D] x [D, N] product, so a step costs
    ``O(n_trials * N * D)`` in BLAS. ``weights`` (float [N] >= 0, e.g. how many vectors each
    row stands for) weight both the sampling and the total. Runs on x's device when x is a
    torch tensor.
    """
    xt = x.float() if isinstance(x, torch.Tensor) else torch.from_numpy(_as_matrix(x))
    n = xt.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k-means++ needs 1 <= k <= N vectors, got k={k}, N={n}")
    if n_trials is not None and n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    w = None
    if weights is not None:
        w = torch.as_tensor(np.asarray(weights, dtype=np.float32), device=xt.device)
        if w.shape != (n,) or not bool((w >= 0).all()):
            raise ValueError(f"weights must be [N={n}] and >= 0, got shape {tuple(w.shape)}")
    trials = n_trials or 2 + int(math.log(k))
    gen = torch.Generator(device="cpu").manual_seed(seed)
    norms = (xt * xt).sum(1)
    chosen = [int(torch.randint(n, (1,), generator=gen))]
    taken = torch.zeros(n, dtype=torch.bool)
    taken[chosen[0]] = True
    closest = (norms - 2.0 * (xt @ xt[chosen[0]]) + norms[chosen[0]]).clamp_min_(0.0)
    for _ in range(1, k):
        mass = closest if w is None else closest * w
        cdf = torch.cumsum(mass.cpu().double(), 0)
        total = float(cdf[-1])
        if total <= 0.0:  # fewer distinct points than k: take any row not chosen yet
            free = torch.nonzero(~taken)[:, 0]
            cand = free[torch.randint(len(free), (trials,), generator=gen)]
        else:
            u = torch.rand(trials, generator=gen, dtype=torch.float64) * total
            cand = torch.searchsorted(cdf, u).clamp_(max=n - 1)
        cand = cand.to(xt.device)
        # [N, T] layout: x @ c.T streams x once per step, the faster BLAS shape here
        d = torch.addmm(norms[:, None] + norms[cand][None], xt, xt[cand].T, alpha=-2.0)
        torch.minimum(d.clamp_min_(0.0), closest[:, None], out=d)
        totals = d.sum(0, dtype=torch.float64) if w is None else (w[None] @ d)[0].double()
        best = int(torch.argmin(totals))
        chosen.append(int(cand[best]))
        taken[chosen[-1]] = True
        closest = d[:, best].contiguous()
    return xt[chosen].cpu().numpy().astype(np.float32, copy=True)


def kmeans_parallel(x: np.ndarray, k: int, seed: int = 0, rounds: int = 5,
                    oversampling: float = 0.5) -> np.ndarray:
    """k-means|| seeding (Bahmani et al. 2012) of float32 [N, D] -> float32 [k, D] (rows of x).

    One random row, then ``rounds`` passes, each keeping every row independently with
    probability ``min(1, l * d2 / sum(d2))`` (``d2``: squared distance to the nearest
    candidate so far; ``l = oversampling * k`` expected new candidates per round) and
    updating ``d2`` with one float32 BLAS product against the new candidates. Each candidate
    is then weighted by the rows nearest to it, and greedy weighted :func:`kmeans_plus_plus`
    picks ``k`` of them; fewer than ``k`` candidates are topped up with random rows. The
    passes are GEMMs over ``N x ~rounds * l`` distances, where k-means++ makes ``k``
    memory-bound passes over all N rows.
    """
    x = _as_matrix(x)
    n = len(x)
    if not 1 <= k <= n:
        raise ValueError(f"k-means|| needs 1 <= k <= N vectors, got k={k}, N={n}")
    if rounds < 1 or not oversampling > 0:
        raise ValueError(f"need rounds >= 1 and oversampling > 0, got {rounds}, {oversampling}")
    rng = np.random.default_rng(seed)
    xt = torch.from_numpy(x)
    norms = (xt * xt).sum(1)
    picked = [np.array([rng.integers(n)])]
    closest = torch.full((n,), math.inf)
    owner = torch.zeros(n, dtype=torch.int64)

    def absorb(new: np.ndarray, offset: int) -> None:  # nearest candidate among ``new`` too
        idx = torch.from_numpy(new)
        c = xt[idx]
        for i in range(0, n, 8192):
            d = torch.addmm(norms[i:i + 8192, None] + norms[idx][None], xt[i:i + 8192], c.T,
                            alpha=-2.0).clamp_min_(0.0)
            dmin, amin = d.min(1)
            better = dmin < closest[i:i + 8192]
            closest[i:i + 8192][better] = dmin[better]
            owner[i:i + 8192][better] = amin[better] + offset

    absorb(picked[0], 0)
    for _ in range(rounds):
        d2 = closest.double().numpy()
        total = d2.sum()
        if total <= 0.0:
            break
        new = np.nonzero(rng.random(n) < oversampling * k * d2 / total)[0]
        if len(new):
            absorb(new, sum(len(p) for p in picked))
            picked.append(new)
    cand = np.concatenate(picked)
    if len(cand) < k:  # top up with random rows that are not candidates yet
        free = np.setdiff1d(np.arange(n), cand)
        extra = rng.choice(free, k - len(cand), replace=False)
        absorb(extra, len(cand))
        cand = np.concatenate([cand, extra])
    weights = np.bincount(owner.numpy(), minlength=len(cand)).astype(np.float32)
    return kmeans_plus_plus(x[cand], k, seed, weights=weights)


def assign(features: np.ndarray | torch.Tensor,
           centroids: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Nearest-centroid ids of features [N, D] given centroids [k, D] -> int64 [N].

    Numpy/CPU inputs use faiss ``IndexFlatL2`` and return numpy; CUDA tensors use torch on
    the GPU and return a tensor on that device.
    """
    if isinstance(features, torch.Tensor) and features.device.type != "cpu":
        c = torch.as_tensor(centroids, dtype=torch.float32, device=features.device)
        if features.shape[0] == 0:
            return torch.zeros(0, dtype=torch.int64, device=features.device)
        return _sq_dists(features.float(), c).argmin(1)
    import faiss

    c = _as_matrix(centroids, "centroids")
    x = np.ascontiguousarray(
        features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else features,
        dtype=np.float32,
    )
    if x.ndim != 2 or x.shape[1] != c.shape[1]:
        raise ValueError(f"features must be [N, {c.shape[1]}], got shape {x.shape}")
    if x.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    index = faiss.IndexFlatL2(c.shape[1])
    index.add(c)
    _, ids = index.search(x, 1)
    return ids[:, 0].astype(np.int64)


def inertia(features: np.ndarray, centroids: np.ndarray) -> float:
    """Sum over rows of [N, D] features of the squared distance to the nearest centroid."""
    import faiss

    x, c = _as_matrix(features), _as_matrix(centroids, "centroids")
    index = faiss.IndexFlatL2(c.shape[1])
    index.add(c)
    dist, _ = index.search(x, 1)
    return float(dist[:, 0].astype(np.float64).sum())


def _nearest(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(squared distance float32 [N] clamped >= 0, nearest id int64 [N]) via faiss."""
    import faiss

    index = faiss.IndexFlatL2(centroids.shape[1])
    index.add(centroids)
    dist, ids = index.search(x, 1)
    return np.maximum(dist[:, 0], 0.0), ids[:, 0]


def _update(x: np.ndarray, ids: np.ndarray, dist: np.ndarray, k: int) -> np.ndarray:
    """Cluster means float32 [k, D]; an empty cluster takes one of the rows farthest from
    their centroid (as scikit-learn relocates empty clusters)."""
    xt, it = torch.from_numpy(x), torch.from_numpy(ids)
    sums = torch.zeros(k, x.shape[1], dtype=torch.float32).index_add_(0, it, xt)
    counts = torch.bincount(it, minlength=k)
    cent = (sums / counts.clamp_min(1)[:, None].to(torch.float32)).numpy()
    empty = np.nonzero(counts.numpy() == 0)[0]
    if len(empty):
        far = np.argsort(-dist, kind="stable")[: len(empty)]
        cent[empty] = x[far]
    return cent


@dataclass
class LloydResult:
    """``centroids`` float32 [k, D] after ``n_iter`` updates; ``inertia`` theirs on the rows
    iterated on; ``init_inertia`` that of the starting centroids; ``history`` the inertia
    after 0, 1, ..., ``n_iter`` updates."""

    centroids: np.ndarray
    inertia: float
    init_inertia: float
    n_iter: int
    history: tuple[float, ...] = ()


def lloyd(x: np.ndarray, centroids: np.ndarray, iterations: int, tol: float = 0.0
          ) -> LloydResult:
    """Full-batch Lloyd iterations on float32 [N, D] from float32 [k, D] centroids.

    Each iteration is one faiss nearest-centroid pass (a float32 BLAS product, which also
    gives the inertia of the current centroids) and one mean update. Stops after
    ``iterations`` updates, or as soon as an update lowered the inertia by less than
    ``tol`` times its previous value (``tol=0``: never early). The returned centroids are
    the last ones scored, so their inertia costs no extra pass.
    """
    cent = np.ascontiguousarray(centroids, dtype=np.float32)
    history: list[float] = []
    for it in range(iterations + 1):
        dist, ids = _nearest(x, cent)
        history.append(float(dist.sum(dtype=np.float64)))
        if it == iterations or (it and history[-2] - history[-1] <= tol * history[-2]):
            break
        cent = _update(x, ids, dist, len(cent))
    return LloydResult(cent, history[-1], history[0], len(history) - 1, tuple(history))


def fit_kmeans(features: np.ndarray | torch.Tensor, cfg: KMeansConfig) -> KMeansResult:
    """Cluster float32 [N, D] features (N >= k) -> :class:`KMeansResult` (best of ``redo``)."""
    t0, c0 = time.perf_counter(), time.process_time()
    x = _as_matrix(features)
    n = x.shape[0]
    if n < cfg.k:
        raise ValueError(f"k-means with k={cfg.k} needs at least {cfg.k} vectors, got {n}")
    best: tuple[LloydResult, int] | None = None
    init_seconds = init_cpu = 0.0
    for r in range(cfg.redo):
        seed = cfg.seed + 1000 * r
        t_init, c_init = time.perf_counter(), time.process_time()
        rng = np.random.default_rng(seed)  # restart r == a single run with this seed
        n_init = min(n, cfg.init_points_per_centroid * cfg.k)
        sub = x if n_init == n else x[np.sort(rng.choice(n, n_init, replace=False))]
        init = (kmeans_plus_plus(sub, cfg.k, seed) if cfg.init == "k-means++"
                else kmeans_parallel(sub, cfg.k, seed))
        init_seconds += time.perf_counter() - t_init
        init_cpu += time.process_time() - c_init
        n_lloyd = n if cfg.max_points_per_centroid is None else min(
            n, cfg.max_points_per_centroid * cfg.k)
        rows = x if n_lloyd == n else x[np.sort(rng.choice(n, n_lloyd, replace=False))]
        run = lloyd(rows, init, cfg.iterations, cfg.tol)
        if rows is not x:  # iterated on a subsample: score on every row
            run = LloydResult(run.centroids, inertia(x, run.centroids), inertia(x, init),
                              run.n_iter, run.history)
        if best is None or run.inertia < best[0].inertia:
            best = (run, r)
    assert best is not None
    run = best[0]
    return KMeansResult(run.centroids, run.inertia, run.init_inertia, n,
                        time.perf_counter() - t0, init_seconds, run.n_iter,
                        time.process_time() - c0, init_cpu, run.history)


class ReservoirSampler:
    """Uniform sample of at most ``capacity`` rows from a stream of [n, D] batches.

    Algorithm R, vectorised per batch: row number t (1-based, over the whole stream) replaces
    a random slot with probability capacity / t, so every row seen so far is kept with the
    same probability. Memory is ``capacity * D`` float32 whatever the stream length.
    """

    def __init__(self, capacity: int, seed: int = 0) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.seen = 0
        self._rng = np.random.default_rng(seed)
        self._buf: np.ndarray | None = None

    def add(self, rows: np.ndarray | torch.Tensor) -> None:
        """Offer a batch of float32 rows [n, D] (D fixed by the first batch)."""
        arr = rows.detach().cpu().numpy() if isinstance(rows, torch.Tensor) else np.asarray(rows)
        if arr.ndim != 2:
            raise ValueError(f"rows must be [n, D], got shape {arr.shape}")
        if self._buf is None:
            self._buf = np.empty((self.capacity, arr.shape[1]), dtype=np.float32)
        elif arr.shape[1] != self._buf.shape[1]:
            raise ValueError(f"rows have D={arr.shape[1]}, sampler holds D={self._buf.shape[1]}")
        filled = min(self.seen, self.capacity)
        take = min(self.capacity - filled, len(arr))
        self._buf[filled: filled + take] = arr[:take]
        rest = arr[take:]
        if len(rest):
            t = self.seen + take + np.arange(1, len(rest) + 1)  # 1-based stream positions
            slots = (self._rng.random(len(rest)) * t).astype(np.int64)
            keep = slots < self.capacity
            self._buf[slots[keep]] = rest[keep]
        self.seen += len(arr)

    def __len__(self) -> int:
        return min(self.seen, self.capacity)

    def sample(self) -> np.ndarray:
        """The kept rows, float32 [min(seen, capacity), D] (a copy)."""
        if self._buf is None:
            raise ValueError("the sampler has seen no rows")
        return self._buf[: len(self)].copy()
