"""Corpus-scale encoding: manifest -> token store, batched, sharded, resumable.

Items are sorted by duration and grouped into batches up to a padded-seconds budget (so
little compute goes to padding); background threads load the next batches while the
current one is encoded; a shard is committed every ``shard_items`` items. A bad file is
recorded in ``errors.jsonl`` and skipped, never aborting the run; re-running the same job
skips the ids already committed. Items longer than the chunk length are streamed from disk
and encoded in overlapping chunks (:mod:`audiotokens.longform`), so memory stays bounded.

:func:`encode_to_store` is the loop itself over any :class:`Encoder` (a tokenizer's, from
:func:`tokenizer_encoder`, or a continuous feature source's) and an open store; the
benchmark encodes its items through it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .longform import ChunkConfig
from .store import TokenStore
from .tokenizers.base import Tokens

if TYPE_CHECKING:
    from .data.manifest import ManifestItem
    from .tokenizers.base import Tokenizer

__all__ = ["EncodeSummary", "Encoder", "encode_manifest", "encode_to_store", "tokenizer_encoder",
           "plan_batches", "DEFAULT_MAX_SECONDS"]

Encoded = Tokens | np.ndarray  # one item: Tokens [T, C] or a float feature array [T, F]

DEFAULT_MAX_SECONDS = 24 * 3600.0  # longest item encode accepts (long ones are chunked)


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


@dataclass(frozen=True)
class Encoder:
    """What :func:`encode_to_store` runs. ``encode_batch``: mono float32 signals [N_i] at
    ``sample_rate`` Hz -> one item each (Tokens [T, C] or float [T, F]), raising on a bad
    batch; ``encode_long``: one long file's path -> its item, streamed (None: every item is
    loaded whole and batched); ``frame_rate`` in frames per second."""

    sample_rate: int
    frame_rate: float
    encode_batch: Callable[[list[np.ndarray]], list[Encoded]]
    encode_long: Callable[[str], Encoded] | None = None


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


def _n_frames(value: Encoded) -> int:
    return value.n_frames if isinstance(value, Tokens) else int(np.shape(value)[0])


@dataclass
class _Loaded:
    """One manifest item after loading: samples, or its item already encoded from a stream
    (long items, ``seconds`` of audio), or the reason it could not be loaded."""

    item: ManifestItem
    samples: np.ndarray | None = None
    error: str = ""
    tokens: Encoded | None = None
    seconds: float = 0.0


def plan_batches(durations: list[float], batch_seconds: float) -> list[list[int]]:
    """Group item indices into batches whose padded length (max duration x count) stays
    within ``batch_seconds``; items are taken longest first, each batch holds >= 1 item."""
    if batch_seconds <= 0:
        raise ValueError(f"batch_seconds must be positive, got {batch_seconds}")
    order = sorted(range(len(durations)), key=lambda i: -durations[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        longest = durations[current[0]] if current else durations[i]
        if current and longest * (len(current) + 1) > batch_seconds:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _reason(err: BaseException) -> str:
    """One-line reason for errors.jsonl: the AudioError reason, else ``Type: message``."""
    from .audio import AudioError

    if isinstance(err, AudioError):
        return err.reason
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text[:200]}" if text else type(err).__name__


def _load_one(item: ManifestItem, sample_rate: int, max_seconds: float) -> _Loaded:
    from .audio import load_audio

    try:
        return _Loaded(item, load_audio(item.path, sample_rate, max_seconds=max_seconds).samples)
    except Exception as err:  # any per-item failure is reported, never fatal
        return _Loaded(item, error=_reason(err))


def _prefetched(batches: list[list[ManifestItem]], sample_rate: int, depth: int,
                workers: int, max_seconds: float) -> Iterator[list[_Loaded]]:
    """Yield loaded batches in order while ``workers`` threads load up to ``depth`` ahead."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="audiotokens-load") as pool:
        queue: deque[list[Future[_Loaded]]] = deque()
        try:
            for batch in batches:
                queue.append([pool.submit(_load_one, item, sample_rate, max_seconds)
                              for item in batch])
                if len(queue) > depth:
                    yield [f.result() for f in queue.popleft()]
            while queue:
                yield [f.result() for f in queue.popleft()]
        finally:
            for futures in queue:
                for future in futures:
                    future.cancel()


def _encode_loaded(enc: Encoder, loaded: list[_Loaded]
                   ) -> list[tuple[_Loaded, Encoded | None, str]]:
    """Encode a batch; if the batch call fails, retry item by item to isolate the bad one."""
    good = [x for x in loaded if x.samples is not None]
    results: list[tuple[_Loaded, Encoded | None, str]] = [
        (x, x.tokens, x.error) for x in loaded if x.samples is None]
    if not good:
        return results
    try:
        items = _checked_count(enc.encode_batch([x.samples for x in good]), len(good))
        return results + [_no_frames(x, t, enc) for x, t in zip(good, items, strict=True)]
    except Exception as err:
        if len(good) == 1:
            return results + [(good[0], None, _reason(err))]
    for x in good:  # the batch failed: isolate the bad item(s)
        try:
            (tokens,) = _checked_count(enc.encode_batch([x.samples]), 1)
            results.append(_no_frames(x, tokens, enc))
        except Exception as err:
            results.append((x, None, _reason(err)))
    return results


def _checked_count(items: list[Encoded], expected: int) -> list[Encoded]:
    if len(items) != expected:
        raise RuntimeError(f"encoder returned {len(items)} items for a batch of {expected}")
    return items


