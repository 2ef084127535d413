"""The LM probe: how well a tiny causal LM models a token store's stream, into the results DB.

Per seed, :class:`~.tasks.lm.LMTask` trains on the store's train items (the manifest's
``split``), early-stops on the valid items' NLL and is tested on the test items; the cell
``lm-bits`` holds the test split's bits per second (primary, lower is better), bits and
NLL per token and tokens per second. With minimal pairs (:mod:`audiotokens.data.minimal_pairs`,
encoded by the same tokenizer) the cell ``lm-swuggy`` holds the share of pairs whose real
word gets the higher total log-probability (``accuracy``, sWUGGY's rule: summed over the
item's tokens, not normalised; ties count half) and the same with the mean log-probability
per token (``accuracy_per_token``); chance is 0.5. Both tasks are on the ``language`` board,
so the report ranks entries (a tokenizer, or one of its streams) against each other.

What the numbers mean: bits per second is the stream's cost under the probe, comparable
across frame rates, layouts, dedup and BPE because it is divided by audio seconds, not
tokens. It is not a quality score on its own (a stream that carries nothing costs 0 bits):
read it with the pair accuracy and the other boards. With dedup the run lengths are not
coded, so its bits per second leave out the durations.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data.manifest import ManifestItem
from ..data.minimal_pairs import PairSet
from ..llm.stream import StreamConfig, TokenStreamer
from ..store import StoreError, TokenStore
from ..tiers import bitrate_tier
from .arrays import MappedArrays, StoreArrays
from .cells import CellContext, training_artifact
from .db import Artifact, Result, ResultsDB
from .features import InputSpec
from .keys import digest, items_digest
from .ranking import CHANCE_SUFFIX
from .tasks.base import TaskData, collate
from .tasks.lm import LMTask
from .tasks.loop import TrainConfig, TrainResult, train_and_evaluate
from .tasks.splits import split_items

__all__ = ["LANGUAGE_BOARD", "LM_TASK", "SWUGGY_TASK", "PROBE_TRAIN", "ProbeConfig",
           "ProbeOutcome", "ProbeSummary", "PairScores", "probe_store", "score_pairs",
           "entry_label", "pair_frames"]

LANGUAGE_BOARD = "language"
LM_TASK = "lm-bits"
SWUGGY_TASK = "lm-swuggy"
# The quick probe: an LSTM of 1 x 128 units over 64-d embeddings (ProbeConfig.layers),
# validated every 50 steps of 16 crops, stopped after 3 validations without improvement.
# Measured on the 4-minute embedded corpus's mel-kmeans store (k=500, one seed each, CPU
# seconds on a loaded 2-core machine): 1 x 128 units 327 test bits/s in 48 s, 2 x 128 378 in
# 75 s (overfits its ~8000 training tokens sooner), 1 x 64 (32-d) 342 in 40 s, 1 x 256 337
# in 86 s.
PROBE_TRAIN = TrainConfig(max_steps=1500, eval_every=50, patience=3, batch_size=16, lr=3e-3,
                          dim=64, hidden=128)


@dataclass(frozen=True)
class ProbeConfig:
    """One probe: the ``stream``, the LM's ``train`` settings (device and seed are set per
    cell), ``seeds`` runs (mean ± CI in the report), the results ``run`` and entry
    ``label`` (default: see :func:`entry_label`), ``max_items`` per split (an evenly
    spread slice; None: all), ``crop_steps`` per training crop and LSTM ``layers``."""

    stream: StreamConfig = field(default_factory=StreamConfig)
    train: TrainConfig = PROBE_TRAIN
    seeds: int = 3
    run: str = "lm-probe"
    label: str = ""
    max_items: int | None = None
    crop_steps: int = 256
    layers: int = 1
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.seeds < 1 or self.layers < 1 or self.crop_steps < 2:
            raise ValueError(f"seeds and layers must be >= 1 and crop_steps >= 2, got "
                             f"{self.seeds}, {self.layers}, {self.crop_steps}")
        if self.max_items is not None and self.max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {self.max_items}")
        if not self.run:
            raise ValueError("the results need a run name")


@dataclass(frozen=True)
class PairScores:
    """Minimal-pair accuracies over ``n_pairs`` (ties count half)."""

    accuracy: float
    accuracy_per_token: float
    n_pairs: int


@dataclass
class ProbeOutcome:
    """One seed: ``status`` "done" or "skipped" (in the DB with the same settings)."""

    seed: int
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    stopped: str = ""


@dataclass
class ProbeSummary:
    """What :func:`probe_store` did: the entry, its stream, items per split, the seeds."""

    run: str
    label: str
    tier: str
    stream: str
    columns: tuple[int, ...]
    splits: dict[str, int]
    outcomes: list[ProbeOutcome]
    missing: int = 0  # manifest items of the three splits that the store lacks


def entry_label(store: TokenStore, stream: StreamConfig) -> str:
    """The store's tokenizer name for the plain stream (flatten, every codebook, no dedup),
    so its results join the tokenizer's bench entry; else ``"name (stream)"``."""
    return store.name if stream == StreamConfig() else f"{store.name} ({stream.label})"


