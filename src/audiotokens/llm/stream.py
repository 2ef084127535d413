"""Token streams for a language model: frames [T, C] -> the steps an LM reads and predicts.

A :class:`StreamConfig` says how: the first ``codebooks`` codebooks (all by default), then
optionally :func:`~audiotokens.llm.dedup.dedup` (runs of identical frames become one unit;
the run lengths are dropped, as in GSLM's unit LMs), then a layout:

=========== ============== ===============================================================
layout      steps          what one step holds
=========== ============== ===============================================================
``flatten`` [T * C, 1]     one code: :class:`~.layouts.Flatten` over :class:`~.vocab.LLMVocab`
                           ids, one vocabulary of ``sum(vocab_sizes)`` symbols
``delay``   [T + C - 1, C] all C codebooks, codebook k of frame t - k (MusicGen's
                           :class:`~.layouts.Delay`); the pad triangles are :data:`PAD`
``bpe``     [N, 1]         one :class:`~.bpe.TokenBPE` token (flattened codes merged)
=========== ============== ===============================================================

Steps hold column-local ids: column k's ids are in ``[0, columns[k])``; :data:`PAD` marks a
delayed layout's pads, which a model never scores (their places follow from the length).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from ..tokenizers.base import TokenizerInfo, Tokens
from .bpe import TokenBPE
from .dedup import dedup
from .layouts import Delay, Flatten
from .vocab import LLMError, LLMVocab

__all__ = ["STREAM_LAYOUTS", "PAD", "StreamConfig", "TokenStreamer"]

STREAM_LAYOUTS = ("flatten", "delay", "bpe")
PAD = -1  # a pad step of a delayed layout (never a target)


@dataclass(frozen=True)
class StreamConfig:
    """``layout`` in :data:`STREAM_LAYOUTS`; ``codebooks``: keep the first n (None: all);
    ``dedup``: collapse runs of identical frames first (run lengths are not modelled);
    ``bpe_vocab``: BPE vocabulary size (layout ``bpe`` only; trained on the train split)."""

    layout: str = "flatten"
    codebooks: int | None = None
    dedup: bool = False
    bpe_vocab: int | None = None

    def __post_init__(self) -> None:
        if self.layout not in STREAM_LAYOUTS:
            raise LLMError(f"stream layout must be one of {STREAM_LAYOUTS}, got {self.layout!r}")
        if (self.layout == "bpe") != (self.bpe_vocab is not None):
            raise LLMError("a BPE vocabulary size goes with layout 'bpe' and only with it "
                           f"(got layout {self.layout!r}, bpe_vocab {self.bpe_vocab})")
        if self.codebooks is not None and self.codebooks < 1:
            raise LLMError(f"codebooks must be >= 1, got {self.codebooks}")

    @property
    def label(self) -> str:
        """Short name, e.g. ``flatten``, ``delay+dedup``, ``bpe2000+dedup``, ``flatten:q2``."""
        layout = f"bpe{self.bpe_vocab}" if self.layout == "bpe" else self.layout
        books = "" if self.codebooks is None else f":q{self.codebooks}"
        return layout + books + ("+dedup" if self.dedup else "")


class TokenStreamer:
    """Turns one tokenizer's frames into LM steps (see the module docstring); build it with
    :meth:`build`, which trains the BPE model when the layout needs one."""

    def __init__(self, info: TokenizerInfo, config: StreamConfig,
                 bpe: TokenBPE | None = None) -> None:
        n = info.n_codebooks if config.codebooks is None else config.codebooks
        if n > info.n_codebooks:
            raise LLMError(f"asked for {n} codebooks; '{info.name}' has {info.n_codebooks}")
        if (bpe is None) != (config.layout != "bpe"):
            raise LLMError("a BPE model is needed exactly for layout 'bpe'")
        self.info, self.config, self.bpe = info, config, bpe
        self.kept = replace(info, vocab_sizes=info.vocab_sizes[:n],
                            codebook_names=info.codebook_names[:n])
        self.vocab = LLMVocab(self.kept)
        self.first_id = self.vocab.ranges[0].start

    @classmethod
    def build(cls, info: TokenizerInfo, config: StreamConfig,
              train: Iterable[np.ndarray] = ()) -> TokenStreamer:
        """A streamer for ``info``'s tokens; layout ``bpe`` learns its merges on ``train``
        (frames [T, C] of the training items)."""
        if config.layout != "bpe":
            return cls(info, config)
        plain = cls(info, replace(config, layout="flatten", bpe_vocab=None))
        assert config.bpe_vocab is not None
        items = (Tokens(plain.kept_codes(f), plain.kept) for f in train)
        bpe = TokenBPE.train(items, plain.kept, config.bpe_vocab, dedup=config.dedup)
        return cls(info, config, bpe)

    @property
    def columns(self) -> tuple[int, ...]:
        """Ids per column of a step (what each output predicts)."""
        if self.bpe is not None:
            return (self.bpe.vocab_size,)
        if self.config.layout == "flatten":
            return (sum(self.kept.vocab_sizes),)
        return self.kept.vocab_sizes

    @property
    def name(self) -> str:
        """The stream's label (see :attr:`StreamConfig.label`)."""
        return self.config.label

    def kept_codes(self, frames: np.ndarray) -> np.ndarray:
        """Frames [T, C] -> int64 [T, n] of the kept codebooks."""
        frames = np.asarray(frames, dtype=np.int64)
        if frames.ndim != 2 or frames.shape[1] != self.info.n_codebooks:
            raise LLMError(f"frames must be [T, {self.info.n_codebooks}], got shape "
                           f"{frames.shape}")
        return frames[:, : self.kept.n_codebooks]

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Frames [T, C] -> int64 steps [S, K] (column-local ids, :data:`PAD` at pads)."""
        codes = self.kept_codes(frames)
        if self.bpe is not None:  # TokenBPE deduplicates itself when asked to
            return self.bpe.encode(Tokens(codes, self.kept)).ids[:, None]
        if self.config.dedup:
            codes = dedup(codes).units
        ids = self.vocab.to_ids(Tokens(codes, self.kept))
        n = self.kept.n_codebooks
        if self.config.layout == "flatten":
            return (Flatten(n).apply(ids) - self.first_id)[:, None]
        pad = self.vocab.special_id("<pad>")
        if not len(ids):
            return np.zeros((0, n), dtype=np.int64)
        steps = Delay(n, pad).apply(ids)
        return np.where(steps == pad, PAD, steps - self.vocab.offsets)