def _streamed(enc: Encoder, items: list[ManifestItem]) -> Iterator[list[_Loaded]]:
    """Long items, one at a time: streamed from disk and encoded in chunks."""
    assert enc.encode_long is not None or not items
    for item in items:
        try:
            tokens = enc.encode_long(item.path)  # type: ignore[misc]
            yield [_Loaded(item, tokens=tokens, seconds=_n_frames(tokens) / enc.frame_rate)]
        except Exception as err:  # any per-item failure is reported, never fatal
            yield [_Loaded(item, error=_reason(err))]


def _checked_items(batch: Tokens, expected: int) -> list[Tokens]:
    items = batch.items()
    if len(items) != expected:
        raise RuntimeError(f"tokenizer returned {len(items)} items for a batch of {expected}")
    for t in items:
        t.validate()
    return items


def _no_frames(x: _Loaded, tokens: Encoded, enc: Encoder
               ) -> tuple[_Loaded, Encoded | None, str]:
    """An item whose audio gave no frame (shorter than one) is a failure with its reason,
    not an empty or made-up entry in the store."""
    if _n_frames(tokens) > 0:
        return x, tokens, ""
    seconds = 0.0 if x.samples is None else len(x.samples) / enc.sample_rate
    return x, None, (f"{seconds:.3f} s is shorter than one frame "
                     f"({enc.frame_rate:g} frames/s): no tokens")


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
) -> EncodeSummary:
    """Encode every item of a JSONL manifest with ``tok`` into the token store ``out_dir``.

    Batches hold up to ``batch_seconds`` of padded audio; a shard is committed every
    ``shard_items`` items; ``prefetch`` batches are loaded ahead by ``workers`` threads.
    Items whose manifest duration exceeds ``chunking.chunk_seconds`` (default
    :class:`~audiotokens.longform.ChunkConfig`) are streamed and encoded in chunks; files
    over ``max_seconds`` fail. Items already in the store are skipped; failures go to
    ``errors.jsonl`` and the summary. A store made by another tokenizer raises
    :class:`~audiotokens.store.StoreError`.
    """
    from .data.manifest import read_manifest

    _check_settings(shard_items, prefetch, workers, max_seconds)
    chunking = chunking or ChunkConfig()
    start = time.perf_counter()
    items = read_manifest(manifest_path)
    store = TokenStore.create(out_dir, tok)
    store.clear_errors()
    if device is not None:
        tok.to(device)
    summary = encode_to_store(tokenizer_encoder(tok, chunking, max_seconds), items, store,
                              batch_seconds=batch_seconds, shard_items=shard_items,
                              prefetch=prefetch, workers=workers, progress=progress,
                              chunk_seconds=chunking.chunk_seconds, max_seconds=max_seconds)
    summary.wall_seconds = time.perf_counter() - start
    return summary


def _check_settings(shard_items: int, prefetch: int, workers: int, max_seconds: float) -> None:
    if min(shard_items, prefetch, workers) < 1:
        raise ValueError(f"shard_items, prefetch and workers must be >= 1, got "
                         f"{shard_items}, {prefetch}, {workers}")
    if not max_seconds > 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds}")


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
    """Encode the ``items`` not yet in ``store`` with ``enc`` and commit them as shards.

    Items whose manifest duration exceeds ``chunk_seconds`` go to ``enc.encode_long`` when it
    has one; the others are loaded (resampled to ``enc.sample_rate``) and batched (see
    :func:`encode_manifest` for the other settings). Failures are appended to the store's
    ``errors.jsonl`` (never cleared here) and listed in the summary.
    """
    _check_settings(shard_items, prefetch, workers, max_seconds)
    start = time.perf_counter()
    store.remove_temp_files()
    done = store.done_ids()
    todo = [it for it in items if it.id not in done]
    summary = EncodeSummary(store=store.folder, total=len(items),
                            skipped_done=len(items) - len(todo))
    sample_rate = enc.sample_rate
    streams = enc.encode_long is not None
    short = [it for it in todo if not streams or it.duration <= chunk_seconds]
    long = [it for it in todo if streams and it.duration > chunk_seconds]
    plan = plan_batches([it.duration for it in short], batch_seconds)
    batches = [[short[i] for i in idx] for idx in plan]
    pending: list[tuple[str, Encoded]] = []
    with _progress_bar(progress, sum(it.duration for it in todo)) as advance:
        try:
            loaded_batches = _prefetched(batches, sample_rate, prefetch, workers, max_seconds)
            for loaded in chain(loaded_batches, _streamed(enc, long)):
                summary.batches += 1
                for x, tokens, reason in _encode_loaded(enc, loaded):
                    if tokens is None:
                        summary.failed.append((x.item.id, reason))
                        store.append_error(x.item.id, x.item.path, reason)
                    else:
                        pending.append((x.item.id, tokens))
                        summary.encoded += 1
                        summary.audio_seconds += (x.seconds if x.samples is None
                                                  else len(x.samples) / sample_rate)
                advance(sum(x.item.duration for x in loaded))
                while len(pending) >= shard_items:
                    rows, pending = pending[:shard_items], pending[shard_items:]
                    store.write_shard(rows)
                    summary.shards_written += 1
        finally:  # finished results are committed even when the run is interrupted
            if pending:
                rows, pending = pending, []
                store.write_shard(rows)
                summary.shards_written += 1
    summary.wall_seconds = time.perf_counter() - start
    return summary


@contextmanager
def _progress_bar(enabled: bool, total_seconds: float) -> Iterator[Callable[[float], None]]:
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
