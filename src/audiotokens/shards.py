"""Shards: the unit of work of an encode job, planned, encoded and committed the same way
by every engine.

:func:`plan_shards` decides what a run does. Resume is by id: an item is done when a
committed shard of the store holds it, so a run plans only the other items: those loaded
whole longest first (so batches pad little), then those streamed in chunks, cut into shards
of ``shard_items`` and named from the store's next free number
(:func:`~audiotokens.store.shard_name`). :func:`encode_shards` encodes shards with an
:class:`Encoder` (batches loaded ahead by threads, a failing batch retried item by item to
isolate the bad file) and commits each one: its Parquet file (temp + rename), then its
success marker ``_done/<name>.json``, a :class:`ShardResult` with counts, failures and
timings. A shard whose marker says complete is finished: a retried worker does not encode it
again but reports the recorded result. This process runs it over a whole job
(:func:`audiotokens.encode.encode_manifest`), a Ray worker over one shard a call
(:mod:`audiotokens.encode_ray`).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from .longform import ChunkConfig
from .store import DONE_DIR, TokenStore, shard_name
from .tokenizers.base import Tokens

if TYPE_CHECKING:
    from .data.manifest import ManifestItem

__all__ = ["Encoder", "EncodeSettings", "ShardPlan", "ShardResult", "plan_shards",
           "plan_batches", "encode_shards", "read_marker", "write_marker",
           "DEFAULT_MAX_SECONDS"]

Encoded = Tokens | np.ndarray  # one item: Tokens [T, C] or a float feature array [T, F]

DEFAULT_MAX_SECONDS = 24 * 3600.0  # longest item encode accepts (long ones are chunked)
Advance = Callable[[float], None]  # called with the manifest seconds of each finished unit


@dataclass(frozen=True)
class EncodeSettings:
    """How a job batches, shards and loads: ``batch_seconds`` of padded audio per batch,
    ``shard_items`` items per shard, ``prefetch`` batches loaded ahead by ``workers``
    threads, items over ``chunk_seconds`` streamed in chunks, files over ``max_seconds``
    refused."""

    batch_seconds: float = 60.0
    shard_items: int = 1000
    prefetch: int = 2
    workers: int = 4
    chunk_seconds: float = ChunkConfig().chunk_seconds
    max_seconds: float = DEFAULT_MAX_SECONDS

    def __post_init__(self) -> None:
        if min(self.shard_items, self.prefetch, self.workers) < 1:
            raise ValueError(f"shard_items, prefetch and workers must be >= 1, got "
                             f"{self.shard_items}, {self.prefetch}, {self.workers}")
        if not min(self.batch_seconds, self.chunk_seconds, self.max_seconds) > 0:
            raise ValueError(f"batch_seconds, chunk_seconds and max_seconds must be positive, "
                             f"got {self.batch_seconds}, {self.chunk_seconds}, "
                             f"{self.max_seconds}")


@dataclass(frozen=True)
class Encoder:
    """What :func:`encode_shards` runs. ``encode_batch``: mono float32 signals [N_i] at
    ``sample_rate`` Hz -> one item each (Tokens [T, C] or float [T, F]), raising on a bad
    batch; ``encode_long``: one long file's path -> its item, streamed (None: every item is
    loaded whole and batched); ``frame_rate`` in frames per second."""

    sample_rate: int
    frame_rate: float
    encode_batch: Callable[[list[np.ndarray]], list[Encoded]]
    encode_long: Callable[[str], Encoded] | None = None


@dataclass(frozen=True)
class ShardPlan:
    """One shard to encode: its ``name`` (file stem) and its manifest ``items``."""

    name: str
    items: tuple[ManifestItem, ...]

    @property
    def audio_seconds(self) -> float:
        """Manifest duration of the shard's items, seconds."""
        return sum(it.duration for it in self.items)

    def to_json(self) -> str:
        """The name and each item's id, path and duration as one JSON string."""
        rows = [[it.id, it.path, it.duration] for it in self.items]
        return json.dumps({"name": self.name, "items": rows}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ShardPlan:
        """Inverse of :meth:`to_json`."""
        from .data.manifest import ManifestItem

        data = json.loads(text)
        items = tuple(ManifestItem(i, p, d) for i, p, d in data["items"])
        return cls(data["name"], items)


@dataclass(frozen=True)
class ShardResult:
    """What encoding one shard did; saved as its success marker.

    ``planned`` items, ``encoded`` of them stored; ``failed`` holds ``(id, path, reason)``;
    ``audio_seconds`` of audio encoded in ``batches`` batches; ``wall_seconds`` and
    ``cpu_seconds`` (the worker process's, loader threads included) spent; ``worker`` is
    ``host:pid``. ``complete`` is False for a shard committed early because the run stopped
    (its other items are planned again by the next run).
    """

    name: str
    planned: int
    encoded: int
    failed: tuple[tuple[str, str, str], ...]
    audio_seconds: float
    batches: int
    wall_seconds: float
    cpu_seconds: float
    worker: str
    complete: bool = True

    def to_json(self) -> str:
        """One JSON object (the marker's content)."""
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ShardResult:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        data["failed"] = tuple(tuple(f) for f in data["failed"])
        return cls(**data)


def plan_shards(items: Sequence[ManifestItem], store: TokenStore, shard_items: int,
                stream_over: float | None = None) -> list[ShardPlan]:
    """The shards that encode the ``items`` not yet in ``store``, in encode order.

    Items longer than ``stream_over`` seconds (None: none) come last, in shards of their
    own; the others come longest first (ties in manifest order). Each shard holds up to
    ``shard_items`` items and is named from :meth:`TokenStore.next_shard_number` on.
    Duplicate ids among ``items`` are refused.
    """
    if shard_items < 1:
        raise ValueError(f"shard_items must be >= 1, got {shard_items}")
    seen: set[str] = set()
    for it in items:
        if it.id in seen:
            raise ValueError(f"duplicate id {it.id!r} among the items to encode")
        seen.add(it.id)
    done = store.done_ids()
    todo = [it for it in items if it.id not in done]
    streamed = [it for it in todo if stream_over is not None and it.duration > stream_over]
    loaded = [it for it in todo if stream_over is None or it.duration <= stream_over]
    loaded.sort(key=lambda it: -it.duration)  # stable: ties keep manifest order
    plans: list[ShardPlan] = []
    number = store.next_shard_number()
    for group in (loaded, streamed):
        for start in range(0, len(group), shard_items):
            chunk = tuple(group[start: start + shard_items])
            plans.append(ShardPlan(shard_name(number, [it.id for it in chunk]), chunk))
            number += 1
    return plans


def read_marker(store: TokenStore, name: str) -> ShardResult | None:
    """The success marker of shard ``name``, or None when it has none (or an unreadable
    one, which counts as none: the shard is encoded again)."""
    path = store.folder / DONE_DIR / f"{name}.json"
    try:
        return ShardResult.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write_marker(store: TokenStore, result: ShardResult) -> None:
    """Write ``result`` as its shard's success marker (temp + rename)."""
    from .tokenizers.persist import atomic_write_bytes

    path = store.folder / DONE_DIR / f"{result.name}.json"
    atomic_write_bytes(path, (result.to_json() + "\n").encode())


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


def _units(enc: Encoder, shard: ShardPlan, settings: EncodeSettings
           ) -> list[tuple[list[ManifestItem], bool]]:
    """A shard's work in order: ``(items, streamed)``: batches of items loaded whole, then
    each item over ``chunk_seconds`` alone, to stream (when ``enc`` can)."""
    def streams(it: ManifestItem) -> bool:
        return enc.encode_long is not None and it.duration > settings.chunk_seconds

    whole = [it for it in shard.items if not streams(it)]
    plan = plan_batches([it.duration for it in whole], settings.batch_seconds)
    return ([([whole[i] for i in idx], False) for idx in plan]
            + [([it], True) for it in shard.items if streams(it)])


def _loaded_units(enc: Encoder, units: list[tuple[list[ManifestItem], bool]],
                  settings: EncodeSettings) -> Iterator[list[_Loaded]]:
    """Yield each unit loaded, in order, while ``settings.workers`` threads load up to
    ``settings.prefetch`` units ahead; a streamed unit is encoded from disk when reached."""
    rate, depth = enc.sample_rate, settings.prefetch
    with ThreadPoolExecutor(max_workers=settings.workers,
                            thread_name_prefix="audiotokens-load") as pool:
        queue: deque[tuple[list[ManifestItem], list[Future[_Loaded]] | None]] = deque()

        def resolve() -> list[_Loaded]:
            items, futures = queue.popleft()
            return [f.result() for f in futures] if futures is not None else _streamed(enc, items)

        try:
            for items, streamed in units:
                queue.append((items, None if streamed else [
                    pool.submit(_load_one, it, rate, settings.max_seconds) for it in items]))
                if len(queue) > depth:
                    yield resolve()
            while queue:
                yield resolve()
        finally:
            for _, futures in queue:
                for future in futures or []:
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


def _streamed(enc: Encoder, items: list[ManifestItem]) -> list[_Loaded]:
    """Long items: streamed from disk and encoded in chunks."""
    assert enc.encode_long is not None
    out = []
    for item in items:
        try:
            tokens = enc.encode_long(item.path)
            out.append(_Loaded(item, tokens=tokens, seconds=_n_frames(tokens) / enc.frame_rate))
        except Exception as err:  # any per-item failure is reported, never fatal
            out.append(_Loaded(item, error=_reason(err)))
    return out


def _no_frames(x: _Loaded, tokens: Encoded, enc: Encoder
               ) -> tuple[_Loaded, Encoded | None, str]:
    """An item whose audio gave no frame (shorter than one) is a failure with its reason,
    not an empty or made-up entry in the store."""
    if _n_frames(tokens) > 0:
        return x, tokens, ""
    seconds = 0.0 if x.samples is None else len(x.samples) / enc.sample_rate
    return x, None, (f"{seconds:.3f} s is shorter than one frame "
                     f"({enc.frame_rate:g} frames/s): no tokens")


class _OpenShard:
    """Results of the shard being encoded, until it is committed."""

    def __init__(self, shard: ShardPlan, units: int, started: tuple[float, float]) -> None:
        self.shard, self.units_left = shard, units
        self.rows: list[tuple[str, Encoded]] = []
        self.failed: list[tuple[str, str, str]] = []
        self.audio_seconds, self.batches = 0.0, 0
        self.wall, self.cpu = started  # perf_counter, process_time when its work began

    def add(self, enc: Encoder, loaded: list[_Loaded]) -> None:
        self.batches += 1
        self.units_left -= 1
        for x, tokens, reason in _encode_loaded(enc, loaded):
            if tokens is None:
                self.failed.append((x.item.id, x.item.path, reason))
            else:
                self.rows.append((x.item.id, tokens))
                self.audio_seconds += (x.seconds if x.samples is None
                                       else len(x.samples) / enc.sample_rate)

    def commit(self, store: TokenStore, complete: bool = True) -> ShardResult:
        """Write the shard (if any item was encoded), then its success marker."""
        if self.rows:
            store.write_shard(self.rows, name=self.shard.name)
        result = ShardResult(
            self.shard.name, len(self.shard.items), len(self.rows), tuple(self.failed),
            self.audio_seconds, self.batches, time.perf_counter() - self.wall,
            time.process_time() - self.cpu, f"{socket.gethostname()}:{os.getpid()}", complete)
        write_marker(store, result)
        return result


def encode_shards(enc: Encoder, shards: list[ShardPlan], store: TokenStore,
                  settings: EncodeSettings, advance: Advance | None = None
                  ) -> Iterator[ShardResult]:
    """Encode and commit ``shards`` (from :func:`~audiotokens.shards.plan_shards`) in order,
    loading ahead across shard boundaries; yield each one's result once it is committed.

    A shard whose success marker says complete is not encoded again: its recorded result
    is yielded (a retried worker). ``advance`` gets the manifest seconds of each finished
    batch. If the run stops inside a shard, what it encoded so far is committed (marker
    ``complete=False``) before the error propagates.
    """
    todo: list[ShardPlan] = []
    for shard in shards:
        recorded = read_marker(store, shard.name)
        if recorded is not None and recorded.complete:
            yield recorded
        else:
            todo.append(shard)
    work = [(shard, _units(enc, shard, settings)) for shard in todo]
    units = [(shard, unit) for shard, shard_units in work for unit in shard_units]
    counts = {shard.name: len(shard_units) for shard, shard_units in work}
    current: _OpenShard | None = None
    started = time.perf_counter(), time.process_time()
    try:
        for (shard, (items, _)), loaded in zip(units, _loaded_units(enc, [u for _, u in units],
                                                                    settings), strict=True):
            if current is None:
                current = _OpenShard(shard, counts[shard.name], started)
            current.add(enc, loaded)
            if advance is not None:
                advance(sum(it.duration for it in items))
            if current.units_left == 0:
                done, current = current, None
                result = done.commit(store)
                started = time.perf_counter(), time.process_time()
                yield result
    finally:  # finished results are committed even when the run is interrupted
        if current is not None and current.rows:
            current.commit(store, complete=False)


