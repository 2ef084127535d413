"""LM token streams: flatten / delay / BPE layouts, dedup, codebook subsets, LM steps."""

from __future__ import annotations

import numpy as np
import pytest

from audiotokens.bench.tasks.base import IGNORE_INDEX
from audiotokens.bench.tasks.lm import lm_steps
from audiotokens.llm import LLMError
from audiotokens.llm.stream import PAD, StreamConfig, TokenStreamer
from audiotokens.tokenizers.base import TokenizerInfo

INFO = TokenizerInfo("two", "codec", 16000, 50.0, (3, 4))
FRAMES = np.array([[0, 1], [0, 1], [2, 3], [1, 0]])


def test_flatten_is_one_vocabulary_of_every_codebook() -> None:
    s = TokenStreamer.build(INFO, StreamConfig())
    assert s.columns == (7,) and s.name == "flatten"
    np.testing.assert_array_equal(s(FRAMES)[:, 0], [0, 4, 0, 4, 2, 6, 1, 3])


def test_delay_shifts_codebook_k_by_k_with_pads() -> None:
    s = TokenStreamer.build(INFO, StreamConfig(layout="delay"))
    steps = s(FRAMES)
    assert s.columns == (3, 4) and steps.shape == (5, 2)
    np.testing.assert_array_equal(steps[:, 0], [0, 0, 2, 1, PAD])
    np.testing.assert_array_equal(steps[:, 1], [PAD, 1, 1, 3, 0])


def test_dedup_and_codebook_subset() -> None:
    s = TokenStreamer.build(INFO, StreamConfig(dedup=True))
    np.testing.assert_array_equal(s(FRAMES)[:, 0], [0, 4, 2, 6, 1, 3])
    first = TokenStreamer.build(INFO, StreamConfig(codebooks=1, dedup=True))
    assert first.columns == (3,) and first.name == "flatten:q1+dedup"
    np.testing.assert_array_equal(first(FRAMES)[:, 0], [0, 2, 1])
    assert first.kept.bitrate_bps == pytest.approx(50 * np.log2(3))


def test_bpe_stream_is_trained_on_the_given_items_and_shortens() -> None:
    train = [np.tile(FRAMES, (5, 1)) for _ in range(4)]
    s = TokenStreamer.build(INFO, StreamConfig(layout="bpe", bpe_vocab=12), train)
    assert s.name == "bpe12" and s.columns == (s.bpe.vocab_size,) and s.bpe.vocab_size <= 12
    steps = s(train[0])
    assert steps.shape[1] == 1 and len(steps) < 2 * len(train[0])
    assert steps.min() >= 0 and steps.max() < s.columns[0]


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"layout": "zigzag"}, "must be one of"), ({"layout": "bpe"}, "BPE vocabulary"),
    ({"bpe_vocab": 100}, "BPE vocabulary"), ({"codebooks": 0}, ">= 1")])
def test_bad_stream_configs_say_why(kwargs, words) -> None:
    with pytest.raises(LLMError, match=words):
        StreamConfig(**kwargs)


def test_more_codebooks_than_the_tokenizer_has_is_refused() -> None:
    with pytest.raises(LLMError, match="has 2"):
        TokenStreamer.build(INFO, StreamConfig(codebooks=3))


def test_lm_steps_put_bos_first_and_score_every_step_once() -> None:
    steps = np.array([[0, PAD], [2, 1]])
    inputs, targets = lm_steps(steps, (3, 4))
    np.testing.assert_array_equal(inputs, [[4, 5], [0, 4], [2, 1]])  # BOS = V + 1, pad = V
    np.testing.assert_array_equal(targets, [[0, IGNORE_INDEX], [2, 1],
                                            [IGNORE_INDEX, IGNORE_INDEX]])
    with pytest.raises(ValueError, match="step ids"):
        lm_steps(np.array([[3, 0]]), (3, 4))
