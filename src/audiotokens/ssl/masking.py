"""Span masking for masked prediction, as in HuBERT / wav2vec 2.0 (fairseq's
``compute_mask_indices`` with ``mask_type="static"``).

For an item of ``T`` frames, ``n = int(mask_prob * T / span + u)`` (u ~ U[0, 1), so the
expectation is exact) span starts are drawn uniformly *without replacement* from the
``T - span + 1`` positions where a whole span fits, at least ``min_spans``; each start masks
``span`` frames. Spans may overlap, so the masked fraction is ``mask_prob`` only when overlaps
are rare; with the HuBERT setting (``mask_prob=0.8``, ``span=10``: 8 % of frames start a span)
about 1 - (1 - 0.08) ** 10 ~ 57 % of frames end up masked.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["MaskConfig", "SpanMask", "span_mask"]


@dataclass(frozen=True)
class MaskConfig:
    """``mask_prob``: expected masked frames before overlap / frames (starts = mask_prob/span
    of the frames); ``span``: frames per span (HuBERT: l = 10); ``min_spans``: at least this
    many spans per item (when the item is long enough)."""

    mask_prob: float = 0.8
    span: int = 10
    min_spans: int = 2

    def __post_init__(self) -> None:
        if not 0.0 <= self.mask_prob <= 1.0:
            raise ValueError(f"mask_prob must be in [0, 1], got {self.mask_prob}")
        if self.span < 1:
            raise ValueError(f"span must be >= 1, got {self.span}")
        if self.min_spans < 0:
            raise ValueError(f"min_spans must be >= 0, got {self.min_spans}")


@dataclass
class SpanMask:
    """``mask``: bool [B, T], True = masked; ``starts[b]``: int64 [n_b] sorted span starts of
    item b (each masks frames ``start .. start + span - 1``)."""

    mask: torch.Tensor
    starts: list[torch.Tensor]

    @property
    def fraction(self) -> float:
        """Masked frames / all frames of the batch (padding included in neither when the
        lengths were given: padded frames are never masked, but they are counted)."""
        return float(self.mask.float().mean())


def span_mask(lengths: torch.Tensor, n_frames: int, cfg: MaskConfig,
              generator: torch.Generator | None = None) -> SpanMask:
    """Span mask for a batch: valid frames per item ``lengths`` int64 [B] (<= ``n_frames``) ->
    :class:`SpanMask` with ``mask`` bool [B, n_frames] (padded frames never masked).

    Items shorter than one span get no mask. Uses ``generator`` (CPU) for reproducibility.
    """
    lengths = torch.as_tensor(lengths, dtype=torch.int64).cpu()
    if lengths.ndim != 1:
        raise ValueError(f"lengths must be [B], got shape {tuple(lengths.shape)}")
    if len(lengths) and int(lengths.max()) > n_frames:
        raise ValueError(f"lengths up to {int(lengths.max())} exceed n_frames={n_frames}")
    mask = torch.zeros(len(lengths), n_frames, dtype=torch.bool)
    starts: list[torch.Tensor] = []
    offsets = torch.arange(cfg.span)
    for b, length in enumerate(lengths.tolist()):
        positions = length - cfg.span + 1
        if positions <= 0 or cfg.mask_prob == 0.0:
            starts.append(torch.zeros(0, dtype=torch.int64))
            continue
        u = float(torch.rand((), generator=generator))
        n = max(cfg.min_spans, int(cfg.mask_prob * length / cfg.span + u))
        n = min(n, positions)
        chosen = torch.randperm(positions, generator=generator)[:n].sort().values
        mask[b, (chosen[:, None] + offsets[None]).reshape(-1)] = True
        starts.append(chosen)
    return SpanMask(mask, starts)
