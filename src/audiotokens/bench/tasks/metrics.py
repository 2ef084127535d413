"""Task metrics: accuracy, verification EER, character/word error rates (jiwer)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = ["accuracy", "blank_rates", "equal_error_rate", "ErrorRates", "error_rates",
           "normalize_text", "trial_scores"]


def accuracy(predicted: np.ndarray, target: np.ndarray) -> float:
    """Fraction of equal entries of two int arrays [N] (0.0 for empty input)."""
    predicted, target = np.asarray(predicted), np.asarray(target)
    if predicted.shape != target.shape:
        raise ValueError(f"shape mismatch: predicted {predicted.shape}, target {target.shape}")
    return float((predicted == target).mean()) if len(target) else 0.0


def equal_error_rate(scores: np.ndarray, same: np.ndarray) -> float:
    """EER of verification trials: ``scores`` [N] float (higher = same), ``same`` [N] bool.

    The error rate where false acceptance equals false rejection, linearly interpolated on
    the ROC; needs at least one target and one non-target trial.
    """
    scores, same = np.asarray(scores, dtype=np.float64), np.asarray(same, dtype=bool)
    n_pos, n_neg = int(same.sum()), int((~same).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"need target and non-target trials, got {n_pos} and {n_neg}")
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], same[order]
    # thresholds between distinct scores: accept everything with score >= s[i]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    far = np.r_[0.0, fp / n_neg]
    frr = np.r_[1.0, 1.0 - tp / n_pos]
    diff = far - frr  # goes from -1 up to >= 0
    i = int(np.nonzero(diff >= 0)[0][0])
    if i == 0:
        return float(far[0])
    t = -diff[i - 1] / (diff[i] - diff[i - 1])
    return float(far[i - 1] + t * (far[i] - far[i - 1]))


def trial_scores(embeddings: np.ndarray, speakers: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """All unordered pairs of [N, E] embeddings -> (cosine scores [P], same-speaker [P] bool)."""
    e = np.asarray(embeddings, dtype=np.float64)
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    i, j = np.triu_indices(len(e), k=1)
    spk = np.asarray(speakers, dtype=object)
    return (e[i] * e[j]).sum(1), spk[i] == spk[j]


def normalize_text(text: str) -> str:
    """Lower-case, keep letters, digits, apostrophes and single spaces (for CER/WER)."""
    text = re.sub(r"[^a-z0-9' ]+", " ", text.lower())
    return re.sub(r" +", " ", text).strip()


@dataclass(frozen=True)
class ErrorRates:
    """Character and word error rates (fractions, may exceed 1.0)."""

    cer: float
    wer: float


def error_rates(references: list[str], hypotheses: list[str]) -> ErrorRates:
    """Corpus-level CER and WER of normalised texts (jiwer); empty hypotheses count as deletions."""
    import jiwer

    if len(references) != len(hypotheses) or not references:
        raise ValueError(f"need equal, non-empty lists: {len(references)} vs {len(hypotheses)}")
    refs = [normalize_text(r) for r in references]
    if any(not r for r in refs):
        raise ValueError("a reference transcript is empty after normalisation")
    hyps = [normalize_text(h) for h in hypotheses]
    return ErrorRates(cer=float(jiwer.cer(refs, hyps)), wer=float(jiwer.wer(refs, hyps)))


def blank_rates(references: list[str]) -> dict[str, float]:
    """{"cer", "wer"} of a blank transcript for each reference: the chance level of ASR."""
    rates = error_rates(references, [""] * len(references))
    return {"cer": rates.cer, "wer": rates.wer}
