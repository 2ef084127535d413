"""k-means fit time and inertia: ours (k-means++ + faiss Lloyd) vs scikit-learn MiniBatchKMeans.

Baseline: ``MiniBatchKMeans(init="k-means++", n_init=20, batch_size=10000, max_iter=100,
tol=0.0, max_no_improvement=100, reassignment_ratio=0.0)``, the settings of fairseq's HuBERT
k-means script and SpeechBrain's quantization recipe. Plain faiss (random init) is printed
too. Every model is scored by the same function (sum of squared distances of all vectors to
their nearest centroid, in float64) on the same features. Target: ours >= 10x faster than
sklearn AND inertia <= sklearn's.

Features (``--source``):
- ``speech`` (default): real speech from ../shared/data (FSDD, LibriSpeech test-other,
  LJSpeech, PocketSphinx; ~39 min) as 80-mel log-mel frames at 100 frames/s (10 ms hop,
  ~230k frames), globally mean/variance normalised, stacked with +-w frames of context and
  mapped by a fixed random Gaussian matrix to ``--dim``. This keeps real speech structure
  (phone-like regions, continuous transitions, uneven cluster sizes) at SSL dimensionality;
  we cannot ship SSL checkpoints, so real HuBERT features are not available here.
- ``synthetic``: a Gaussian mixture with 2k anisotropic, unevenly weighted components.

Run: ``python benchmarks/kmeans.py`` (defaults finish in a few minutes on 2 cores), or the
target size: ``python benchmarks/kmeans.py --n 200000 --dim 768 --k 500``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from audiotokens.tokenizers.kmeans import KMeansConfig, fit_kmeans, inertia

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PATTERNS = ("librispeech_test_other_10spk/**/*.flac", "ljspeech_32/**/*.wav",
            "pocketsphinx_testdata/**/*.wav", "fsdd/recordings/*.wav")


def speech_logmel(n: int, cache: Path | None) -> list[np.ndarray]:
    """Per-utterance float32 log-mel frames [T_i, 80] at 100 frames/s, ~n frames in all.

    Corpora are read longest-utterances-first and reading stops once ``n`` frames are in
    hand. ``cache`` (a .npz) stores the frames (float16) so later runs skip audio decoding.
    """
    if cache is not None and cache.is_file():
        z = np.load(cache)
        return np.split(z["frames"].astype(np.float32), z["offsets"][1:-1])
    from audiotokens.audio import AudioError, load_audio
    from audiotokens.dsp import MelConfig, log_mel, mel_filterbank

    cfg = MelConfig(hop_length=160)
    fb = mel_filterbank(cfg)
    utts: list[np.ndarray] = []
    for pattern in PATTERNS:
        for path in sorted(DATA.glob(pattern)):
            if sum(len(u) for u in utts) >= n:
                break
            try:
                audio = load_audio(path, 16000)
            except AudioError as err:
                print(f"skip {err}")
                continue
            utts.append(log_mel(torch.from_numpy(audio.samples), cfg, fb).numpy())
    if not utts:
        raise SystemExit(f"no speech found under {DATA}; use --source synthetic")
    if cache is not None:
        offsets = np.cumsum([0, *(len(u) for u in utts)])
        np.savez(cache, frames=np.concatenate(utts).astype(np.float16), offsets=offsets)
    return utts


def speech_features(n: int, dim: int, seed: int, cache: Path | None) -> np.ndarray:
    """Real log-mel context windows, randomly projected: float32 [min(n, available), dim]."""
    utts = [torch.from_numpy(u) for u in speech_logmel(n, cache)]
    n_mels = utts[0].shape[1]
    width = max(0, math.ceil((dim / n_mels - 1) / 2))
    stats = torch.cat(utts)
    mean, std = stats.mean(0), stats.std(0) + 1e-5
    windows = []
    for f in utts:
        f = (f - mean) / std
        padded = torch.cat([f[:1].expand(width, -1), f, f[-1:].expand(width, -1)])
        windows.append(torch.cat([padded[i: i + len(f)] for i in range(2 * width + 1)], 1))
    x = torch.cat(windows)
    gen = torch.Generator().manual_seed(seed)
    proj = torch.randn(x.shape[1], dim, generator=gen) / math.sqrt(x.shape[1])
    rows = torch.randperm(len(x), generator=gen)[:n]
    return (x[rows] @ proj).numpy().astype(np.float32)


def synthetic_features(n: int, dim: int, k: int, seed: int) -> np.ndarray:
    """Gaussian mixture: 2k components, Dirichlet weights, per-component axis scales."""
    rng = np.random.default_rng(seed)
    comps = 2 * k
    centers = rng.normal(size=(comps, dim)) * 1.5
    scales = rng.uniform(0.3, 1.5, size=(comps, dim))
    labels = rng.choice(comps, size=n, p=rng.dirichlet(np.full(comps, 2.0)))
    return (centers[labels] + rng.normal(size=(n, dim)) * scales[labels]).astype(np.float32)


def sklearn_fit(x: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, float]:
    from sklearn.cluster import MiniBatchKMeans

    t0 = time.perf_counter()
    model = MiniBatchKMeans(n_clusters=k, init="k-means++", n_init=20, batch_size=10000,
                            max_iter=100, tol=0.0, max_no_improvement=100,
                            reassignment_ratio=0.0, random_state=seed).fit(x)
    return model.cluster_centers_.astype(np.float32), time.perf_counter() - t0


def faiss_random_fit(x: np.ndarray, k: int, iterations: int, seed: int) -> tuple[np.ndarray, float]:
    import faiss

    t0 = time.perf_counter()
    km = faiss.Kmeans(x.shape[1], k, niter=iterations, seed=seed,
                      max_points_per_centroid=len(x) // k + 1)
    km.train(x)
    return km.centroids.astype(np.float32), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="vectors")
    ap.add_argument("--dim", type=int, default=96, help="feature size")
    ap.add_argument("--k", type=int, default=50, help="clusters")
    ap.add_argument("--iterations", type=int, nargs="+", default=[KMeansConfig.iterations],
                    help="Lloyd iterations of ours (several values: one row each)")
    ap.add_argument("--redo", type=int, default=KMeansConfig.redo)
    ap.add_argument("--source", choices=("speech", "synthetic"), default="speech")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=None, help=".npz cache of the log-mel frames")
    ap.add_argument("--skip-sklearn", action="store_true", help="only time ours")
    args = ap.parse_args()

    t0 = time.perf_counter()
    if args.source == "speech":
        x = speech_features(args.n, args.dim, args.seed, args.cache)
    else:
        x = synthetic_features(args.n, args.dim, args.k, args.seed)
    print(f"features: {args.source} {x.shape[0]} x {x.shape[1]}, k={args.k} "
          f"({time.perf_counter() - t0:.1f} s to build); threads: torch "
          f"{torch.get_num_threads()}", flush=True)

    rows = []
    for iters in args.iterations:
        cfg = KMeansConfig(k=args.k, iterations=iters, seed=args.seed, redo=args.redo)
        ours = fit_kmeans(x, cfg)
        rows.append((f"ours, {iters} it", ours.seconds, inertia(x, ours.centroids)))
        print(*rows[-1], flush=True)
    cent, secs = faiss_random_fit(x, args.k, args.iterations[0], args.seed)
    rows.append((f"faiss random init, {args.iterations[0]} it", secs, inertia(x, cent)))
    print(*rows[-1], flush=True)
    if not args.skip_sklearn:
        cent, secs = sklearn_fit(x, args.k, args.seed)
        rows.append(("sklearn MiniBatchKMeans", secs, inertia(x, cent)))
    base_t, base_i = rows[-1][1], rows[-1][2]
    print(f"{'method':<30}{'fit s':>10}{'inertia':>16}{'speedup':>10}{'inertia/base':>14}")
    for name, secs, obj in rows:
        print(f"{name:<30}{secs:>10.2f}{obj:>16.6g}{base_t / secs:>9.1f}x{obj / base_i:>14.4f}")
    if not args.skip_sklearn:
        speedup, ratio = base_t / rows[0][1], rows[0][2] / base_i
        ok = speedup >= 10 and ratio <= 1.0
        print(f"target (>= 10x faster, inertia <= sklearn): {'MET' if ok else 'NOT MET'} "
              f"(speedup {speedup:.1f}x, inertia ratio {ratio:.4f})")


if __name__ == "__main__":
    main()
