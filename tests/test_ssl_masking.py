"""Span masking: the number of spans, their length, the covered fraction and the padding."""

from __future__ import annotations

import math

import pytest
import torch

from audiotokens.ssl.masking import MaskConfig, span_mask


def expected_fraction(length: int, cfg: MaskConfig, spans: int) -> float:
    """Exact P(frame masked), averaged over frames, for ``spans`` starts drawn without
    replacement from the ``length - span + 1`` positions (hypergeometric)."""
    positions = length - cfg.span + 1

    def log_comb(n: int, r: int) -> float:
        return math.lgamma(n + 1) - math.lgamma(r + 1) - math.lgamma(n - r + 1)

    total = 0.0
    for t in range(length):
        covering = min(t, positions - 1) - max(0, t - cfg.span + 1) + 1
        rest = positions - covering
        miss = 0.0 if rest < spans else math.exp(log_comb(rest, spans)
                                                 - log_comb(positions, spans))
        total += 1.0 - miss
    return total / length


@pytest.mark.parametrize("mask_prob,span", [(0.8, 10), (0.1, 5), (0.65, 3)])
def test_spans_have_the_requested_length_and_cover_the_requested_fraction(mask_prob,
                                                                           span) -> None:
    cfg = MaskConfig(mask_prob=mask_prob, span=span, min_spans=0)
    length, draws = 500, 300
    gen = torch.Generator().manual_seed(0)
    fractions, counts = [], []
    for _ in range(draws):
        m = span_mask(torch.tensor([length]), length, cfg, gen)
        starts = m.starts[0]
        rebuilt = torch.zeros(length, dtype=torch.bool)
        for s in starts.tolist():
            assert 0 <= s <= length - span  # every span fits whole
            rebuilt[s: s + span] = True
        assert torch.equal(rebuilt, m.mask[0])  # the mask is exactly the union of spans
        assert len(set(starts.tolist())) == len(starts)  # distinct starts
        counts.append(len(starts))
        fractions.append(float(m.mask.float().mean()))
    n_low = int(mask_prob * length / span)
    assert set(counts) <= {n_low, n_low + 1}
    # the stochastic rounding makes the mean number of starts mask_prob * length / span
    assert sum(counts) / draws == pytest.approx(mask_prob * length / span, abs=0.1)
    want = sum(expected_fraction(length, cfg, n) * counts.count(n) / draws
               for n in set(counts))
    assert sum(fractions) / draws == pytest.approx(want, abs=0.01)
    if mask_prob < 0.2:  # overlaps are rare: the masked fraction is about mask_prob
        assert sum(fractions) / draws == pytest.approx(mask_prob, abs=0.02)


def test_isolated_spans_are_runs_of_exactly_span_frames() -> None:
    cfg = MaskConfig(mask_prob=0.05, span=7, min_spans=0)
    m = span_mask(torch.tensor([2000]), 2000, cfg, torch.Generator().manual_seed(3))
    starts = m.starts[0].tolist()
    row = m.mask[0].int().tolist()
    runs, n = [], 0
    for v in [*row, 0]:
        if v:
            n += 1
        elif n:
            runs.append(n)
            n = 0
    isolated = [s for a, s, b in zip([-99, *starts[:-1]], starts, [*starts[1:], 10**9], strict=True)
                if s - a >= 7 and b - s >= 7]
    assert isolated and runs.count(7) >= len(isolated)
    assert all(r >= 7 for r in runs)


def test_padding_short_items_and_min_spans() -> None:
    cfg = MaskConfig(mask_prob=0.8, span=10, min_spans=2)
    m = span_mask(torch.tensor([100, 40, 5]), 100, cfg, torch.Generator().manual_seed(1))
    assert not m.mask[1, 40:].any() and not m.mask[2].any()  # padding / too short: unmasked
    assert len(m.starts[2]) == 0
    few = span_mask(torch.tensor([30]), 30, MaskConfig(mask_prob=0.01, span=10, min_spans=2))
    assert len(few.starts[0]) == 2
    with pytest.raises(ValueError, match="exceed n_frames"):
        span_mask(torch.tensor([101]), 100, cfg)
    for bad in ({"mask_prob": 1.5}, {"span": 0}, {"min_spans": -1}):
        with pytest.raises(ValueError):
            MaskConfig(**bad)