def _cap(items: list[ManifestItem], n: int | None) -> list[ManifestItem]:
    if n is None or len(items) <= n:
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def _split(store: TokenStore, items: list[ManifestItem], cap: int | None
           ) -> tuple[TaskData, int]:
    """The stored items by their manifest split (each capped), and how many were not stored."""
    ids = store.done_ids()
    wanted = [it for it in items if it.split in ("train", "valid", "test")]
    kept = [it for it in wanted if it.id in ids]
    try:
        splits = split_items(kept, "corpus")
    except ValueError as err:
        raise StoreError(f"{store.folder}: {err}; the probe needs train, valid and test "
                         "items in the manifest (its 'split' field) and in the store") from None
    return TaskData(_cap(splits.train, cap), _cap(splits.valid, cap), _cap(splits.test, cap),
                    ()), len(wanted) - len(kept)


def _stream_steps(streamer: TokenStreamer, frames: Mapping[str, np.ndarray]) -> MappedArrays:
    return MappedArrays(frames, lambda i: streamer(frames[i]))


def score_pairs(task: LMTask, model: Any, pairs: PairSet, steps: Mapping[str, np.ndarray],
                batch_size: int = 32, device: str = "cpu") -> PairScores:
    """Minimal-pair accuracy of a trained LM (``steps``: pair item id -> stream steps)."""
    items = [it for it in pairs.items if it.id in steps]
    data = TaskData([], [], items, ())
    bound, inputs = task.bind(data, steps)
    model.eval()
    order = sorted(items, key=lambda it: inputs[it.id].shape[0])
    scores = {}
    for a in range(0, len(order), batch_size):
        batch = collate(order[a:a + batch_size], inputs, bound).to(device)
        scores.update(task.score(model, [batch]))
    hits = per_token = 0.0
    usable = [p for p in pairs.pairs if p.word in scores and p.nonword in scores]
    if not usable:
        raise ValueError(f"{pairs.folder}: no pair has both items encoded")
    for p in usable:
        word, other = scores[p.word], scores[p.nonword]
        hits += _win(-word.nll, -other.nll)
        per_token += _win(-word.nll / max(1, word.tokens), -other.nll / max(1, other.tokens))
    return PairScores(hits / len(usable), per_token / len(usable), len(usable))


def pair_frames(pairs: PairSet, store: TokenStore, tokens: Path | None = None,
                tokenizer: Any = None) -> StoreArrays:
    """The frames of ``pairs``' items by ``store``'s tokenizer: from the token store
    ``tokens`` (made by `audiotokens encode` from the pairs manifest), or encoded with
    ``tokenizer`` into ``pairs.folder/tokens/<name>-<checksum>`` (kept, so a re-run reads
    them). Either must have ``store``'s checksum: another tokenizer's ids would be
    meaningless to the LM."""
    from ..encode import encode_to_store, tokenizer_encoder

    if (tokens is None) == (tokenizer is None):
        raise ValueError("give the pairs' token store or the tokenizer to encode them (one)")
    if tokenizer is not None:
        if tokenizer.checksum() != store.checksum:
            raise StoreError(f"{store.folder}: made by another tokenizer (checksum "
                             f"{store.checksum[:12]}) than the one given to encode the minimal "
                             f"pairs ({tokenizer.checksum()[:12]})")
        tokens = pairs.folder / "tokens" / f"{tokenizer.name}-{store.checksum[:12]}"
        encode_to_store(tokenizer_encoder(tokenizer), pairs.items,
                        TokenStore.create(tokens, tokenizer), progress=False)
    assert tokens is not None
    paired = TokenStore.open(tokens)
    if paired.checksum != store.checksum:
        raise StoreError(f"{tokens}: tokens of '{paired.name}' (checksum "
                         f"{paired.checksum[:12]}), not of the probed store's tokenizer "
                         f"('{store.name}', {store.checksum[:12]})")
    return StoreArrays(paired, [it.id for it in pairs.items])


def _win(word: float, nonword: float) -> float:
    return 1.0 if word > nonword else 0.5 if word == nonword else 0.0


def _stream_artifact(ctx: CellContext, seed: int, streamer: TokenStreamer,
                     metrics: dict[str, float]) -> Artifact:
    """How the stream was made, as an ``lm_stream`` artifact (JSON)."""
    cfg = streamer.config
    payload = json.dumps({"stream": streamer.name, "layout": cfg.layout, "dedup": cfg.dedup,
                          "bpe_vocab": cfg.bpe_vocab, "codebooks": streamer.kept.n_codebooks,
                          "columns": list(streamer.columns),
                          "tokens_per_second": metrics.get("tokens_per_second")})
    return Artifact(ctx.run, ctx.label, LM_TASK, seed, "lm_stream", "stream", payload)


