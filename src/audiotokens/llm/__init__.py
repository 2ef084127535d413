"""Audio tokens for LLMs: vocabulary mapping, codebook layouts, interleaving, dedup and BPE."""

from .bpe import BPEEncoded, BPEReport, CodePointMap, TokenBPE
from .dedup import Deduped, dedup, undo_dedup
from .interleave import (
    Segment,
    Span,
    choose_modalities,
    deinterleave,
    interleave,
    ratio_spans,
    stream_text,
    text_stream,
    timed_spans,
    word_timings,
)
from .layouts import CoarseFirst, Delay, Flatten, Layout, MultiStream, Parallel, Stream
from .vocab import SPECIAL_TOKENS, IdRange, LLMError, LLMVocab

__all__ = [
    "BPEEncoded", "BPEReport", "CodePointMap", "TokenBPE",
    "Deduped", "dedup", "undo_dedup",
    "Segment", "Span", "choose_modalities", "deinterleave", "interleave", "ratio_spans",
    "stream_text", "text_stream", "timed_spans", "word_timings",
    "CoarseFirst", "Delay", "Flatten", "Layout", "MultiStream", "Parallel", "Stream",
    "SPECIAL_TOKENS", "IdRange", "LLMError", "LLMVocab",
]
