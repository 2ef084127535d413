"""Speaker leakage: how well a linear probe names the speaker from an utterance's tokens.

Each utterance becomes a bag of tokens: per codebook, the normalized histogram of its ids,
the codebooks' histograms concatenated (:func:`token_histograms`). A multinomial logistic
regression (L2-regularised, full-batch L-BFGS in torch, features standardised on the training
part) is trained on some utterances of every speaker and tested on that speaker's other
utterances (an utterance-disjoint split within speakers; speakers with a single utterance are
left out). The test accuracy is reported against

- chance: the accuracy of always answering the training part's most frequent speaker;
- a permutation baseline: the same probe trained on shuffled training labels,
  ``n_permutations`` times; ``permutation_p`` is the share of those (plus the real one)
  scoring at least the real accuracy, so a small value means the tokens carry the speaker;
- a 95 % Wilson interval of the test accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["ProbeConfig", "LeakageResult", "SpeakerSplit", "token_histograms",
           "split_within_speakers", "speaker_leakage"]

Z95 = 1.959964


@dataclass(frozen=True)
class ProbeConfig:
    """Settings of the speaker probe (see the module docstring)."""

    test_fraction: float = 0.25
    l2: float = 1e-3
    max_iter: int = 100
    n_permutations: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if self.l2 < 0:
            raise ValueError(f"l2 must be >= 0, got {self.l2}")
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}")
        if self.n_permutations < 0:
            raise ValueError(f"n_permutations must be >= 0, got {self.n_permutations}")


@dataclass(frozen=True)
class SpeakerSplit:
    """Row indices of the training and test utterances, and those left out (their speaker
    has a single utterance)."""

    train: np.ndarray
    test: np.ndarray
    left_out: np.ndarray


@dataclass(frozen=True)
class LeakageResult:
    """Probe test accuracy against chance and the permutation baseline (all in [0, 1])."""

    accuracy: float
    ci_low: float
    ci_high: float
    chance: float
    permutation_mean: float
    permutation_p: float
    n_permutations: int
    n_speakers: int
    n_train: int
    n_test: int
    n_left_out: int


def token_histograms(codes: np.ndarray, vocab_sizes: Sequence[int]) -> np.ndarray:
    """Bag-of-tokens features of one utterance: codes int [T, C] -> float32 [sum(vocab_sizes)],
    per codebook the id histogram divided by T (all zeros when T = 0)."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != len(vocab_sizes):
        raise ValueError(f"codes must be [T, {len(vocab_sizes)}], got shape {codes.shape}")
    parts = [np.bincount(codes[:, c], minlength=v)[:v] / max(len(codes), 1)
             for c, v in enumerate(vocab_sizes)]
    return np.concatenate(parts).astype(np.float32)


def split_within_speakers(speakers: Sequence[str], test_fraction: float,
                          seed: int = 0) -> SpeakerSplit:
    """Per speaker with >= 2 utterances, ``round(test_fraction * n)`` of them (at least 1,
    at most n - 1) go to test, chosen at random with ``seed``; the rest to train."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(speakers)
    train, test, left_out = [], [], []
    for speaker in sorted(set(speakers)):
        rows = np.flatnonzero(labels == speaker)
        if len(rows) < 2:
            left_out.extend(rows)
            continue
        rows = rng.permutation(rows)
        n_test = min(max(round(test_fraction * len(rows)), 1), len(rows) - 1)
        test.extend(rows[:n_test])
        train.extend(rows[n_test:])
    return SpeakerSplit(_rows(train), _rows(test), _rows(left_out))


def _rows(rows: list[int]) -> np.ndarray:
    return np.sort(np.asarray(rows, dtype=np.int64))


def _fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                 n_classes: int, config: ProbeConfig) -> np.ndarray:
    """Train the logistic-regression probe; predicted classes of ``x_test`` [N_test]."""
    import torch

    torch.manual_seed(config.seed)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0
    xt = torch.from_numpy((x_train - mean) / std).double()
    yt = torch.from_numpy(y_train).long()
    weight = torch.zeros(xt.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], max_iter=config.max_iter,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ weight + bias, yt)
        loss = loss + config.l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        xs = torch.from_numpy((x_test - mean) / std).double()
        return (xs @ weight + bias).argmax(dim=1).numpy()


def _wilson(correct: int, n: int) -> tuple[float, float]:
    p = correct / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def speaker_leakage(features: np.ndarray, speakers: Sequence[str],
                    config: ProbeConfig | None = None) -> LeakageResult:
    """Speaker probe on utterance features float [N, D] (e.g. :func:`token_histograms`)
    labelled by ``speakers`` [N]; needs >= 2 speakers with >= 2 utterances each."""
    config = config or ProbeConfig()
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) != len(speakers):
        raise ValueError(f"features must be [N, D] with N = {len(speakers)} speakers' rows, got "
                         f"shape {features.shape}")
    split = split_within_speakers(speakers, config.test_fraction, config.seed)
    names = sorted({speakers[i] for i in split.train})
    if len(names) < 2:
        raise ValueError(f"speaker probe needs >= 2 speakers with >= 2 utterances each, got "
                         f"{len(names)}")
    code = {name: i for i, name in enumerate(names)}
    y = np.array([code.get(s, -1) for s in speakers], dtype=np.int64)
    y_train, y_test = y[split.train], y[split.test]
    x_train, x_test = features[split.train], features[split.test]
    accuracy = float(np.mean(_fit_predict(x_train, y_train, x_test, len(names), config) == y_test))
    majority = np.bincount(y_train, minlength=len(names)).argmax()
    rng = np.random.default_rng(config.seed + 1)
    permuted = [float(np.mean(_fit_predict(x_train, rng.permutation(y_train), x_test,
                                           len(names), config) == y_test))
                for _ in range(config.n_permutations)]
    low, high = _wilson(round(accuracy * len(y_test)), len(y_test))
    return LeakageResult(
        accuracy=accuracy,
        ci_low=low,
        ci_high=high,
        chance=float(np.mean(y_test == majority)),
        permutation_mean=float(np.mean(permuted)) if permuted else float("nan"),
        permutation_p=(1 + sum(a >= accuracy for a in permuted)) / (1 + len(permuted)),
        n_permutations=len(permuted),
        n_speakers=len(names),
        n_train=len(split.train),
        n_test=len(split.test),
        n_left_out=len(split.left_out),
    )
