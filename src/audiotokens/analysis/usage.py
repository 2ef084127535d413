"""Codebook usage: how many of a codebook's ids occur, and how evenly (entropy, perplexity)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CodebookUsage", "codebook_usage"]


@dataclass(frozen=True)
class CodebookUsage:
    """Token statistics of one codebook over ``n_frames`` frames.

    ``counts``: int64 [vocab_size], frames per id; ``usage``: fraction of the vocabulary that
    occurs at least once; ``entropy_bits``: ``-sum p log2 p`` of the id distribution;
    ``perplexity``: ``2 ** entropy_bits`` (the number of equally used ids it is worth);
    ``normalized_entropy``: ``entropy_bits / log2(vocab_size)`` (1 = every id equally used;
    0 for a 1-id vocabulary).
    """

    codebook: int
    vocab_size: int
    n_frames: int
    n_used: int
    usage: float
    entropy_bits: float
    perplexity: float
    normalized_entropy: float
    counts: np.ndarray


def codebook_usage(counts: np.ndarray, codebook: int = 0) -> CodebookUsage:
    """Usage, entropy and perplexity from per-id frame counts, int [vocab_size]."""
    counts = np.asarray(counts)
    if counts.ndim != 1 or counts.size == 0 or counts.min() < 0:
        raise ValueError(f"counts must be non-negative per-id frame counts [vocab_size], got "
                         f"shape {counts.shape}")
    counts = counts.astype(np.int64)
    total = int(counts.sum())
    if total == 0:
        raise ValueError(f"codebook {codebook}: no frames to count")
    p = counts[counts > 0] / total
    entropy = float(-np.sum(p * np.log2(p))) + 0.0
    n_used = int(np.count_nonzero(counts))
    max_entropy = float(np.log2(counts.size))
    return CodebookUsage(
        codebook=codebook,
        vocab_size=int(counts.size),
        n_frames=total,
        n_used=n_used,
        usage=n_used / counts.size,
        entropy_bits=entropy,
        perplexity=float(2.0**entropy),
        normalized_entropy=entropy / max_entropy if max_entropy > 0 else 0.0,
        counts=counts,
    )
