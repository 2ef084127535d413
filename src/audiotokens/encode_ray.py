"""Encode on a Ray cluster: Ray Data as a scheduler over the shards the project plans.

The driver plans shards exactly as a local run does (:func:`audiotokens.shards.plan_shards`)
and saves the tokenizer into the store (``_tokenizer/``). A Ray Data actor pool
(``ActorPoolStrategy``) of :class:`ShardWorker` s, each building the tokenizer once from
that folder (``torch.set_num_threads`` = its CPUs), encodes and commits one shard per call
with the same :func:`~audiotokens.shards.encode_shards` as a local run: Parquet file (temp +
rename), then the shard's success marker. Results come back to the driver, which counts them
and logs failures to ``errors.jsonl`` as a local run does.

Resume needs no Ray checkpointing: a rerun plans only the items no committed shard holds,
and a restarted worker skips a shard whose success marker is written. Ray Data restarts a
dead worker and retries its shards without end; the workers count the attempts at each
shard (``_attempts/``) and stop the job at a shard that killed ``max_restarts + 1`` of them.
Every node must see the store, the audio and the tokenizer's model files at the driver's
paths (a shared filesystem) and have audiotokens installed.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .encode import EncodeError
from .longform import ChunkConfig
from .shards import (
    Encoder,
    EncodeSettings,
    ShardPlan,
    ShardResult,
    encode_shards,
    read_marker,
)
from .store import StoreError, TokenStore

if TYPE_CHECKING:
    from .shards import Advance
    from .tokenizers.base import Tokenizer

__all__ = ["RayConfig", "RayEngine", "ShardWorker", "WorkerJob", "TOKENIZER_DIR"]

TOKENIZER_DIR = "_tokenizer"  # in the store: the tokenizer the workers build
ATTEMPTS_DIR = "_attempts"  # in the store: how often a worker started each shard this run


@dataclass(frozen=True)
class RayConfig:
    """Where and how wide to run. ``address``: None starts a local Ray (unless this process
    already joined one), ``"auto"`` joins the cluster this node belongs to (``ray start``),
    ``"HOST:PORT"`` a head node's GCS. ``max_workers``: the most actors in the pool, which
    starts with as many as fit now (None: as many as the cluster's CPUs / GPUs hold at
    ``cpus_per_worker`` / ``gpus_per_worker``; never more than there are shards). A shard
    whose worker died is retried on a restarted worker up to ``max_restarts`` times; then
    the job stops (re-run it to resume)."""

    address: str | None = None
    max_workers: int | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    max_restarts: int = 2

    def __post_init__(self) -> None:
        if not self.cpus_per_worker > 0 or self.gpus_per_worker < 0:
            raise ValueError(f"cpus_per_worker must be > 0 and gpus_per_worker >= 0, got "
                             f"{self.cpus_per_worker}, {self.gpus_per_worker}")
        if self.max_workers is not None and self.max_workers < 1:
            raise ValueError(f"max_workers must be >= 1 (or None), got {self.max_workers}")
        if self.max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0, got {self.max_restarts}")


@dataclass(frozen=True)
class WorkerJob:
    """What a worker needs (sent to each actor): the store folder, the tokenizer's class
    (``module:Class``) and name, the job's settings and chunking, its CPUs and GPUs, and
    how many workers a shard may kill."""

    store: str
    tokenizer_target: str
    tokenizer_name: str
    settings: EncodeSettings
    chunking: ChunkConfig
    cpus: float
    gpus: float
    max_restarts: int


class ShardWorker:
    """A Ray Data actor: builds the encoder once, then encodes and commits a shard a call.

    Its output row per shard is ``{"result": ShardResult JSON, "error": ""}``, or an empty
    result and the one-line ``error`` that stops the job (the worker could not be built,
    the shard raised, or the shard killed ``max_restarts + 1`` workers): Ray would only
    carry the worker's exception as text."""

    def __init__(self, job: WorkerJob) -> None:
        self.job = job
        self.store = TokenStore.open(job.store)
        try:
            self.encoder = self._build_encoder()
            self.broken = ""
        except Exception as err:  # reported with each shard, so the driver can name it
            self.broken = f"the worker on {socket.gethostname()} could not start: {_line(err)}"

    def _build_encoder(self) -> Encoder:
        from .encode import tokenizer_encoder
        from .tokenizers.registry import Registry, TokenizerEntry, load_tokenizer

        job = self.job
        _set_threads(max(1, int(job.cpus)))
        folder = Path(job.store) / TOKENIZER_DIR
        registry = Registry([TokenizerEntry(job.tokenizer_name, job.tokenizer_target)])
        tok = load_tokenizer(folder, registry=registry)
        if tok.checksum() != self.store.checksum:
            raise StoreError(f"{folder}: the tokenizer built here has checksum "
                             f"{tok.checksum()[:12]}, the store {self.store.checksum[:12]}")
        tok.to("cuda" if job.gpus > 0 else "cpu")
        return tokenizer_encoder(tok, job.chunking, job.settings.max_seconds)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[str]]:
        """Ray Data batch ``{"shard": [ShardPlan JSON]}`` -> ``{"result": [...], "error":
        [...]}``, one row per shard."""
        rows: dict[str, list[str]] = {"result": [], "error": []}
        for text in batch["shard"]:
            result, error = self._attempt(ShardPlan.from_json(str(text)))
            rows["result"].append(result)
            rows["error"].append(error)
        return rows

    def _attempt(self, shard: ShardPlan) -> tuple[str, str]:
        """``(result JSON, "")`` or ``("", why the job must stop)``. Each start at a shard is
        counted first, so a shard that kills its workers is not tried without end."""
        if self.broken:
            return "", self.broken
        attempt = _count_attempt(self.store, shard.name)
        if attempt > self.job.max_restarts + 1:
            ids = ", ".join(it.id for it in shard.items[:3])
            return "", (f"{shard.name}: a worker died at this shard {attempt - 1} times "
                        f"(max_restarts={self.job.max_restarts}); does one of its files crash "
                        f"the decoder? Its first items: {ids}")
        try:
            return self.encode(shard).to_json(), ""
        except Exception as err:  # a shard-level failure (per-item ones are in the result)
            return "", f"{shard.name}: {_line(err)}"

    def encode(self, shard: ShardPlan) -> ShardResult:
        """Encode and commit one shard (or return its recorded result if already done)."""
        (result,) = encode_shards(self.encoder, [shard], self.store, self.job.settings)
        return result


