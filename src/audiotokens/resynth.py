"""Resynthesis: encode + decode every manifest item with a tokenizer, write the decoded audio
and score it against the original (PESQ, STOI, SI-SDR, mel distance).

Scores are computed at ``min(file rate, tokenizer rate)`` (the band both signals share), on
the original length. Output folder::

    DIR/audio/<id>.wav    decoded audio at the tokenizer's sample rate (16-bit PCM)
    DIR/metrics.csv       one row per item + a final "mean" row
    DIR/metrics.json      {"tokenizer", "info", "items": [...], "mean": {...}}
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

import numpy as np

from .audio import load_audio, resample, save_audio
from .data.manifest import ManifestError, ManifestItem, read_manifest
from .metrics import METRIC_NAMES, ResynthMetrics, resynth_metrics
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
    """All items, the mean of each score over items where it is defined, and the bitrate."""

    tokenizer: str
    bitrate_bps: float
    sample_rate: int
    items: list[ResynthItem]
    mean: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN written as null)."""
        return _nan_to_none({"tokenizer": self.tokenizer, "bitrate_bps": self.bitrate_bps,
                             "sample_rate": self.sample_rate,
                             "items": [it.to_dict() for it in self.items], "mean": self.mean})


def _safe_name(item_id: str) -> str:
    """An item id made safe as a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", item_id).strip("._") or "item"


def _mean(items: list[ResynthItem]) -> dict[str, float]:
    means: dict[str, float] = {}
    for name in METRIC_NAMES:
        values = [getattr(it.metrics, name) for it in items]
        finite = [v for v in values if not math.isnan(v)]
        means[name] = float(np.mean(finite)) if finite else math.nan
    return means


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
    report = ResynthReport(tok.name, info.bitrate_bps, info.sample_rate, results, _mean(results))
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
    atomic_write_bytes(out / "metrics.csv", buf.getvalue().encode())
    text = json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"
    atomic_write_bytes(out / "metrics.json", text.encode())


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value
