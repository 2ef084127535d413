"""Codebook layouts and text-audio interleaving: exact round trips (hypothesis) and shapes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from audiotokens.data.manifest import ManifestItem
from audiotokens.llm import (
    CoarseFirst,
    Delay,
    Flatten,
    LLMError,
    LLMVocab,
    MultiStream,
    Parallel,
    Stream,
    choose_modalities,
    deinterleave,
    interleave,
    ratio_spans,
    stream_text,
    text_stream,
    timed_spans,
    word_timings,
)
from audiotokens.llm.interleave import expected_segments
from audiotokens.tokenizers.base import TokenizerInfo, Tokens

PAD = -1  # any id outside the codes works as pad here; real use passes vocab <pad>
FAST = settings(max_examples=60, deadline=None)


def frames_strategy(max_k: int = 5):
    shape = st.tuples(st.integers(0, 30), st.integers(1, max_k))
    return shape.flatmap(lambda s: arrays(np.int64, s, elements=st.integers(0, 999)))


@FAST
@given(frames_strategy(), st.data())
def test_layouts_round_trip(frames: np.ndarray, data) -> None:
    k = frames.shape[1]
    delays = tuple(data.draw(st.lists(st.integers(0, 4), min_size=k, max_size=k)))
    layouts = [Flatten(k), Parallel(k), Delay(k, PAD), Delay(k, PAD, delays),
               CoarseFirst(k, data.draw(st.integers(1, k)))]
    for layout in layouts:
        seq = layout.apply(frames)
        assert np.array_equal(layout.invert(seq), frames), layout


def test_layout_shapes_and_pad_positions() -> None:
    frames = np.arange(12).reshape(4, 3) + 100  # [T=4, K=3]
    assert Flatten(3).apply(frames).tolist() == list(range(100, 112))
    delayed = Delay(3, PAD).apply(frames)
    assert delayed.shape == (6, 3)
    assert delayed[:, 0].tolist() == [100, 103, 106, 109, PAD, PAD]
    assert delayed[:, 2].tolist() == [PAD, PAD, 102, 105, 108, 111]
    coarse = CoarseFirst(3, 1).apply(frames)
    assert coarse[:4].tolist() == [100, 103, 106, 109] and coarse[4:6].tolist() == [101, 102]
    delayed[0, 2] = 7  # a code where a pad must be
    with pytest.raises(LLMError, match="column 2: expected pad id -1"):
        Delay(3, PAD).invert(delayed)
    with pytest.raises(LLMError, match=r"frames must be \[T, 3\]"):
        Flatten(3).apply(np.zeros((4, 2)))
    with pytest.raises(LLMError, match="divisible by 3"):
        CoarseFirst(3).invert(np.zeros(7))


@FAST
@given(st.integers(0, 20), st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
       st.integers(1, 4), st.integers(0, 2**31))
def test_multistream_round_trip(n_frames: int, delays, acoustic: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    layout = MultiStream((Stream("text", 1, delays[0]), Stream("semantic", 1, delays[1]),
                          Stream("acoustic", acoustic, delays[2])), pad_id=PAD)
    streams = {"text": rng.integers(0, 50, (n_frames, 1)),
               "semantic": rng.integers(50, 60, (n_frames, 1)),
               "acoustic": rng.integers(60, 90, (n_frames, acoustic))}
    seq = layout.apply(streams)
    assert seq.shape == (n_frames + max(delays), 2 + acoustic)
    back = layout.invert(seq)
    assert set(back) == set(streams)
    for name, value in streams.items():
        assert np.array_equal(back[name], value)


def test_multistream_rejects_mismatched_streams() -> None:
    layout = MultiStream((Stream("text"), Stream("audio", 2, 1)), pad_id=PAD)
    with pytest.raises(LLMError, match="same number of frames"):
        layout.apply({"text": np.zeros((3, 1)), "audio": np.zeros((4, 2))})
    with pytest.raises(LLMError, match="expected streams"):
        layout.apply({"text": np.zeros((3, 1))})


# -- interleaving --------------------------------------------------------------------------
INFO = TokenizerInfo("t", "codec", 16000, 50.0, (16, 8), ("q0", "q1"))
VOCAB = LLMVocab(INFO, base_size=40)


@st.composite
def utterances(draw):
    n_words = draw(st.integers(1, 8))
    words = [draw(st.lists(st.integers(0, 39), min_size=1, max_size=3)) for _ in range(n_words)]
    n_frames = draw(st.integers(0, 40))
    codes = np.array([[draw(st.integers(0, 15)), draw(st.integers(0, 7))]
                      for _ in range(n_frames)], np.int64).reshape(n_frames, 2)
    starts = sorted(draw(st.lists(st.floats(0, 1.0), min_size=n_words, max_size=n_words)))
    return words, VOCAB.to_ids(Tokens(codes, INFO)), starts


@FAST
@given(utterances(), st.floats(0, 1), st.integers(0, 1000), st.booleans(), st.integers(1, 3))
def test_interleave_round_trip(utt, p_switch, seed, timed, per_span) -> None:
    words, audio, starts = utt
    spans = (timed_spans(words, starts, INFO.frame_rate, len(audio)) if timed
             else ratio_spans(words, len(audio), per_span))
    assert spans[0].start == 0 and spans[-1].end == len(audio)
    assert all(a.end == b.start for a, b in zip(spans, spans[1:], strict=False))
    modalities = choose_modalities(len(spans), p_switch, seed)
    seq = interleave(spans, modalities, audio, VOCAB)
    segments = deinterleave(seq, VOCAB)
    assert segments == expected_segments(spans, modalities, audio)
    assert all(a.kind != b.kind for a, b in zip(segments, segments[1:], strict=False))
    if set(modalities) == {"audio"}:
        assert np.array_equal(segments[0].ids, audio)  # all audio: the frames come back whole


def test_interleave_markers_and_errors() -> None:
    audio = VOCAB.to_ids(Tokens(np.array([[1, 2], [3, 4], [5, 6]]), INFO))
    spans = ratio_spans([[7], [8, 9], [10]], 3)
    seq = interleave(spans, ["text", "audio", "text"], audio, VOCAB)
    ts, te = VOCAB.special_id("<text_start>"), VOCAB.special_id("<text_end>")
    as_, ae = VOCAB.special_id("<audio_start>"), VOCAB.special_id("<audio_end>")
    assert seq.tolist() == [ts, 7, te, as_, *audio[1].tolist(), ae, ts, 10, te]
    with pytest.raises(LLMError, match="never closed"):
        deinterleave(seq[:-1], VOCAB)
    with pytest.raises(LLMError, match=r"text ids must be text tokenizer ids in \[0, 40\)"):
        interleave(ratio_spans([[45]], 3), ["text"], audio, VOCAB)
    with pytest.raises(LLMError, match="tile frames"):
        interleave(ratio_spans([[1]], 2), ["text"], audio, VOCAB)


def test_word_timings_from_the_manifest() -> None:
    words = ManifestItem("a", "a.wav", 1.0, text="Hello, world!",
                         alignment=[("hello", 0.1, 0.4), ("world", 0.5, 0.9)])
    assert word_timings(words) == [("hello", 0.1, 0.4), ("world", 0.5, 0.9)]
    phones = ManifestItem("b", "b.wav", 1.0, text="hi", alignment=[("h", 0.0, 0.1),
                                                                    ("aɪ", 0.1, 0.3)])
    assert word_timings(phones) is None  # phone alignments are not word timings
    assert word_timings(ManifestItem("c", "c.wav", 1.0, text="hi")) is None
    spans = timed_spans([[1], [2]], [s for _, s, _ in word_timings(words)], 50.0, 50)
    assert [(s.start, s.end) for s in spans] == [(0, 25), (25, 50)]


@FAST
@given(utterances(), st.integers(0, 20))
def test_text_stream_in_a_multistream_layout(utt, extra: int) -> None:
    words, audio, starts = utt
    # room for every text id after the latest start (1 s = 50 frames) and for the audio
    n_frames = max(len(audio), 50) + sum(len(w) for w in words) + extra
    pad = VOCAB.special_id("<pad>")
    spans = timed_spans(words, starts, INFO.frame_rate, n_frames)
    text = text_stream(spans, n_frames, pad)
    assert stream_text(text, pad).tolist() == [t for w in words for t in w]
    where = np.flatnonzero(text[:, 0] != pad)  # frame of every text id, in order
    firsts = np.cumsum([0] + [len(w) for w in words[:-1]])
    assert all(where[f] >= span.start for f, span in zip(firsts, spans, strict=True))
    semantic = np.zeros((n_frames, 2), np.int64) + VOCAB.ranges[0].start
    semantic[: len(audio)] = audio
    layout = MultiStream((Stream("text"), Stream("audio", 2, 1)), pad_id=pad)
    back = layout.invert(layout.apply({"text": text, "audio": semantic}))
    assert np.array_equal(back["text"], text) and np.array_equal(back["audio"], semantic)
    with pytest.raises(LLMError, match="do not fit"):
        text_stream(spans, sum(len(w) for w in words) - 1, pad)
