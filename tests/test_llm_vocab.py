"""LLM vocabulary: id ranges, Tokens <-> LLM ids round trip, JSON, extending a text tokenizer."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audiotokens.llm import LLMError, LLMVocab
from audiotokens.llm.text import extend_text_tokenizer, load_text_tokenizer
from audiotokens.testing import save_tiny_text_tokenizer as save_text_tokenizer
from audiotokens.tokenizers.base import TokenizerInfo, Tokens

INFO = TokenizerInfo("rvq", "codec", 16000, 50.0, (8, 5, 3), ("q0", "q1", "q2"))


def test_ranges_are_ordered_and_contiguous() -> None:
    vocab = LLMVocab(INFO, base_size=100, reserved=2)
    n_special = 5 + 3 + 2  # fixed specials, one marker per codebook, reserved slots
    assert vocab.special_range.start == 100 and vocab.special_range.size == n_special
    assert [(r.name, r.start, r.size) for r in vocab.ranges] == [
        ("q0", 110, 8), ("q1", 118, 5), ("q2", 123, 3)]
    assert vocab.size == 126 and vocab.n_new == 26 and len(vocab.token_strings()) == 26
    assert vocab.special_id("<pad>") == 102 and vocab.special_id("<stream_q1>") == 106
    assert vocab.special_id("<reserved_1>") == 109
    with pytest.raises(LLMError, match="no special token '<nope>'; known: <audio_start>"):
        vocab.special_id("<nope>")


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 40), st.integers(0, 1000), st.integers(0, 3), st.data())
def test_tokens_ids_round_trip(n_frames: int, base: int, reserved: int, data) -> None:
    vocab = LLMVocab(INFO, base_size=base, reserved=reserved)
    codes = np.array([[data.draw(st.integers(0, v - 1)) for v in INFO.vocab_sizes]
                      for _ in range(n_frames)], dtype=np.int64).reshape(n_frames, 3)
    ids = vocab.to_ids(Tokens(codes, INFO))
    for c, r in enumerate(vocab.ranges):
        assert ((ids[:, c] >= r.start) & (ids[:, c] < r.stop)).all()
    back = vocab.from_ids(ids)
    assert np.array_equal(back.codes, codes) and back.info == INFO


def test_out_of_range_and_mismatch_are_refused() -> None:
    vocab = LLMVocab(INFO)
    ids = vocab.to_ids(Tokens(np.zeros((2, 3), np.int64), INFO))
    ids[1, 2] = vocab.ranges[1].start  # a q1 id in the q2 column
    with pytest.raises(LLMError, match=r"frame 1 is outside codebook 'q2' range \[21, 24\)"):
        vocab.from_ids(ids)
    other = TokenizerInfo("mulaw", "sample", 16000, 16000.0, (256,))
    with pytest.raises(LLMError, match="do not match"):
        vocab.to_ids(Tokens(np.zeros((2, 1), np.int64), other))


def test_json_round_trip_and_tampering(tmp_path) -> None:
    vocab = LLMVocab(INFO, base_size=7, reserved=1)
    path = vocab.save(tmp_path)
    assert path.name == "llm_vocab.json"
    assert LLMVocab.load(tmp_path) == vocab
    spec = json.loads(path.read_text())
    spec["ranges"][1]["start"] += 1
    path.write_text(json.dumps(spec))
    with pytest.raises(LLMError, match="id ranges do not match"):
        LLMVocab.load(path)
    with pytest.raises(FileNotFoundError, match="no LLM vocabulary"):
        LLMVocab.load(tmp_path / "missing.json")


def test_extend_text_tokenizer_in_one_call(tmp_path) -> None:
    save_text_tokenizer(tmp_path / "text")
    text = load_text_tokenizer(tmp_path / "text")
    base = len(text)
    ext = extend_text_tokenizer(text, INFO)
    vocab = ext.vocab
    assert vocab.base_size == base == 4 and len(text) == vocab.size
    strings = vocab.token_strings()
    assert text.convert_tokens_to_ids(strings) == list(range(base, vocab.size))
    ids = vocab.to_ids(Tokens(np.array([[3, 4, 2], [0, 0, 0]]), INFO))
    encoded = text("hello " + "".join(f"<a_q{c}_{k}>" for c, k in enumerate([3, 4, 2])))
    assert encoded.input_ids == [1, *ids[0].tolist()]
    text.save_pretrained(tmp_path / "ext")  # reloads with the same ids
    again = load_text_tokenizer(tmp_path / "ext")
    assert again.convert_tokens_to_ids(strings) == list(range(base, vocab.size))


def test_extend_refuses_existing_tokens(tmp_path) -> None:
    save_text_tokenizer(tmp_path / "text", words=("hello", "<pad>"))
    with pytest.raises(LLMError, match=r"already has token\(s\) \['<pad>'\]"):
        extend_text_tokenizer(load_text_tokenizer(tmp_path / "text"), INFO)
    with pytest.raises(LLMError, match="not a transformers tokenizer folder"):
        load_text_tokenizer(tmp_path)