def _count_attempt(store: TokenStore, name: str) -> int:
    """Record one more start of shard ``name`` in this run; returns the count so far."""
    from .tokenizers.persist import atomic_write_bytes

    path = store.folder / ATTEMPTS_DIR / name
    try:
        count = int(path.read_text()) + 1
    except (OSError, ValueError):
        count = 1
    atomic_write_bytes(path, str(count).encode())
    return count


def _set_threads(n: int) -> None:
    """Compute threads of this worker: torch intra-op threads and faiss OpenMP threads."""
    import faiss
    import torch

    torch.set_num_threads(n)
    faiss.omp_set_num_threads(n)


class RayEngine:
    """Runs an encode job's shards on Ray (see the module docs); pass it as
    ``encode_manifest(..., engine=RayEngine(RayConfig(...)))``. ``worker``: the actor
    class (a subclass can add behaviour, e.g. tests make one die)."""

    def __init__(self, config: RayConfig | None = None,
                 worker: type[ShardWorker] = ShardWorker) -> None:
        self.config = config or RayConfig()
        self.worker = worker

    def run(self, tok: Tokenizer, shards: list[ShardPlan], store: TokenStore,
            settings: EncodeSettings, chunking: ChunkConfig, advance: Advance
            ) -> Iterator[ShardResult]:
        """Encode ``shards`` into ``store`` on Ray; yield each result as it arrives.

        A job that stops early (a worker died more than ``max_restarts`` times, a worker
        error) raises :class:`~audiotokens.encode.EncodeError`; committed shards are kept.
        """
        if not shards:
            return
        import ray

        cfg = self.config
        job = WorkerJob(str(store.folder.resolve()), _target(tok), tok.name, settings, chunking,
                        cfg.cpus_per_worker, cfg.gpus_per_worker, cfg.max_restarts)
        _save_tokenizer(tok, store)
        shutil.rmtree(store.folder / ATTEMPTS_DIR, ignore_errors=True)
        started = not ray.is_initialized()
        if started:
            _init_ray(self.config.address)
        seconds = {s.name: s.audio_seconds for s in shards}

        def stopped(why: str) -> EncodeError:
            done = sum(read_marker(store, s.name) is not None for s in shards)
            return EncodeError(f"{store.folder}: the Ray job stopped with {done} of "
                               f"{len(shards)} shards committed ({why}); re-run the same "
                               "command to resume")

        try:
            for row in self._dataset(job, shards).iter_rows():
                if row["error"]:
                    raise stopped(row["error"])
                result = ShardResult.from_json(row["result"])
                advance(seconds[result.name])
                yield result
        except EncodeError:
            raise
        except Exception as err:  # Ray's own failures (lost nodes, scheduling)
            raise stopped(_line(err)) from err
        finally:
            if started:
                ray.shutdown()

    def _dataset(self, job: WorkerJob, shards: list[ShardPlan]) -> Any:
        """One row (and block) per shard, mapped by an actor pool of ``self.worker``."""
        import ray.data

        cfg = self.config
        ds = ray.data.from_items([{"shard": s.to_json()} for s in shards],
                                 override_num_blocks=len(shards))
        room = _capacity(cfg)
        if cfg.max_workers is None and room < 1:
            raise EncodeError(f"the Ray cluster has no room for a worker of "
                              f"{cfg.cpus_per_worker:g} CPUs and {cfg.gpus_per_worker:g} GPUs "
                              f"now ({ray.cluster_resources()}); set max_workers "
                              "(--max-workers) to let an autoscaling cluster grow")
        size = min(cfg.max_workers or room, len(shards))
        # an autoscaling pool: it starts with the workers that fit now and may grow to size
        pool = ray.data.ActorPoolStrategy(min_size=1, max_size=size,
                                          initial_size=max(1, min(size, room)))
        out = ds.map_batches(self.worker, fn_constructor_kwargs={"job": job}, batch_size=1,
                             compute=pool, num_cpus=cfg.cpus_per_worker,
                             num_gpus=cfg.gpus_per_worker or None)
        out.context.enable_progress_bars = False  # the caller shows one bar for the job
        out.context.print_on_execution_start = False
        return out


