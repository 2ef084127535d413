"""Everything ``audiotokens analyze`` measures for a token store and its manifest, in one pass.

The store is read item by item (a corpus need not fit in memory); items are matched to the
manifest by id. Per codebook: usage, entropy and perplexity over every matched item; phone
purity, cluster purity, PNMI and the token -> phone map over the matched items that have an
alignment (phone ids from a :class:`~.phones.PhoneInventory` of those alignments, laid on
the store's frame grid by :func:`~.phones.frame_phones`). Speaker leakage: one probe on the
concatenated per-codebook token histograms of items with a speaker, at most
``max_probe_items_per_speaker`` per speaker (the first ones in store order). Metrics that
cannot be measured carry a message saying why instead of a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.manifest import ManifestItem, read_manifest
from ..store import TokenStore
from ..tokenizers.base import TokenizerInfo
from .leakage import LeakageResult, ProbeConfig, speaker_leakage, token_histograms
from .phones import (
    AnalysisError,
    PhoneCounter,
    PhoneInventory,
    PhoneScores,
    frame_phones,
    shuffled_pnmi,
)
from .tokenmap import TokenPhoneMap, token_phone_map
from .usage import CodebookUsage, codebook_usage

__all__ = ["AnalyzeConfig", "CodebookAnalysis", "Analysis", "analyze_store"]


@dataclass(frozen=True)
class AnalyzeConfig:
    """``top_phones``: phones listed per token; ``skip_silence``: leave frames no phone
    covers out of the phone metrics; ``probe``: speaker-probe settings."""

    top_phones: int = 3
    skip_silence: bool = False
    max_probe_items_per_speaker: int = 50
    probe: ProbeConfig = field(default_factory=ProbeConfig)

    def __post_init__(self) -> None:
        if self.top_phones < 1:
            raise ValueError(f"top_phones must be >= 1, got {self.top_phones}")
        if self.max_probe_items_per_speaker < 2:
            raise ValueError("max_probe_items_per_speaker must be >= 2, got "
                             f"{self.max_probe_items_per_speaker}")


@dataclass(frozen=True)
class CodebookAnalysis:
    """One codebook: usage always; phone scores, the PNMI of the same table with tokens
    shuffled across frames (:func:`~.phones.shuffled_pnmi`, the estimate's bias) and the
    token map when alignments exist."""

    name: str
    usage: CodebookUsage
    phones: PhoneScores | None
    pnmi_shuffled: float | None
    token_map: TokenPhoneMap | None


@dataclass(frozen=True)
class Analysis:
    """The result of :func:`analyze_store`. ``phone_message`` / ``leakage_message`` say why
    a metric was not measured (None when it was)."""

    store: str
    manifest: str
    info: TokenizerInfo
    n_items: int
    n_frames: int
    n_not_in_manifest: int
    n_not_in_store: int
    n_aligned: int
    n_with_speaker: int
    inventory: PhoneInventory | None
    codebooks: tuple[CodebookAnalysis, ...]
    leakage: LeakageResult | None
    phone_message: str | None
    leakage_message: str | None

    @property
    def n_unaligned(self) -> int:
        """Analysed items without an alignment (left out of the phone metrics)."""
        return self.n_items - self.n_aligned


@dataclass
class _Accumulator:
    """Running counts of one pass over the store."""

    vocab_sizes: tuple[int, ...]
    frame_rate: float
    inventory: PhoneInventory | None
    config: AnalyzeConfig
    usage: list[np.ndarray] = field(default_factory=list)
    phones: list[PhoneCounter] = field(default_factory=list)
    histograms: list[np.ndarray] = field(default_factory=list)
    speakers: list[str] = field(default_factory=list)
    per_speaker: dict[str, int] = field(default_factory=dict)
    n_items: int = 0
    n_frames: int = 0
    n_aligned: int = 0
    n_with_speaker: int = 0

    def __post_init__(self) -> None:
        self.usage = [np.zeros(v, dtype=np.int64) for v in self.vocab_sizes]
        if self.inventory is not None:
            self.phones = [PhoneCounter(v, len(self.inventory), max_mismatch=0,
                                        skip_silence=self.config.skip_silence)
                           for v in self.vocab_sizes]

    def add(self, item: ManifestItem, codes: np.ndarray) -> None:
        """Count one item's tokens int [T, C]."""
        self.n_items += 1
        self.n_frames += len(codes)
        for c, v in enumerate(self.vocab_sizes):
            self.usage[c] += np.bincount(codes[:, c], minlength=v)[:v]
        if item.alignment and self.inventory is not None:
            self.n_aligned += 1
            labels = frame_phones(item.alignment, len(codes), self.frame_rate, self.inventory)
            for c, counter in enumerate(self.phones):
                counter.add(codes[:, c], labels, item.id)
        if item.speaker:
            self.n_with_speaker += 1
            seen = self.per_speaker.get(item.speaker, 0)
            if seen < self.config.max_probe_items_per_speaker:
                self.histograms.append(token_histograms(codes, self.vocab_sizes))
                self.speakers.append(item.speaker)
                self.per_speaker[item.speaker] = seen + 1


def analyze_store(store_path: str | Path, manifest_path: str | Path,
                  config: AnalyzeConfig | None = None) -> Analysis:
    """Analyse the tokens in ``store_path`` against ``manifest_path`` (see the module
    docstring). Raises :class:`~.phones.AnalysisError` when no stored id is in the manifest."""
    config = config or AnalyzeConfig()
    store = TokenStore.open(store_path)
    items = {it.id: it for it in read_manifest(manifest_path)}
    stored = store.ids()
    matched = [i for i in stored if i in items]
    if not matched:
        example = f" (e.g. {stored[0]!r})" if stored else ""
        raise AnalysisError(f"{manifest_path}: none of the {len(stored)} ids in store "
                            f"{store_path}{example} is in this manifest; pass the manifest "
                            "the store was encoded from")
    aligned = [items[i].alignment for i in matched if items[i].alignment]
    inventory = PhoneInventory.from_alignments(aligned) if aligned else None
    acc = _Accumulator(store.info.vocab_sizes, store.info.frame_rate, inventory, config)
    for item_id, tokens in store:
        if item_id in items:
            acc.add(items[item_id], tokens.codes)
    if acc.n_frames == 0:
        raise AnalysisError(f"{store_path}: the {len(matched)} matched items have no frames")
    codebooks = tuple(_codebook(store.info, c, acc, config) for c in range(len(acc.usage)))
    leakage, leakage_message = _leakage(acc, config)
    return Analysis(
        store=str(store_path), manifest=str(manifest_path), info=store.info,
        n_items=acc.n_items, n_frames=acc.n_frames,
        n_not_in_manifest=len(stored) - len(matched),
        n_not_in_store=len(items) - len(matched),
        n_aligned=acc.n_aligned, n_with_speaker=acc.n_with_speaker, inventory=inventory,
        codebooks=codebooks, leakage=leakage,
        phone_message=None if inventory else (
            f"no phone metrics: none of the {acc.n_items} items has an alignment "
            "(the synthetic corpus of `audiotokens data synth` has them)"),
        leakage_message=leakage_message,
    )


def _codebook(info: TokenizerInfo, c: int, acc: _Accumulator,
              config: AnalyzeConfig) -> CodebookAnalysis:
    usage = codebook_usage(acc.usage[c], codebook=c)
    if not acc.phones or acc.phones[c].counts.sum() == 0:
        return CodebookAnalysis(info.codebook_names[c], usage, None, None, None)
    scores = acc.phones[c].scores()
    assert acc.inventory is not None
    tmap = token_phone_map(scores, acc.inventory, codebook=c, top=config.top_phones)
    shuffled = shuffled_pnmi(scores.counts, seed=config.probe.seed)
    return CodebookAnalysis(info.codebook_names[c], usage, scores, shuffled, tmap)


def _leakage(acc: _Accumulator, config: AnalyzeConfig) -> tuple[LeakageResult | None, str | None]:
    usable = [s for s, n in acc.per_speaker.items() if n >= 2]
    if len(usable) < 2:
        return None, (f"no speaker leakage: needs >= 2 speakers with >= 2 items each; "
                      f"{acc.n_with_speaker} of {acc.n_items} items have a speaker, "
                      f"{len(usable)} speakers have >= 2")
    return speaker_leakage(np.stack(acc.histograms), acc.speakers, config.probe), None
