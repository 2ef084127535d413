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

from .db import Artifact, Result, ResultsDB
from .features import FeatureSource, TokenizerSource
from .ranking import CHANCE_SUFFIX
from .tasks import ResynthTask, Task, TaskData
from .tasks.frames import TokenTargetTask
from .tasks.loop import TrainConfig, TrainResult, input_stride, train_and_evaluate

__all__ = ["CellContext", "CellOutcome", "run_head_cell", "run_resynth_cell",
           "run_token_head_cell", "cannot_predict", "first_line", "safe_name"]


@dataclass
class CellOutcome:
    """One cell: ``status`` "done", "skipped" (already in the DB), "failed", "no-decoder"
    (a generative task on a tokenizer without a decoder) or "unsupported" (the task's head
    cannot take this input); ``error`` says why for the last three."""

    tokenizer: str
    task: str
    seed: int
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""
    stopped: str = ""  # trained heads: "converged" or "budget"


@dataclass
class CellContext:
    """What a cell needs from its run: names, the DB, where audio goes, device, mode."""

    run: str
    label: str
    tier: str
    db: ResultsDB
    out: Path
    device: str
    full: bool
    console: Any

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


def _training_artifact(ctx: CellContext, task: Task, seed: int, trained: TrainResult,
                       train_cfg: TrainConfig) -> Artifact:
    """Why the head stopped and its validation curve, as a ``training`` artifact (JSON
    ``{"stopped", "steps", "best_step", "patience", "metric", "curve": [{step, ...}]}``)."""
    payload = json.dumps({"stopped": trained.stopped, "steps": trained.steps,
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
                  arrays: dict[str, Any], train_cfg: TrainConfig, key: str = "") -> CellOutcome:
    """Train + test one head; store its results, chance levels, codebook weights and
    training curve as one DB cell (made with settings ``key``)."""
    from .cost import measure_call

    seed = train_cfg.seed
    measured = measure_call(
        lambda: train_and_evaluate(task, data, arrays, source.spec, train_cfg), ctx.device)
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
    artifacts = [*_weights_artifacts(ctx, task.name, seed, source.spec.codebook_names,
                                     result.codebook_weights, train_cfg.combine),
                 _training_artifact(ctx, task, seed, result, train_cfg)]
    ctx.db.add_cell([replace(r, wall_seconds=measured.seconds, peak_mem_mb=measured.peak_mb)
                     for r in results], artifacts, key)
    return CellOutcome(ctx.label, task.name, seed, "done", dict(result.metrics),
                       measured.seconds, stopped=result.stopped)


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
                     for r in out.results], out.artifacts, key)
    text = " ".join(f"{k}={v:.3f}" for k, v in out.metrics.items())
    ctx.say(task.name, f"{out.n_items} items: {text} ({measured.seconds:.1f} s)")
    return CellOutcome(ctx.label, task.name, 0, "done", out.metrics, measured.seconds)


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
                        train_cfg: TrainConfig, key: str = "") -> CellOutcome:
    """Train a generative head that predicts this tokenizer's tokens (enhancement, TTS),
    decode its test slice and store scores, token accuracy and clips as one cell."""
    from .cost import measure_call

    assert isinstance(source, TokenizerSource) and _has_decoder(source)
    seed = train_cfg.seed
    bound = task.bind(data, arrays, source.spec)
    with_ref = ctx.needs_reference(task.name)

    def work() -> tuple[Any, Any]:
        trained = train_and_evaluate(task, bound.data, bound.inputs, source.spec, train_cfg)
        assert trained.model is not None
        scored = task.score(trained.model, source.tokenizer, task.select(bound.data, ctx.full),
                            bound, arrays, ctx.audio_dir(task.name), run=ctx.run,
                            label=ctx.label, tier=ctx.tier, seed=seed, with_reference=with_ref,
                            device=ctx.device)
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
        _training_artifact(ctx, task, seed, trained, train_cfg)]
    ctx.db.add_cell(results, artifacts, key)
    return CellOutcome(ctx.label, task.name, seed, "done", {**scored.metrics, **trained.metrics},
                       measured.seconds, stopped=trained.stopped)