def _init_ray(address: str | None) -> None:
    import logging

    import ray

    if address is None:  # a local Ray on this machine
        ray.init(include_dashboard=False, logging_level=logging.WARNING)
    else:
        ray.init(address=address, logging_level=logging.WARNING)


def _capacity(cfg: RayConfig) -> int:
    """How many workers of the configured CPUs (and GPUs) the cluster holds now."""
    import ray

    res = ray.cluster_resources()
    n = int(res.get("CPU", 0) // cfg.cpus_per_worker)
    if cfg.gpus_per_worker > 0:
        n = min(n, int(res.get("GPU", 0) // cfg.gpus_per_worker))
    return n


def _target(tok: Tokenizer) -> str:
    return f"{type(tok).__module__}:{type(tok).__qualname__}"


def _save_tokenizer(tok: Tokenizer, store: TokenStore) -> None:
    """Save ``tok`` to the store's ``_tokenizer/`` unless that copy is already this one."""
    import json

    from .tokenizers.base import CONFIG_FILE

    folder = store.folder / TOKENIZER_DIR
    try:
        saved = json.loads((folder / CONFIG_FILE).read_text()).get("checksum")
    except (OSError, ValueError):
        saved = None
    if saved != store.checksum:
        tok.save(folder)


def _line(err: BaseException) -> str:
    """``Type: first line of the message``."""
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0][:300]}" if text else type(err).__name__