def _results(ctx: CellContext, task: str, seed: int, metrics: dict[str, float],
             directions: dict[str, bool], seconds: float, peak_mb: float) -> list[Result]:
    return [Result(ctx.run, ctx.label, ctx.tier, task, name, float(value), seed,
                   directions.get(name.split("@")[0], True), seconds, peak_mb)
            for name, value in metrics.items()]


def probe_store(store: TokenStore, items: list[ManifestItem], db: ResultsDB, cfg: ProbeConfig,
                pairs: PairSet | None = None, pair_frames: Mapping[str, np.ndarray] | None = None,
                console: Any = None) -> ProbeSummary:
    """Train and score the probe for every seed of ``cfg`` not yet in ``db`` (same
    settings); ``items`` is the manifest the store was encoded from, ``pairs`` with
    ``pair_frames`` (item id -> frames [T, C] by the same tokenizer) adds ``lm-swuggy``."""
    from .. import __version__
    from .cost import measure_call

    if store.info is None:
        raise StoreError(f"{store.folder}: a {store.kind} store holds no tokens to model")
    if (pairs is None) != (pair_frames is None):
        raise ValueError("minimal pairs need their frames (pair_frames), and only with pairs")
    data, missing = _split(store, items, cfg.max_items)
    frames = StoreArrays(store, [it.id for it in data.items])
    streamer = TokenStreamer.build(store.info, cfg.stream, (frames[it.id] for it in data.train))
    task = LMTask(streamer.columns, crop_steps=cfg.crop_steps, layers=cfg.layers)
    bound, inputs = task.bind(data, _stream_steps(streamer, frames))
    label = cfg.label or entry_label(store, cfg.stream)
    tier = bitrate_tier(streamer.kept.bitrate_bps)
    ctx = CellContext(cfg.run, label, tier, db, db.path.parent, cfg.device, False, console)
    for name in (LM_TASK, SWUGGY_TASK):
        db.set_board(cfg.run, name, LANGUAGE_BOARD)
    db.set_family(cfg.run, label, store.info.kind)
    spec = InputSpec("tokens", store.info.frame_rate, task.input_vocab())
    pair_steps = None if pair_frames is None else _stream_steps(streamer, pair_frames)
    summary = ProbeSummary(cfg.run, label, tier, streamer.name, streamer.columns,
                           {"train": len(data.train), "valid": len(data.valid),
                            "test": len(data.test)}, [], missing)
    for seed in range(cfg.seeds):
        train = replace(cfg.train, seed=seed, device=cfg.device)
        key = digest(__version__, store.checksum, cfg.stream, train, cfg.crop_steps,
                     cfg.layers, items_digest(data.items))
        pair_key = None if pairs is None else digest(key, items_digest(pairs.items))
        if db.has_cell(cfg.run, label, LM_TASK, seed, key) and (
                pair_key is None or db.has_cell(cfg.run, label, SWUGGY_TASK, seed, pair_key)):
            summary.outcomes.append(ProbeOutcome(seed, "skipped"))
            continue

        def work(train: TrainConfig = train) -> tuple[TrainResult, PairScores | None]:
            trained = train_and_evaluate(task, bound, inputs, spec, train)
            scored = None if pairs is None or pair_steps is None else score_pairs(
                task, trained.model, pairs, pair_steps, 2 * train.batch_size, cfg.device)
            return trained, scored

        measured = measure_call(work, cfg.device)
        trained, scored = measured.output
        directions = {m.name: m.higher_is_better for m in task.metrics}
        metrics = {k: v for k, v in trained.metrics.items()
                   if k in directions or k == f"bits_per_second{CHANCE_SUFFIX}"}
        db.add_cell(_results(ctx, LM_TASK, seed, metrics, directions, measured.seconds,
                             measured.peak_mb),
                    [training_artifact(ctx, task, seed, trained, train, "random"),
                     _stream_artifact(ctx, seed, streamer, metrics)], key)
        outcome = ProbeOutcome(seed, "done", dict(metrics), measured.seconds, trained.stopped)
        if scored is not None:
            pair_metrics = {"accuracy": scored.accuracy,
                            "accuracy_per_token": scored.accuracy_per_token,
                            f"accuracy{CHANCE_SUFFIX}": 0.5}
            db.add_cell(_results(ctx, SWUGGY_TASK, seed, pair_metrics, {}, measured.seconds,
                                 measured.peak_mb), (), pair_key)
            outcome.metrics.update({f"swuggy_{k}": v for k, v in pair_metrics.items()
                                    if "@" not in k})
        summary.outcomes.append(outcome)
        if console is not None:
            text = " ".join(f"{k}={v:.3f}" for k, v in outcome.metrics.items() if "@" not in k)
            ctx.say(LM_TASK, f"seed {seed}: {text} ({trained.stopped}, step "
                    f"{trained.best_step}, {measured.seconds:.1f} s)")
    return summary
