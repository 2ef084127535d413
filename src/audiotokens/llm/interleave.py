"""Text-audio interleaving (SpiritLM-style): word spans switch between text and audio.

An utterance is cut into word spans that cover its frames exactly: with word timings, span
i runs from word i's start frame to word i+1's (the first from frame 0, the last to the
end); without them, frames are shared out in proportion to the word count (fixed ratio).
Each span is then given as text (its words' text ids) or as audio (its frames, flattened
frame by frame), and runs of one modality become one segment between markers::

    <text_start> t t t <text_end> <audio_start> a a a a a a <audio_end> <text_start> ...

:func:`deinterleave` reads the segments back exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .vocab import LLMError, LLMVocab

if TYPE_CHECKING:
    from ..data.manifest import ManifestItem

__all__ = ["Span", "Segment", "word_timings", "timed_spans", "ratio_spans",
           "choose_modalities", "interleave", "deinterleave", "expected_segments",
           "text_stream", "stream_text"]

TEXT, AUDIO = "text", "audio"
_WORD = re.compile(r"[\w']+")


@dataclass(frozen=True)
class Span:
    """One or more words (``text_ids``) and the frames ``[start, end)`` they are spoken in."""

    text_ids: tuple[int, ...]
    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise LLMError(f"span frames must satisfy 0 <= start <= end, got {self.start}, "
                           f"{self.end}")


@dataclass(frozen=True)
class Segment:
    """A run of one modality: ``kind`` "text" with ids [N], or "audio" with frames [F, K]."""

    kind: str
    ids: np.ndarray

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Segment) and self.kind == other.kind
                and self.ids.shape == other.ids.shape and bool((self.ids == other.ids).all()))

    __hash__ = None  # type: ignore[assignment]


def word_timings(item: ManifestItem) -> list[tuple[str, float, float]] | None:
    """The item's word timings ``(word, start_s, end_s)``, or None when it has none.

    The manifest's ``alignment`` counts as word timings when its labels spell the
    transcript's words in order (case and punctuation ignored); phone alignments (the
    synthetic corpus) and items without text give None.
    """
    if not item.text or not item.alignment:
        return None
    words = _WORD.findall(item.text.lower())
    labels = [label.lower().strip(".,;:!?\"") for label, _, _ in item.alignment]
    return list(item.alignment) if labels == words else None


def timed_spans(text_ids: list[list[int]], starts: list[float], frame_rate: float,
                n_frames: int) -> list[Span]:
    """One span per word from word start times (seconds); spans tile ``[0, n_frames)``."""
    if len(text_ids) != len(starts) or not text_ids:
        raise LLMError(f"need one start time per word, got {len(text_ids)} words and "
                       f"{len(starts)} starts")
    if any(b < a for a, b in zip(starts, starts[1:], strict=False)):
        raise LLMError("word start times must not decrease")
    cuts = [min(n_frames, max(0, round(s * frame_rate))) for s in starts]
    cuts[0] = 0
    ends = cuts[1:] + [n_frames]
    return [Span(tuple(ids), a, b) for ids, a, b in zip(text_ids, cuts, ends, strict=True)]


def ratio_spans(text_ids: list[list[int]], n_frames: int, words_per_span: int = 1) -> list[Span]:
    """Spans of ``words_per_span`` words with frames shared in proportion to word count."""
    if not text_ids or words_per_span < 1:
        raise LLMError(f"need >= 1 word and words_per_span >= 1, got {len(text_ids)}, "
                       f"{words_per_span}")
    n = len(text_ids)
    spans = []
    for i in range(0, n, words_per_span):
        j = min(n, i + words_per_span)
        ids = tuple(t for word in text_ids[i:j] for t in word)
        spans.append(Span(ids, n_frames * i // n, n_frames * j // n))
    return spans


def choose_modalities(n_spans: int, p_switch: float = 0.5, seed: int = 0,
                      first: str | None = None) -> list[str]:
    """``n_spans`` modalities: the first ``first`` (random if None), then switching at each
    span boundary with probability ``p_switch``. Same seed, same choice."""
    if not 0.0 <= p_switch <= 1.0:
        raise LLMError(f"p_switch must be in [0, 1], got {p_switch}")
    if first not in (None, TEXT, AUDIO):
        raise LLMError(f"first must be 'text', 'audio' or None, got {first!r}")
    rng = np.random.default_rng(seed)
    current = first or (TEXT if rng.random() < 0.5 else AUDIO)
    out = []
    for _ in range(n_spans):
        out.append(current)
        if rng.random() < p_switch:
            current = AUDIO if current == TEXT else TEXT
    return out


def _runs(spans: list[Span], modalities: list[str]) -> list[tuple[str, list[Span]]]:
    if len(spans) != len(modalities):
        raise LLMError(f"need one modality per span, got {len(modalities)} for {len(spans)}")
    bad = sorted(set(modalities) - {TEXT, AUDIO})
    if bad:
        raise LLMError(f"modalities must be 'text' or 'audio', got {bad}")
    runs: list[tuple[str, list[Span]]] = []
    for span, kind in zip(spans, modalities, strict=True):
        if runs and runs[-1][0] == kind:
            runs[-1][1].append(span)
        else:
            runs.append((kind, [span]))
    return runs


def expected_segments(spans: list[Span], modalities: list[str],
                      audio_ids: np.ndarray) -> list[Segment]:
    """What :func:`deinterleave` returns for ``interleave(spans, modalities, audio_ids)``."""
    out = []
    for kind, run in _runs(spans, modalities):
        if kind == TEXT:
            out.append(Segment(TEXT, np.array([t for s in run for t in s.text_ids], np.int64)))
        else:
            out.append(Segment(AUDIO, np.asarray(audio_ids[run[0].start: run[-1].end],
                                                 dtype=np.int64)))
    return out


def interleave(spans: list[Span], modalities: list[str], audio_ids: np.ndarray,
               vocab: LLMVocab) -> np.ndarray:
    """Spans + modalities + audio LLM ids [T, K] -> one int64 sequence [N] with markers.

    Spans must tile ``[0, T)`` in order; ``vocab`` gives the marker ids.
    """
    audio_ids = np.asarray(audio_ids, dtype=np.int64)
    if audio_ids.ndim != 2:
        raise LLMError(f"audio ids must be [T, K], got shape {audio_ids.shape}")
    ends = [0] + [s.end for s in spans]
    if [s.start for s in spans] != ends[:-1] or ends[-1] != len(audio_ids):
        raise LLMError(f"spans must tile frames [0, {len(audio_ids)}) in order")
    text = [t for s in spans for t in s.text_ids]
    if text and not 0 <= min(text) <= max(text) < vocab.base_size:
        raise LLMError(f"text ids must be text tokenizer ids in [0, {vocab.base_size})")
    parts: list[np.ndarray] = []
    for seg in expected_segments(spans, modalities, audio_ids):
        start, end = _markers(vocab, seg.kind)
        parts += [np.array([start]), seg.ids.reshape(-1), np.array([end])]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def deinterleave(sequence: np.ndarray, vocab: LLMVocab) -> list[Segment]:
    """Inverse of :func:`interleave`: the segments in order (audio as frames [F, K])."""
    sequence = np.asarray(sequence, dtype=np.int64)
    k = len(vocab.ranges)
    opening = {_markers(vocab, kind)[0]: kind for kind in (TEXT, AUDIO)}
    out, i = [], 0
    while i < len(sequence):
        kind = opening.get(int(sequence[i]))
        if kind is None:
            raise LLMError(f"position {i}: expected <text_start> or <audio_start>, got id "
                           f"{sequence[i]}")
        close = _markers(vocab, kind)[1]
        hits = np.flatnonzero(sequence[i + 1:] == close)
        if not len(hits):
            raise LLMError(f"position {i}: {kind} segment is never closed")
        body = sequence[i + 1: i + 1 + hits[0]]
        if kind == AUDIO:
            if len(body) % k:
                raise LLMError(f"position {i}: audio segment of {len(body)} ids is not whole "
                               f"frames of {k} codebooks")
            vocab.from_ids(body.reshape(-1, k))  # every id in its codebook's range
            body = body.reshape(-1, k)
        elif len(body) and not 0 <= body.min() <= body.max() < vocab.base_size:
            raise LLMError(f"position {i}: text segment holds ids outside the text "
                           f"vocabulary [0, {vocab.base_size})")
        out.append(Segment(kind, body))
        i += 2 + int(hits[0])
    return out


def _markers(vocab: LLMVocab, kind: str) -> tuple[int, int]:
    if kind == TEXT:
        return vocab.special_id("<text_start>"), vocab.special_id("<text_end>")
    return vocab.special_id("<audio_start>"), vocab.special_id("<audio_end>")


def text_stream(spans: list[Span], n_frames: int, pad_id: int) -> np.ndarray:
    """A frame-aligned text stream int64 [n_frames, 1] for :class:`~.layouts.MultiStream`
    (Moshi-style): each span's text ids start at its first frame, one id per frame; ids
    that run past the next span's start push later ones back; ``pad_id`` fills the rest.
    """
    out = np.full((n_frames, 1), pad_id, dtype=np.int64)
    at = 0
    for span in spans:
        if pad_id in span.text_ids:
            raise LLMError(f"text ids must not contain the pad id {pad_id}")
        at = max(at, span.start)
        if at + len(span.text_ids) > n_frames:
            raise LLMError(f"{sum(len(s.text_ids) for s in spans)} text ids do not fit "
                           f"{n_frames} frames")
        out[at: at + len(span.text_ids), 0] = span.text_ids
        at += len(span.text_ids)
    return out


def stream_text(stream: np.ndarray, pad_id: int) -> np.ndarray:
    """The text ids of a :func:`text_stream` [T, 1] in order (pads dropped): int64 [N]."""
    column = np.asarray(stream, dtype=np.int64).reshape(-1)
    return column[column != pad_id]
