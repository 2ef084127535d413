"""Resynthesis: encode + decode every manifest item with a tokenizer, write the decoded audio
and score it against the original (PESQ-WB and PESQ-NB, STOI, SI-SDR, mel distance).

Scores are computed at ``min(file rate, tokenizer rate)`` (the band both signals share), on
the original length. Output folder::

    DIR/audio/<id>.wav    decoded audio at the tokenizer's sample rate (16-bit PCM)
    DIR/metrics.csv       one row per item + a final "mean" row and a "scored" row (items
                          each mean is over)
    DIR/metrics.json      {"tokenizer", ..., "items": [...], "mean": {...},
                           "scored": {metric: {"n_scored", "n_items", "failures"}}}

A mean is over the items its score is defined for; ``ResynthReport.summaries`` says how many
those were and why the others failed. An item shorter than one frame gets no tokens and no
scores (its notes say so); it is not decoded from made-up frames.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .audio import load_audio, resample, save_audio
from .data.manifest import ManifestError, ManifestItem, read_manifest
from .metrics import METRIC_NAMES, MetricSummary, ResynthMetrics, ScoreTally, resynth_metrics
from .tokenizers.base import NoDecoderError, Tokenizer

__all__ = ["ResynthItem", "ResynthReport", "resynthesize", "resynth_manifest"]


@dataclass(frozen=True)
class ResynthItem:
    """One item's result: frames encoded, decoded file, scores, rate the scores used (Hz)."""

    id: str
    path: str
    duration: float
    n_frames: int
    out_path: str
    metric_rate: int
    metrics: ResynthMetrics

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON/CSV-ready row."""
        return {"id": self.id, "path": self.path, "duration": round(self.duration, 4),
                "n_frames": self.n_frames, "out_path": self.out_path,
                "metric_rate": self.metric_rate, **self.metrics.to_dict()}


@dataclass(frozen=True)
class ResynthReport:
    """All items, the mean of each score over items where it is defined, the bitrate, and per
    score the items it was defined for and why the others failed (``summaries``)."""

    tokenizer: str
    bitrate_bps: float
    sample_rate: int
    items: list[ResynthItem]
    mean: dict[str, float]
    summaries: dict[str, MetricSummary]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN written as null)."""
        scored = {k: {"n_scored": s.n_scored, "n_items": s.n_items,
                      "failures": list(s.failures)} for k, s in self.summaries.items()}
        return _nan_to_none({"tokenizer": self.tokenizer, "bitrate_bps": self.bitrate_bps,
                             "sample_rate": self.sample_rate,
                             "items": [it.to_dict() for it in self.items], "mean": self.mean,
                             "scored": scored})


def _safe_name(item_id: str) -> str:
    """An item id made safe as a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", item_id).strip("._") or "item"


def _summaries(items: list[ResynthItem]) -> dict[str, MetricSummary]:
    tally = ScoreTally()
    for it in items:
        for name in METRIC_NAMES:
            tally.add(name, it.id, getattr(it.metrics, name), it.metrics.reason(name))
    return tally.summaries()


def resynthesize(
    tok: Tokenizer,
    items: list[ManifestItem],
    out_dir: str | Path,
    on_item: Callable[[ResynthItem], None] | None = None,
) -> ResynthReport:
    """Encode + decode each item, write ``out_dir/audio/<id>.wav`` and the metric tables.

    Raises :class:`NoDecoderError` before touching any file if ``tok`` has no decoder, and
    :class:`AudioError` (naming the file) for an unreadable item.
    """
    info = tok.info
    if not info.has_decoder:
        raise NoDecoderError(f"tokenizer '{tok.name}' has no decoder, so it cannot resynthesize; "
                             "use a codec (encodec, dac, mimi, codec2, mulaw, rvq)")
    out = Path(out_dir)
    results: list[ResynthItem] = []
    used: set[str] = set()
    for item in items:
        audio = load_audio(item.path)
        tokens = tok.encode(audio.samples, audio.sample_rate)
        if tokens.n_frames == 0:
            reason = (f"{audio.duration:.3f} s is shorter than one frame "
                      f"({info.frame_rate:g} frames/s): no tokens, not decoded")
            result = ResynthItem(item.id, item.path, audio.duration, 0, "", audio.sample_rate,
                                 _unscored(reason))
            results.append(result)
            if on_item is not None:
                on_item(result)
            continue
        decoded = tok.decode(tokens)
        name = _safe_name(item.id)
        while name in used:
            name += "_"
        used.add(name)
        wav = save_audio(out / "audio" / f"{name}.wav", decoded, info.sample_rate)
        rate = min(audio.sample_rate, info.sample_rate)
        reference = resample(audio.samples, audio.sample_rate, rate)
        estimate = resample(decoded, info.sample_rate, rate)
        result = ResynthItem(item.id, item.path, audio.duration, tokens.n_frames, str(wav), rate,
                             resynth_metrics(reference, estimate, rate))
        results.append(result)
        if on_item is not None:
            on_item(result)
    summaries = _summaries(results)
    mean = {k: s.mean for k, s in summaries.items()}
    report = ResynthReport(tok.name, info.bitrate_bps, info.sample_rate, results, mean,
                           summaries)
    _write_tables(report, out)
    return report


def resynth_manifest(tok: Tokenizer, manifest: str | Path, out_dir: str | Path,
                     limit: int | None = None,
                     on_item: Callable[[ResynthItem], None] | None = None) -> ResynthReport:
    """:func:`resynthesize` over the first ``limit`` items (all if None) of a JSONL manifest."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    items = read_manifest(manifest)
    if not items:
        raise ManifestError(f"{manifest}: manifest has no items")
    return resynthesize(tok, items[:limit], out_dir, on_item)


def _write_tables(report: ResynthReport, out: Path) -> None:
    from .tokenizers.persist import atomic_write_bytes

    rows = [it.to_dict() for it in report.items]
    columns = list(rows[0]) if rows else ["id", *METRIC_NAMES]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    writer.writerow({"id": "mean", **report.mean})
    writer.writerow({"id": "scored", **{k: f"{s.n_scored}/{s.n_items}"
                                        for k, s in report.summaries.items()}})
    atomic_write_bytes(out / "metrics.csv", buf.getvalue().encode())
    text = json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"
    atomic_write_bytes(out / "metrics.json", text.encode())


def _unscored(reason: str) -> ResynthMetrics:
    """Metrics of an item that could not be scored at all: every score NaN, one reason."""
    return ResynthMetrics(**dict.fromkeys(METRIC_NAMES, math.nan), notes=(reason,))


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value
