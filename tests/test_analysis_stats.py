"""Codebook usage and the speaker-leakage probe on hand-made tokens."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audiotokens.analysis.leakage import (
    ProbeConfig,
    speaker_leakage,
    split_within_speakers,
    token_histograms,
)
from audiotokens.analysis.usage import codebook_usage

pytestmark = pytest.mark.usefixtures("single_thread")


def test_usage_hand_computed():
    u = codebook_usage(np.array([2, 2, 4, 0]), codebook=1)
    assert u.codebook == 1 and u.vocab_size == 4 and u.n_frames == 8
    assert u.n_used == 3 and u.usage == pytest.approx(0.75)
    entropy = -(2 * 0.25 * math.log2(0.25) + 0.5 * math.log2(0.5))  # 1.5 bits
    assert u.entropy_bits == pytest.approx(entropy) and u.perplexity == pytest.approx(2**1.5)
    assert u.normalized_entropy == pytest.approx(1.5 / 2)
    flat = codebook_usage(np.full(8, 5))
    assert flat.perplexity == pytest.approx(8) and flat.normalized_entropy == pytest.approx(1)
    one = codebook_usage(np.array([0, 9, 0]))
    assert one.entropy_bits == 0.0 and one.perplexity == 1.0
    with pytest.raises(ValueError, match="no frames"):
        codebook_usage(np.zeros(3, int))


def test_histograms_per_codebook_normalized():
    codes = np.array([[0, 2], [0, 1], [1, 1], [0, 0]])
    h = token_histograms(codes, [2, 3])
    assert h.dtype == np.float32
    assert h.tolist() == pytest.approx([0.75, 0.25, 0.25, 0.5, 0.25])
    with pytest.raises(ValueError, match=r"\[T, 3\]"):
        token_histograms(codes, [2, 3, 4])


def test_split_is_utterance_disjoint_within_speakers():
    speakers = ["a"] * 8 + ["b"] * 4 + ["c"]
    split = split_within_speakers(speakers, 0.25, seed=3)
    assert set(split.train).isdisjoint(split.test)
    assert split.left_out.tolist() == [12]
    test_speakers = [speakers[i] for i in split.test]
    assert test_speakers.count("a") == 2 and test_speakers.count("b") == 1
    assert len(split.train) == 9


def _corpus(encode_speaker: bool, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """6 speakers x 12 utterances of 60 frames, vocab 40. With ``encode_speaker`` each
    speaker favours its own 5 ids; else every id is drawn uniformly."""
    rng = np.random.default_rng(seed)
    rows, speakers = [], []
    for s in range(6):
        for _ in range(12):
            if encode_speaker:
                own = rng.random(60) < 0.5
                codes = np.where(own, 5 * s + rng.integers(0, 5, 60), rng.integers(0, 40, 60))
            else:
                codes = rng.integers(0, 40, 60)
            rows.append(token_histograms(codes[:, None], [40]))
            speakers.append(f"spk{s}")
    return np.stack(rows), speakers


def test_leakage_near_chance_for_speaker_independent_tokens():
    x, speakers = _corpus(encode_speaker=False)
    r = speaker_leakage(x, speakers, ProbeConfig(n_permutations=10))
    assert r.n_speakers == 6 and r.n_test == 18 and r.n_train == 54
    assert r.chance == pytest.approx(3 / 18)  # the majority speaker's share of the test part
    assert r.accuracy < 0.4
    assert r.permutation_p > 0.05
    assert r.ci_low <= r.accuracy <= r.ci_high


def test_leakage_high_for_tokens_that_encode_the_speaker():
    x, speakers = _corpus(encode_speaker=True)
    r = speaker_leakage(x, speakers, ProbeConfig(n_permutations=10))
    assert r.accuracy > 0.9
    assert r.permutation_mean < 0.45
    assert r.permutation_p == pytest.approx(1 / 11)
    assert math.isnan(speaker_leakage(x, speakers, ProbeConfig(n_permutations=0)).permutation_p)
    assert r.ci_low > r.chance


def test_leakage_needs_two_speakers():
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match=">= 2 speakers"):
        speaker_leakage(x, ["a", "a", "b"])
