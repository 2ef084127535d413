"""Corpus-scale encoding: manifest -> token store, batched, sharded, resumable.

A run plans shards of the items the store lacks (:func:`audiotokens.shards.plan_shards`:
longest first, ``shard_items`` each, named by the project); within a shard items are
grouped into batches up to a padded-seconds budget (so little compute goes to padding);
background threads load the next batches while the current one is encoded; each shard is
committed (Parquet file, then its success marker) as soon as it is done. A bad file is
recorded in ``errors.jsonl`` and skipped, never aborting the run; re-running the same job
skips the ids already committed. Items longer than the chunk length are streamed from disk
and encoded in overlapping chunks (:mod:`audiotokens.longform`), so memory stays bounded.

:func:`encode_shards` encodes and commits planned shards with any :class:`Encoder` (a
tokenizer's, from :func:`tokenizer_encoder`, or a continuous feature source's): this process
runs it over all shards, a Ray worker (:mod:`audiotokens.encode_ray`) over one shard a call.
:func:`encode_to_store` runs a job over an open store (the benchmark encodes through it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .longform import ChunkConfig
from .shards import (
    DEFAULT_MAX_SECONDS,
    Advance,
    Encoded,
    Encoder,
    EncodeSettings,
    ShardPlan,
    ShardResult,
    encode_shards,
    plan_batches,
    plan_shards,
)
from .store import TokenStore
from .tokenizers.base import Tokens

if TYPE_CHECKING:
    from .data.manifest import ManifestItem
    from .encode_ray import RayEngine
    from .tokenizers.base import Tokenizer

__all__ = ["EncodeError", "EncodeSettings", "EncodeSummary", "Encoder", "encode_manifest",
           "encode_shards", "encode_to_store", "tokenizer_encoder", "plan_batches",
           "DEFAULT_MAX_SECONDS"]


class EncodeError(RuntimeError):
    """An encode job stopped before it finished (the shards it committed are kept)."""


@dataclass
class EncodeSummary:
    """What one encode run did. ``failed`` holds ``(id, reason)``; seconds are wall/audio."""

    store: Path
    total: int = 0
    encoded: int = 0
    skipped_done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    batches: int = 0
    shards_written: int = 0

    @property
    def throughput(self) -> float:
        """Audio seconds encoded per wall second (x real time); 0 when nothing ran."""
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def errors_path(self) -> Path:
        """Where the failures of this run are listed."""
        return self.store / "errors.jsonl"

    def add(self, result: ShardResult) -> None:
        """Count one committed shard in."""
        self.encoded += result.encoded
        self.failed.extend((item_id, reason) for item_id, _, reason in result.failed)
        self.audio_seconds += result.audio_seconds
        self.batches += result.batches
        self.shards_written += result.encoded > 0


def tokenizer_encoder(tok: Tokenizer, chunking: ChunkConfig | None = None,
                      max_seconds: float = DEFAULT_MAX_SECONDS) -> Encoder:
    """``tok`` as an :class:`Encoder`: batched ``encode_batch`` (each item validated) and
    long files streamed in ``chunking`` chunks."""
    from .longform import encode_file

    sample_rate, chunks = tok.info.sample_rate, chunking or ChunkConfig()

    def batch(samples: list[np.ndarray]) -> list[Encoded]:
        return list(_checked_items(tok.encode_batch(samples, sample_rate), len(samples)))

    def long(path: str) -> Encoded:
        tokens = encode_file(tok, path, chunks, max_seconds=max_seconds)
        tokens.validate()
        return tokens

    return Encoder(sample_rate, tok.info.frame_rate, batch, long)


def _checked_items(batch: Tokens, expected: int) -> list[Tokens]:
    items = batch.items()
    if len(items) != expected:
        raise RuntimeError(f"tokenizer returned {len(items)} items for a batch of {expected}")
    for t in items:
        t.validate()
    return items


def encode_manifest(
    tok: Tokenizer,
    manifest_path: str | Path,
    out_dir: str | Path,
    *,
    batch_seconds: float = 60.0,
    device: str | None = None,
    shard_items: int = 1000,
    prefetch: int = 2,
    workers: int = 4,
    progress: bool = True,
    chunking: ChunkConfig | None = None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    engine: RayEngine | None = None,
) -> EncodeSummary:
    """Encode every item of a JSONL manifest with ``tok`` into the token store ``out_dir``.

    Batches hold up to ``batch_seconds`` of padded audio; a shard is committed every
    ``shard_items`` items; ``prefetch`` batches are loaded ahead by ``workers`` threads.
    Items whose manifest duration exceeds ``chunking.chunk_seconds`` (default
    :class:`~audiotokens.longform.ChunkConfig`) are streamed and encoded in chunks; files
    over ``max_seconds`` fail. Items already in the store are skipped; failures go to
    ``errors.jsonl`` and the summary. A store made by another tokenizer raises
    :class:`~audiotokens.store.StoreError`. ``engine`` runs the shards elsewhere
    (:class:`~audiotokens.encode_ray.RayEngine`: Ray workers, which pick their own devices;
    ``device`` must then be None or "cpu"); by default this process encodes them on
    ``device``. A job that stops early raises :class:`EncodeError` (re-run to resume).
    """
    from .data.manifest import read_manifest

    chunking = chunking or ChunkConfig()
    settings = EncodeSettings(batch_seconds, shard_items, prefetch, workers,
                              chunking.chunk_seconds, max_seconds)
    if engine is not None and device not in (None, "cpu"):
        raise ValueError(f"device {device!r}: with an engine, workers choose their devices "
                         "(Ray: gpus_per_worker)")
    start = time.perf_counter()
    items = read_manifest(manifest_path)
    store = TokenStore.create(out_dir, tok)
    store.clear_errors()
    if engine is None:
        if device is not None:
            tok.to(device)
        enc = tokenizer_encoder(tok, chunking, max_seconds)
        summary = _run_job(items, store, settings, progress, enc.encode_long is not None,
                           _in_process(enc, store, settings))
    else:
        summary = _run_job(items, store, settings, progress, True, lambda shards, advance:
                           engine.run(tok, shards, store, settings, chunking, advance))
    summary.wall_seconds = time.perf_counter() - start
    return summary


def encode_to_store(
    enc: Encoder,
    items: list[ManifestItem],
    store: TokenStore,
    *,
    batch_seconds: float = 60.0,
    shard_items: int = 1000,
    prefetch: int = 2,
    workers: int = 4,
    progress: bool = True,
    chunk_seconds: float = ChunkConfig().chunk_seconds,
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> EncodeSummary:
    """Encode the ``items`` not yet in ``store`` with ``enc`` in this process and commit
    them as shards.

    Items whose manifest duration exceeds ``chunk_seconds`` go to ``enc.encode_long`` when it
    has one; the others are loaded (resampled to ``enc.sample_rate``) and batched (see
    :func:`encode_manifest` for the other settings). Failures are appended to the store's
    ``errors.jsonl`` (never cleared here) and listed in the summary.
    """
    settings = EncodeSettings(batch_seconds, shard_items, prefetch, workers, chunk_seconds,
                              max_seconds)
    return _run_job(items, store, settings, progress, enc.encode_long is not None,
                    _in_process(enc, store, settings))


RunShards = Callable[[list[ShardPlan], Advance], Iterable[ShardResult]]


def _in_process(enc: Encoder, store: TokenStore, settings: EncodeSettings) -> RunShards:
    return lambda shards, advance: encode_shards(enc, shards, store, settings, advance)


def _run_job(items: list[ManifestItem], store: TokenStore, settings: EncodeSettings,
             progress: bool, streams: bool, run: RunShards) -> EncodeSummary:
    """The job every engine shares: plan the shards the store lacks (long items last when
    the encoder ``streams`` them), ``run`` them, count each committed shard in the summary
    and log its failures to ``errors.jsonl``."""
    start = time.perf_counter()
    store.remove_temp_files()
    shards = plan_shards(items, store, settings.shard_items,
                         settings.chunk_seconds if streams else None)
    planned = sum(len(s.items) for s in shards)
    summary = EncodeSummary(store=store.folder, total=len(items),
                            skipped_done=len(items) - planned)
    with _progress_bar(progress, sum(s.audio_seconds for s in shards)) as advance:
        for result in run(shards, advance):
            summary.add(result)
            for item_id, path, reason in result.failed:
                store.append_error(item_id, path, reason)
    summary.wall_seconds = time.perf_counter() - start
    return summary


@contextmanager
def _progress_bar(enabled: bool, total_seconds: float) -> Iterator[Advance]:
    """Yield an ``advance(audio_seconds)`` callable driving a rich bar (a no-op if disabled)."""
    if not enabled:
        yield lambda seconds: None
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("encoding"), BarColumn(),
               TextColumn("{task.completed:,.0f}/{task.total:,.0f} s audio"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns) as bar:
        task = bar.add_task("encode", total=max(total_seconds, 1e-9))
        yield lambda seconds: bar.update(task, advance=seconds)
