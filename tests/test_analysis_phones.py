"""Phone frames and HuBERT's purity / PNMI against hand-computed values on tiny tables."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audiotokens.analysis.phones import (
    SILENCE,
    SILENCE_ID,
    AnalysisError,
    PhoneCounter,
    PhoneInventory,
    PhoneScores,
    frame_phones,
    phone_scores,
)


def test_inventory_puts_silence_first_and_sorts():
    inv = PhoneInventory.from_alignments([[("b", 0, 1), ("a", 1, 2)], None, [("a", 0, 1)]])
    assert inv.phones == (SILENCE, "a", "b")
    assert inv.id("b") == 2 and len(inv) == 3
    with pytest.raises(AnalysisError, match="'z' is not in the inventory"):
        inv.id("z")
    with pytest.raises(ValueError, match="starts with"):
        PhoneInventory(("a", SILENCE))
    with pytest.raises(ValueError, match="duplicates"):
        PhoneInventory((SILENCE, "a", "a"))


def test_frame_phones_uses_frame_centres_and_silence_for_gaps():
    inv = PhoneInventory((SILENCE, "a", "b"))
    # 10 frames/s: centres 0.05, 0.15, ..., 0.65 s
    out = frame_phones([("a", 0.0, 0.2), ("b", 0.25, 0.5)], 7, 10.0, inv)
    assert out.dtype == np.int64
    assert out.tolist() == [1, 1, 2, 2, 2, SILENCE_ID, SILENCE_ID]
    # a segment between two centres covers no frame; no alignment -> all silence
    assert frame_phones([("a", 0.16, 0.24)], 4, 10.0, inv).tolist() == [0, 0, 0, 0]
    assert frame_phones(None, 3, 10.0, inv).tolist() == [0, 0, 0]
    with pytest.raises(AnalysisError, match="'c'"):
        frame_phones([("c", 0.0, 1.0)], 3, 10.0, inv)
    with pytest.raises(ValueError, match="frame_rate"):
        frame_phones([], 3, 0.0, inv)


def test_perfect_map_scores_one():
    rng = np.random.default_rng(0)
    phones = [rng.integers(0, 5, size=50) for _ in range(4)]
    tokens = [(p * 7 + 3) % 11 for p in phones]  # a bijection phone -> token
    s = phone_scores(tokens, phones)
    assert s.pnmi == pytest.approx(1.0)
    assert s.phone_purity == pytest.approx(1.0) and s.cluster_purity == pytest.approx(1.0)
    assert s.n_frames == 200 and s.n_tokens_used == 5


def test_many_tokens_per_phone_pure_but_split():
    # tokens 0,1 -> phone 0; tokens 2,3 -> phone 1; each token equally often
    tokens = [np.array([0, 1, 2, 3] * 5)]
    phones = [np.array([0, 0, 1, 1] * 5)]
    s = phone_scores(tokens, phones)
    assert s.phone_purity == pytest.approx(1.0)      # each token is one phone
    assert s.cluster_purity == pytest.approx(0.5)    # each phone splits over two tokens
    assert s.pnmi == pytest.approx(1.0)              # the token still determines the phone


def test_token_merging_phones():
    # token 0 stands for phones 0 and 1, token 1 for phone 2; phones uniform
    s = phone_scores([np.array([0, 0, 1] * 4)], [np.array([0, 1, 2] * 4)])
    assert s.phone_purity == pytest.approx(2 / 3)    # p(z=0) * 1/2 + p(z=1) * 1
    assert s.cluster_purity == pytest.approx(1.0)
    h_z = -(2 / 3) * math.log2(2 / 3) - (1 / 3) * math.log2(1 / 3)
    assert s.pnmi == pytest.approx(h_z / math.log2(3))


def test_hand_computed_two_by_two():
    # phones are rows: counts [[3, 1], [0, 4]] over 8 frames
    s = PhoneScores.from_counts(np.array([[3, 1], [0, 4]]))
    assert s.phone_purity == pytest.approx(3 / 8 + 4 / 8)
    assert s.cluster_purity == pytest.approx(3 / 8 + 4 / 8)
    mutual = (3 / 8 * math.log2((3 / 8) / (1 / 2 * 3 / 8))
              + 1 / 8 * math.log2((1 / 8) / (1 / 2 * 5 / 8))
              + 4 / 8 * math.log2((4 / 8) / (1 / 2 * 5 / 8)))
    assert s.mutual_information_bits == pytest.approx(mutual)
    assert s.phone_entropy_bits == pytest.approx(1.0)
    assert s.pnmi == pytest.approx(mutual)  # H(y) = 1 bit
    assert s.pnmi == pytest.approx(0.548795, abs=1e-6)
    # the same table from sequences
    tokens = [np.array([0, 0, 0, 1, 1, 1, 1, 1])]
    phones = [np.array([0, 0, 0, 0, 1, 1, 1, 1])]
    t = phone_scores(tokens, phones)
    assert t.counts.tolist() == [[3, 1], [0, 4]] and t.pnmi == pytest.approx(s.pnmi)
    assert t.phones_given_token[:, 1].tolist() == pytest.approx([0.2, 0.8])


def test_purities_differ_on_a_two_by_three_table():
    s = PhoneScores.from_counts(np.array([[2, 2, 0], [0, 0, 4]]))
    assert s.phone_purity == pytest.approx(1.0)
    assert s.cluster_purity == pytest.approx(2 / 8 + 4 / 8)


def test_independent_tokens_score_near_zero():
    rng = np.random.default_rng(1)
    phones = [rng.integers(0, 10, size=20_000) for _ in range(10)]
    tokens = [rng.integers(0, 50, size=20_000) for _ in range(10)]
    s = phone_scores(tokens, phones, n_tokens=50)
    assert 0.0 <= s.pnmi < 0.01
    assert s.phone_purity < 0.12  # ~ max phone share, 1/10


def test_length_mismatch_trims_small_and_refuses_large():
    tokens = [np.array([0, 1, 1]), np.array([1, 0])]
    phones = [np.array([0, 1]), np.array([1, 0, 0, 0])]
    s = phone_scores(tokens, phones)
    assert s.n_frames == 4 and s.n_trimmed == 3
    with pytest.raises(AnalysisError, match="item utt-b: 2 token frames but 5 phone frames"):
        phone_scores(tokens, [phones[0], np.zeros(5, int)], ids=["utt-a", "utt-b"])
    with pytest.raises(AnalysisError, match="#1"):
        phone_scores(tokens, phones, max_mismatch=1)


def test_bad_inputs_name_the_item():
    with pytest.raises(AnalysisError, match="item x: token ids must be in"):
        phone_scores([np.array([0, 5])], [np.array([0, 1])], n_tokens=4, ids=["x"])
    with pytest.raises(AnalysisError, match="1-D"):
        phone_scores([np.zeros((3, 2), int)], [np.zeros(3, int)])
    with pytest.raises(AnalysisError, match="no frames"):
        phone_scores([np.array([], int)], [np.array([], int)], n_tokens=2, n_phones=2)


def test_skip_silence_and_single_phone():
    tokens = [np.array([0, 0, 1, 1])]
    phones = [np.array([SILENCE_ID, 1, 1, 1])]
    s = phone_scores(tokens, phones, skip_silence=True)
    assert s.n_frames == 3 and s.counts[SILENCE_ID].sum() == 0
    assert math.isnan(s.pnmi)  # one phone left: H(y) = 0, nothing to explain
    assert s.phone_purity == pytest.approx(1.0)


def test_counter_item_by_item_equals_phone_scores():
    rng = np.random.default_rng(2)
    phones = [rng.integers(0, 4, size=n) for n in (30, 41, 17)]
    tokens = [(p + rng.integers(0, 2, size=len(p))) % 6 for p in phones]
    counter = PhoneCounter(6, 4)
    for i, (t, p) in enumerate(zip(tokens, phones, strict=True)):
        counter.add(t, p, f"u{i}")
    whole = phone_scores(tokens, phones, n_tokens=6, n_phones=4)
    assert np.array_equal(counter.scores().counts, whole.counts)
    assert counter.scores().pnmi == pytest.approx(whole.pnmi)
    with pytest.raises(AnalysisError, match="item u9: phone ids"):
        counter.add(np.array([0]), np.array([4]), "u9")
