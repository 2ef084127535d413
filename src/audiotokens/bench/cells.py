"""One benchmark cell: (tokenizer, task, seed) -> results and artifacts in the DB.

Three kinds: a head trained on tokens or features and tested (:func:`run_head_cell`),
resynthesis with no head (:func:`run_resynth_cell`), and a generative head that predicts the
tokenizer's own tokens, decoded and scored (:func:`run_token_head_cell`: enhancement, TTS).
Each stores its results as one all-or-nothing DB cell and returns a :class:`CellOutcome`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..metrics import MetricSummary
from .db import Artifact, Result, ResultsDB
from .features import FeatureSource, TokenizerSource
from .ranking import CHANCE_SUFFIX
from .scorecache import ScoreCache
from .tasks import ResynthTask, Task, TaskData
from .tasks.frames import TokenTargetTask
from .tasks.loop import TrainConfig, TrainResult, input_stride, train_and_evaluate

__all__ = ["CellContext", "CellOutcome", "encoded_only", "run_head_cell", "run_resynth_cell",
           "run_token_head_cell", "cannot_predict", "first_line", "safe_name",
           "training_artifact"]


@dataclass
class CellOutcome:
    """One cell: ``status`` "done", "skipped" (already in the DB), "failed", "no-decoder"
    (a generative task on a tokenizer without a decoder) or "unsupported" (the task's head
    cannot take this input); ``error`` says why for the last three.

    ``summaries``: per metric of a done cell, the test items it was scored on out of those
    tried and why the others failed ("item: reason", e.g. an item shorter than one frame, a
    PESQ error); ``unavailable``: metric -> why it was not measured (the extra to install).
    """

    tokenizer: str
    task: str
    seed: int
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""
    stopped: str = ""  # trained heads: "converged" or "budget"
    summaries: dict[str, MetricSummary] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


@dataclass
class CellContext:
    """What a cell needs from its run: names, the DB, where audio goes, device, mode;
    ``scores``: what scoring shares between cells (the run's disk cache, see
    :class:`~.scorecache.ScoreCache`; None: each task's own in-memory one) and
    ``source_key``: the source's checksum, which keys the tokenizer's shared scores."""

    run: str
    label: str
    tier: str
    db: ResultsDB
    out: Path
    device: str
    full: bool
    console: Any
    scores: ScoreCache | None = None
    source_key: str = ""

    def audio_dir(self, task: str) -> Path:
        """``out/audio/<run>/<task>`` (absolute)."""
        return (self.out / "audio" / safe_name(self.run) / task).resolve()

    def needs_reference(self, task: str) -> bool:
        """True until this run has stored reference clips for ``task``."""
        return not any(a.task == task and a.name.startswith("reference ")
                       for a in self.db.artifacts(self.run, "audio"))

    def say(self, task: str, text: str) -> None:
        """One progress line for this tokenizer and ``task``."""
        self.console.print(f"  {self.label:>16} | {task:<18} {text}")


def first_line(err: BaseException) -> str:
    """The first line of an error message (or the error's type name)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def safe_name(text: str) -> str:
    """``text`` as a file or folder name: runs of other characters become "_", 80 at most."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text)[:80]


def encoded_only(data: TaskData, arrays: dict[str, Any],
                 skipped: dict[str, str] | None = None) -> tuple[TaskData, dict[str, str]]:
    """``data`` without the items that have no array (e.g. audio shorter than one frame),
    and item id -> why, for the dropped items of every split (``skipped`` gives the reasons
    :func:`~audiotokens.bench.features.encode_items` recorded)."""
    reasons = skipped or {}
    dropped = {it.id: reasons.get(it.id, "not encoded") for it in data.items
               if it.id not in arrays}
    if not dropped:
        return data, {}

    def keep(items: list[Any]) -> list[Any]:
        return [it for it in items if it.id not in dropped]

    targets = {k: v for k, v in data.targets.items() if k not in dropped}
    return TaskData(keep(data.train), keep(data.valid), keep(data.test), data.classes,
                    targets), dropped


def _head_summaries(metrics: dict[str, float], tested: int, dropped_test: dict[str, str]
                    ) -> dict[str, MetricSummary]:
    """Split-level metrics: scored on the ``tested`` items, tried on those plus the dropped
    test items."""
    failures = tuple(f"{k}: {v}" for k, v in dropped_test.items())
    return {name: MetricSummary(name, float(value), tested, tested + len(failures), failures)
            for name, value in metrics.items()}


def _scoring_artifact(ctx: CellContext, task: str, seed: int,
                      summaries: dict[str, MetricSummary], unavailable: dict[str, str]
                      ) -> Artifact:
    """How many items each metric scored, why the others failed, and the metrics an
    uninstalled extra would add, as a ``scoring`` artifact (JSON ``{"metrics": {name:
    {"n_scored", "n_items", "failures"}}, "unavailable": {name: message}}``)."""
    payload = json.dumps({"metrics": {k: {"n_scored": v.n_scored, "n_items": v.n_items,
                                          "failures": list(v.failures)}
                                      for k, v in summaries.items()},
                          "unavailable": unavailable})
    return Artifact(ctx.run, ctx.label, task, seed, "scoring", "scoring", payload)


def _say_summaries(ctx: CellContext, task: str, summaries: dict[str, MetricSummary],
                   unavailable: dict[str, str]) -> None:
    """One line per metric that some items failed, and per metric an extra would add."""
    for summary in summaries.values():
        if summary.n_failed:
            ctx.say(task, summary.line())
    for message in unavailable.values():
        ctx.say(task, message)


def _init_vectors(source: FeatureSource, cfg: TrainConfig) -> list[Any] | None:
    """The tokenizer's codebook vectors when ``cfg.init_embeddings`` asks for them."""
    if not cfg.init_embeddings or not isinstance(source, TokenizerSource):
        return None
    return source.tokenizer.codebook_vectors()


def _has_decoder(source: FeatureSource) -> bool:
    return isinstance(source, TokenizerSource) and source.tokenizer.info.has_decoder


def _weights_artifacts(ctx: CellContext, task: str, seed: int, names: tuple[str, ...],
                       weights: list[float] | None, combine: str) -> list[Artifact]:
    """The head's per-codebook weights as a ``codebook_weights`` artifact (none for
    continuous input)."""
    if weights is None:
        return []
    payload = json.dumps({"names": list(names), "weights": weights, "combine": combine})
    return [Artifact(ctx.run, ctx.label, task, seed, "codebook_weights", "codebook_weights",
                     payload)]


def training_artifact(ctx: CellContext, task: Task, seed: int, trained: TrainResult,
                       train_cfg: TrainConfig, init: str) -> Artifact:
    """Why the head stopped and its validation curve, as a ``training`` artifact (JSON
    ``{"stopped", "steps", "best_step", "patience", "metric", "init", "frozen", "curve":
    [{step, ...}]}``; ``init`` is "vectors" when the token tables started from codebook
    vectors, else "random"; ``frozen``: the tables were not trained)."""
    payload = json.dumps({"stopped": trained.stopped, "steps": trained.steps, "init": init,
                          "frozen": train_cfg.freeze_embeddings,
                          "best_step": trained.best_step, "patience": train_cfg.patience,
                          "eval_every": train_cfg.eval_every, "metric": task.primary.name,
                          "higher_is_better": task.primary.higher_is_better,
                          "curve": trained.history})
    return Artifact(ctx.run, ctx.label, task.name, seed, "training", "training", payload)


def _chance_results(ctx: CellContext, task: Task, data: TaskData, seed: int,
                    metrics: dict[str, float], directions: dict[str, bool]) -> list[Result]:
    """``<metric>@chance`` results: the task's trivial predictor (see :meth:`Task.chance`)."""
    return [Result(ctx.run, ctx.label, ctx.tier, task.name, f"{name}{CHANCE_SUFFIX}",
                   float(value), seed, directions.get(name, True))
            for name, value in task.chance(data, metrics).items()]


def run_head_cell(ctx: CellContext, task: Task, data: TaskData, source: FeatureSource,
                  arrays: dict[str, Any], train_cfg: TrainConfig, key: str = "",
                  skipped: dict[str, str] | None = None) -> CellOutcome:
    """Train + test one head; store its results, chance levels, codebook weights and
    training curve as one DB cell (made with settings ``key``). Items without an array
    (``skipped`` says why) are left out and counted in ``summaries``."""
    from .cost import measure_call

    seed = train_cfg.seed
    full_test = data.test
    data, dropped = encoded_only(data, arrays, skipped)
    vectors = _init_vectors(source, train_cfg)
    measured = measure_call(lambda: train_and_evaluate(
        task, data, arrays, source.spec, train_cfg, init_vectors=vectors), ctx.device)
    result = measured.output
    missing = [m.name for m in task.metrics if m.name not in result.metrics]
    if missing:
        raise ValueError(f"task {task.name}: test split gave no {missing} "
                         f"(got {sorted(result.metrics)})")
    results = [Result(ctx.run, ctx.label, ctx.tier, task.name, m.name,
                      float(result.metrics[m.name]), seed, m.higher_is_better)
               for m in task.metrics]
    results += _chance_results(ctx, task, data, seed, result.metrics,
                               {m.name: m.higher_is_better for m in task.metrics})
    summaries = _head_summaries({m.name: result.metrics[m.name] for m in task.metrics},
                                len(data.test), {it.id: dropped[it.id] for it in full_test
                                                 if it.id in dropped})
    artifacts = [*_weights_artifacts(ctx, task.name, seed, source.spec.codebook_names,
                                     result.codebook_weights, train_cfg.combine),
                 training_artifact(ctx, task, seed, result, train_cfg,
                                    "random" if vectors is None else "vectors"),
                 _scoring_artifact(ctx, task.name, seed, summaries, {})]
    ctx.db.add_cell([replace(r, wall_seconds=measured.seconds, peak_mem_mb=measured.peak_mb)
                     for r in results], artifacts, key)
    _say_summaries(ctx, task.name, summaries, {})
    return CellOutcome(ctx.label, task.name, seed, "done", dict(result.metrics),
                       measured.seconds, stopped=result.stopped, summaries=summaries)


def run_resynth_cell(ctx: CellContext, task: ResynthTask, data: TaskData,
                     source: FeatureSource, key: str = "") -> CellOutcome:
    """Resynthesize the task's test slice and store its scores and audio clips as one
    cell; a source without decoder gives status "no-decoder" (nothing stored, so the
    ranking lists the task as missing for it)."""
    from .cost import measure_call

    if not _has_decoder(source):
        ctx.say(task.name, "no decoder: reported missing")
        return CellOutcome(ctx.label, task.name, 0, "no-decoder", error="no decoder")
    assert isinstance(source, TokenizerSource)
    items = task.select(data, ctx.full)
    try:
        measured = measure_call(lambda: task.run(
            source.tokenizer, items, ctx.audio_dir(task.name), run=ctx.run, label=ctx.label,
            tier=ctx.tier, with_reference=ctx.needs_reference(task.name), device=ctx.device),
            ctx.device)
    except (ValueError, RuntimeError) as err:
        ctx.console.print(f"[red]{ctx.label} / {task.name} failed:[/] {first_line(err)}")
        return CellOutcome(ctx.label, task.name, 0, "failed", error=first_line(err))
    out = measured.output
    ctx.db.add_cell([replace(r, wall_seconds=measured.seconds, peak_mem_mb=measured.peak_mb)
                     for r in out.results],
                    [*out.artifacts, _scoring_artifact(ctx, task.name, 0, out.summaries,
                                                       out.unavailable)], key)
    if out.primary:  # e.g. pesq_nb when a reference is below 16 kHz: the ranking reads it
        ctx.db.set_primary(ctx.run, task.name, out.primary, out.primary_reason)
    text = " ".join(f"{k}={v:.3f}" for k, v in out.metrics.items())
    ctx.say(task.name, f"{out.n_items} items: {text} ({measured.seconds:.1f} s)")
    _say_summaries(ctx, task.name, out.summaries, out.unavailable)
    return CellOutcome(ctx.label, task.name, 0, "done", out.metrics, measured.seconds,
                       summaries=out.summaries, unavailable=out.unavailable)


def cannot_predict(ctx: CellContext, task: TokenTargetTask, source: FeatureSource, seed: int,
                   train_cfg: TrainConfig) -> CellOutcome | None:
    """A "no-decoder" or "unsupported" cell when ``task`` cannot predict (and decode)
    ``source``'s tokens; None when it can."""
    if not _has_decoder(source):
        ctx.say(task.name, "no decoder: reported missing")
        return CellOutcome(ctx.label, task.name, seed, "no-decoder", error="no decoder")
    reason = task.unsupported(source.spec, input_stride(source.spec, train_cfg))
    if reason is None:
        return None
    ctx.say(task.name, f"unsupported: {reason}")
    return CellOutcome(ctx.label, task.name, seed, "unsupported", error=reason)


def run_token_head_cell(ctx: CellContext, task: TokenTargetTask, data: TaskData,
                        source: FeatureSource, arrays: dict[str, Any],
                        train_cfg: TrainConfig, key: str = "",
                        skipped: dict[str, str] | None = None) -> CellOutcome:
    """Train a generative head that predicts this tokenizer's tokens (enhancement, TTS),
    decode its test slice and store scores, token accuracy and clips as one cell. Items
    without an array (``skipped`` says why) are left out and counted in ``summaries``."""
    from .cost import measure_call

    assert isinstance(source, TokenizerSource) and _has_decoder(source)
    seed = train_cfg.seed
    full_test = data.test
    data, dropped = encoded_only(data, arrays, skipped)
    bound = task.bind(data, arrays, source.spec)
    with_ref = ctx.needs_reference(task.name)

    vectors = _init_vectors(source, train_cfg)

    def work() -> tuple[Any, Any]:
        trained = train_and_evaluate(task, bound.data, bound.inputs, source.spec, train_cfg,
                                     init_vectors=vectors)
        assert trained.model is not None
        scored = task.score(trained.model, source.tokenizer, task.select(bound.data, ctx.full),
                            bound, arrays, ctx.audio_dir(task.name), run=ctx.run,
                            label=ctx.label, tier=ctx.tier, seed=seed, with_reference=with_ref,
                            device=ctx.device, cache=ctx.scores, tokenizer_key=ctx.source_key)
        return trained, scored

    measured = measure_call(work, ctx.device)
    trained, scored = measured.output
    tokens = [Result(ctx.run, ctx.label, ctx.tier, task.name, name, float(value), seed, True)
              for name, value in trained.metrics.items()]
    chance = _chance_results(ctx, task, bound.data, seed, scored.metrics,
                             {r.metric: r.higher_is_better for r in scored.results})
    results = [replace(r, wall_seconds=measured.seconds, peak_mem_mb=measured.peak_mb)
               for r in [*scored.results, *tokens, *chance]]
    reads_tokens = task.input_spec(source.spec, bound.data) == source.spec  # not TTS phones
    artifacts = [*scored.artifacts, *_weights_artifacts(
        ctx, task.name, seed, source.spec.codebook_names,
        trained.codebook_weights if reads_tokens else None, train_cfg.combine),
        training_artifact(ctx, task, seed, trained, train_cfg,
                           "random" if vectors is None else "vectors")]
    dropped_test = {it.id: dropped[it.id] for it in full_test if it.id in dropped}
    summaries = {**_head_summaries(trained.metrics, len(bound.data.test), dropped_test),
                 **scored.summaries}
    artifacts.append(_scoring_artifact(ctx, task.name, seed, summaries, scored.unavailable))
    ctx.db.add_cell(results, artifacts, key)
    if scored.primary:
        ctx.db.set_primary(ctx.run, task.name, scored.primary, scored.primary_reason)
    _say_summaries(ctx, task.name, summaries, scored.unavailable)
    return CellOutcome(ctx.label, task.name, seed, "done", {**scored.metrics, **trained.metrics},
                       measured.seconds, stopped=trained.stopped, summaries=summaries,
                       unavailable=scored.unavailable)
