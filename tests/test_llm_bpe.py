"""Dedup and BPE over token sequences: exact round trips, NFKC-stable mapping, reduction."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from audiotokens.llm import CodePointMap, LLMError, TokenBPE, dedup, undo_dedup
from audiotokens.llm.bpe import CJK_BLOCK
from audiotokens.tokenizers.base import TokenizerInfo, Tokens

INFO = TokenizerInfo("t", "semantic", 16000, 50.0, (12,))
INFO2 = TokenizerInfo("t2", "codec", 16000, 50.0, (6, 4))


def corpus(info: TokenizerInfo, n: int = 40, seed: int = 0) -> list[Tokens]:
    """Speech-like unit sequences: a few recurring 'words' of units, each unit repeated."""
    rng = np.random.default_rng(seed)
    words = [rng.integers(0, info.vocab_sizes, (int(rng.integers(2, 5)), info.n_codebooks))
             for _ in range(6)]
    out = []
    for _ in range(n):
        units = np.concatenate([words[i] for i in rng.integers(0, len(words), 8)])
        out.append(Tokens(np.repeat(units, rng.integers(1, 4, len(units)), axis=0), info))
    return out


@settings(max_examples=80, deadline=None)
@given(st.tuples(st.integers(0, 40), st.integers(1, 3)).flatmap(
    lambda s: arrays(np.int64, s, elements=st.integers(0, 3))))
def test_dedup_is_undoable(frames: np.ndarray) -> None:
    d = dedup(frames)
    assert np.array_equal(undo_dedup(d), frames) and d.n_frames == len(frames)
    assert (d.runs >= 1).all()
    if len(d.units) > 1:
        assert (d.units[1:] != d.units[:-1]).any(axis=1).all()  # no two equal neighbours


def test_mapping_is_nfkc_stable_over_the_whole_block() -> None:
    start, stop = CJK_BLOCK
    assert all(unicodedata.normalize("NFKC", chr(cp)) == chr(cp) for cp in range(start, stop))
    mapping = CodePointMap(stop - start)  # the largest vocabulary the block holds
    symbols = np.arange(stop - start)
    text = mapping.to_text(symbols)
    assert unicodedata.normalize("NFKC", text) == text
    assert np.array_equal(mapping.from_text(text), symbols)
    with pytest.raises(LLMError, match=r"20993 symbols do not fit .* U\+4E00..U\+9FFF"):
        CodePointMap(stop - start + 1)
    with pytest.raises(LLMError, match="not NFKC-stable"):
        CodePointMap(10, start=0xF900, stop=0xFB00)  # CJK compatibility ideographs
    naive = "".join(chr(i + 97) for i in range(200))  # the mapping the issue warns about
    assert unicodedata.normalize("NFKC", naive) != naive


@pytest.mark.parametrize("info", [INFO, INFO2], ids=["1cb", "2cb"])
@pytest.mark.parametrize("use_dedup", [False, True], ids=["raw", "dedup"])
def test_bpe_round_trip_and_reduction(tmp_path, info, use_dedup) -> None:
    train, test = corpus(info, seed=0), corpus(info, n=10, seed=0)[:5] + corpus(info, 5, 1)
    base = sum(info.vocab_sizes)
    bpe = TokenBPE.train(train, info, base + 40, dedup=use_dedup)
    assert base < bpe.vocab_size <= base + 40
    for tokens in test:
        enc = bpe.encode(tokens)
        assert (enc.runs is not None) == use_dedup
        assert np.array_equal(bpe.decode(enc).codes, tokens.codes)
    report = bpe.report(train)
    assert report.items == len(train) and report.codes == sum(t.codes.size for t in train)
    assert report.bpe_tokens < report.symbols <= report.codes
    assert report.reduction > 1.5  # recurring unit words merge
    assert 0 < report.vocab_used <= report.vocab_size
    assert (report.symbols < report.codes) == use_dedup
    loaded = TokenBPE.load(bpe.save(tmp_path))
    assert loaded.dedup == use_dedup and loaded.vocab_size == bpe.vocab_size
    for tokens in test:
        assert np.array_equal(loaded.encode(tokens).ids, bpe.encode(tokens).ids)


def test_unseen_ids_still_encode_and_errors() -> None:
    bpe = TokenBPE.train(corpus(INFO)[:5], INFO, 20)
    every = Tokens(np.arange(12).reshape(12, 1), INFO)  # ids the training set may lack
    assert np.array_equal(bpe.decode(bpe.encode(every)).codes, every.codes)
    empty = Tokens(np.zeros((0, 1), np.int64), INFO)
    assert bpe.decode(bpe.encode(empty)).n_frames == 0
    with pytest.raises(LLMError, match="vocab size 5 is below the 12 base symbols"):
        TokenBPE.train([], INFO, 5)
    with pytest.raises(LLMError, match="vocab sizes"):
        bpe.encode(Tokens(np.zeros((2, 2), np.int64), INFO2))
