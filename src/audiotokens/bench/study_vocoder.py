"""Vocoder-training study: one scalable unit vocoder trained with layer dropout on all of a
multi-codebook tokenizer's codebooks, against vocoders trained for one layer set each.

The tokenizer (default ``rvq``, the project's own codec: several residual codebooks; any
spec with several codebooks works, e.g. a multi-layer ``hubert:...:layers=[3,6]``) is fitted
on the corpus's training split (:func:`~.fitting.fit_saved`). Per seed, the *scalable*
vocoder trains once on every codebook with the config's ``layer_dropout``; per layer subset
a *dedicated* vocoder of the same size and budget trains on that subset only (no dropout).
Both decode the test items from that subset's codebooks and are scored like the resynthesis
task (STOI, mel distance, SI-SDR, PESQ where defined; the mean over items per seed).

Results go to the results DB as run ``<run>-vocoder`` (board "generative"): task
``resynth[<subset>]``, tokenizer ``scalable`` / ``dedicated``, one cell per seed, keyed by
every setting, so a re-run trains nothing it has done. Per subset the *gap* is how much
worse the scalable vocoder scores than the dedicated one (primary metric STOI; positive:
dedicated better), with a 95 % CI combining both (sqrt(a² + b²)).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.manifest import ManifestItem, read_manifest
from ..tiers import bitrate_tier
from ..tokenizers.registry import REGISTRY, Registry, load_tokenizer
from .cells import safe_name
from .db import Result, ResultsDB
from .findings import compare_scores
from .fitting import fit_saved
from .keys import digest, items_digest
from .ranking import RankedScore, rank_results
from .runner import VOCODER_FIT, BenchConfig, BenchError, embedded_corpus

__all__ = ["VocoderStudyConfig", "SubsetGap", "VocoderStudy", "ARMS", "RUN_SUFFIX",
           "PRIMARY", "run_vocoder_study", "subset_gaps"]

ARMS = ("scalable", "dedicated")
RUN_SUFFIX = "-vocoder"
PRIMARY = "stoi"
STEPS = 400  # per vocoder: ~20 CPU s of the quick bench vocoder (64 wide, 4 x 32 frames)
TEST_ITEMS = 8


@dataclass(frozen=True)
class VocoderStudyConfig:
    """``bench``: out, seeds, device, ``data`` (a synthetic corpus folder; None: the
    embedded one) and run name. ``tokenizer``: a multi-codebook spec fitted here.
    ``subsets``: layer subsets (codebook names or indices; empty: with up to 3 codebooks
    each alone and all of them, with more the first 1, 2, 4, ... and all, the coarse-to-fine
    prefixes of a residual quantizer). ``steps``: training steps of every vocoder;
    ``test_items``: items scored."""

    bench: BenchConfig = field(default_factory=BenchConfig)
    tokenizer: str = "rvq"
    subsets: tuple[tuple[str | int, ...], ...] = ()
    steps: int = STEPS
    test_items: int = TEST_ITEMS

    def __post_init__(self) -> None:
        if self.steps < 1 or self.test_items < 1:
            raise ValueError(f"steps and test_items must be >= 1, got {self.steps} and "
                             f"{self.test_items}")
        if any(not s for s in self.subsets):
            raise ValueError("every layer subset needs at least one codebook")


@dataclass(frozen=True)
class SubsetGap:
    """On one layer subset: the dedicated vocoder's score against the scalable one's on
    ``metric``; ``gap`` (positive: dedicated better) with its 95 % CI half-width and
    ``outcome`` for the scalable vocoder ("better", "worse", "tie")."""

    subset: str
    metric: str
    scalable: RankedScore
    dedicated: RankedScore
    gap: float
    gap_ci95: float | None
    outcome: str


@dataclass(frozen=True)
class VocoderStudy:
    """The run, the tokenizer folder, the subsets, per subset and metric the gap, the plain
    statement, the cells trained now and the JSON summary's path."""

    run: str
    tokenizer: Path
    subsets: tuple[str, ...]
    gaps: tuple[SubsetGap, ...]
    statement: str
    trained: int
    path: Path


def _subsets(cfg: VocoderStudyConfig, names: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The subsets as codebook names, validated against ``names``."""
    if len(names) < 2:
        raise BenchError(f"{cfg.tokenizer}: has {len(names)} codebook(s); the vocoder study "
                         "needs a tokenizer with several (e.g. rvq, or hubert with layers=[..])")
    if not cfg.subsets:
        if len(names) <= 3:  # each codebook alone, and all
            return [(n,) for n in names] + [names]
        sizes = sorted({*(2 ** i for i in range(len(names).bit_length()) if 2 ** i < len(names)),
                        len(names)})
        return [names[:n] for n in sizes]  # prefixes (RVQ: coarse to fine) of 1, 2, 4, ..., C
    out = []
    for subset in cfg.subsets:
        picked = []
        for x in subset:
            if isinstance(x, int) and 0 <= x < len(names):
                picked.append(names[x])
            elif x in names:
                picked.append(str(x))
            else:
                raise BenchError(f"layer subset {list(subset)}: no codebook {x!r}; codebooks: "
                                 f"{list(names)} (or indices 0..{len(names) - 1})")
        out.append(tuple(n for n in names if n in picked))
    return out


def _task(subset: tuple[str, ...]) -> str:
    return f"resynth[{'+'.join(subset)}]"


def _scores(model: Any, tok: Any, items: list[ManifestItem], subset: tuple[str, ...]
            ) -> dict[str, float]:
    """The mean over ``items`` of each resynthesis metric (where defined) when ``model``
    decodes ``tok``'s tokens from the codebooks of ``subset``."""
    from ..audio import load_audio, resample
    from ..metrics import resynth_metrics

    rate = tok.info.sample_rate
    values: dict[str, list[float]] = {}
    for it in items:
        audio = load_audio(it.path)
        tokens = tok.encode(audio.samples, audio.sample_rate)
        if tokens.n_frames == 0:
            continue
        decoded = model.synthesize(tokens, layers=list(subset))
        common = min(audio.sample_rate, rate)
        scores = resynth_metrics(resample(audio.samples, audio.sample_rate, common),
                                 resample(decoded, rate, common), common)
        for name, value in scores.to_dict().items():
            if isinstance(value, float) and math.isfinite(value):
                values.setdefault(name, []).append(value)
    return {k: float(np.mean(v)) for k, v in values.items()}


def _options(cfg: VocoderStudyConfig, seed: int, layers: tuple[str, ...] | None) -> Any:
    from ..vocoder import VocoderTrainOptions

    budget = {k: v for k, v in VOCODER_FIT[0].items() if k not in ("config", "max_steps")}
    return VocoderTrainOptions(max_steps=cfg.steps, seed=seed, device=cfg.bench.device,
                               layers=layers, log_every=cfg.steps, **budget)


def run_vocoder_study(cfg: VocoderStudyConfig, registry: Registry = REGISTRY) -> VocoderStudy:
    """Fit the tokenizer, train and score the vocoders of every pending (arm, subset, seed)
    cell, and compare the arms; writes ``out/studies/<run>/study.json``."""
    from .. import __version__
    from ..vocoder import train_vocoder, vocoder_config_for
    from .tasks.generative import RESYNTH_METRICS

    directions = {m.name: m.higher_is_better for m in RESYNTH_METRICS}

    from rich.console import Console

    bench = cfg.bench
    console = Console(quiet=not bench.verbose)
    corpus = bench.data or embedded_corpus(bench, console)
    train_manifest, test_manifest = Path(corpus) / "train.jsonl", Path(corpus) / "test.jsonl"
    if not train_manifest.is_file() or not test_manifest.is_file():
        raise BenchError(f"{corpus}: the vocoder study needs a synthetic corpus folder "
                         "(train.jsonl and test.jsonl)")
    run = bench.run_name + RUN_SUFFIX
    if not Path(cfg.tokenizer).is_dir():
        console.print(f"fitting {cfg.tokenizer} on {train_manifest} (once) ...")
    folder = (Path(cfg.tokenizer) if Path(cfg.tokenizer).is_dir() else fit_saved(
        cfg.tokenizer, train_manifest, bench.out / "tokenizers" / safe_name(run),
        cfg.tokenizer, bench.full, bench.device, registry))
    tok = load_tokenizer(folder, registry).to(bench.device)
    console.print(f"vocoder study [bold]{run}[/]: {tok.name} ({folder})")
    subsets = _subsets(cfg, tuple(tok.info.codebook_names))
    config = vocoder_config_for(tok, **VOCODER_FIT[0]["config"])
    test = read_manifest(test_manifest)[: cfg.test_items]
    base = digest(__version__, tok.checksum(), dataclasses.asdict(config), cfg.steps,
                  items_digest(read_manifest(train_manifest)), items_digest(test))
    tier = bitrate_tier(tok.info.bitrate_bps)
    trained = 0
    with ResultsDB(bench.out / "results.db") as db:
        for seed in range(bench.seeds):
            for arm in ARMS:
                todo = [s for s in subsets if not db.has_cell(
                    run, arm, _task(s), seed, digest(base, arm, s, seed))]
                if not todo:
                    continue
                console.print(f"seed {seed}: {arm} vocoder(s) for "
                              f"{', '.join('+'.join(x) for x in todo)} ({cfg.steps} steps each)")
                shared = (train_vocoder(tok, train_manifest, config, _options(cfg, seed, None),
                                        progress_desc=None).model if arm == "scalable" else None)
                for s in todo:
                    model = shared if shared is not None else train_vocoder(
                        tok, train_manifest, config, _options(cfg, seed, s),
                        progress_desc=None).model
                    scores = _scores(model, tok, test, s)
                    db.set_board(run, _task(s), "generative")
                    db.set_primary(run, _task(s), PRIMARY, "intelligibility of the decoded "
                                   "speech")
                    db.add_cell([Result(run, arm, tier, _task(s), name, value, seed,
                                        directions[name])
                                 for name, value in scores.items()],
                                key=digest(base, arm, s, seed))
                    trained += 1
        order = {"+".join(x): i for i, x in enumerate(subsets)}
        gaps = sorted(subset_gaps(db, run), key=lambda g: (g.metric != PRIMARY,
                                                           order.get(g.subset, len(order))))
    statement = _statement(gaps)
    out = bench.out / "studies" / safe_name(run)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "study.json"
    path.write_text(json.dumps({
        "run": run, "tokenizer": str(folder), "codebooks": list(tok.info.codebook_names),
        "steps": cfg.steps, "seeds": bench.seeds, "test_items": len(test),
        "statement": statement,
        "gaps": [{"subset": g.subset, "metric": g.metric, "scalable": g.scalable.value,
                  "scalable_ci95": g.scalable.ci95, "dedicated": g.dedicated.value,
                  "dedicated_ci95": g.dedicated.ci95, "gap": g.gap, "gap_ci95": g.gap_ci95,
                  "outcome": g.outcome} for g in gaps]}, indent=1))
    return VocoderStudy(run, folder, tuple("+".join(s) for s in subsets), tuple(gaps),
                        statement, trained, path)


def subset_gaps(db: ResultsDB, run: str, metrics: Sequence[str] = (PRIMARY, "mel_distance")
                ) -> list[SubsetGap]:
    """Per ``resynth[...]`` task of ``run`` and metric: dedicated against scalable."""
    gaps = []
    for metric in metrics:
        results = [r for r in db.results(run) if r.task.startswith("resynth[")]
        ranking = rank_results(results, {t: metric for t in {r.task for r in results}},
                               boards=db.boards(run))
        for t in (t for board in ranking.boards.values() for t in board.tasks):
            found = {s.tokenizer: s for s in t.scores}
            if set(ARMS) <= set(found):
                a, b = found["scalable"], found["dedicated"]
                sign = 1.0 if t.higher_is_better else -1.0
                ci = (None if a.ci95 is None or b.ci95 is None
                      else math.sqrt(a.ci95 ** 2 + b.ci95 ** 2))
                gaps.append(SubsetGap(t.task[len("resynth["):-1], metric, a, b,
                                      sign * (b.value - a.value), ci,
                                      compare_scores(a, b, t.higher_is_better)))
    return gaps


def _statement(gaps: Sequence[SubsetGap]) -> str:
    """The gap in one plain sentence, on the primary metric."""
    main = [g for g in gaps if g.metric == PRIMARY]
    if not main:
        return "not measured: no subset has both vocoders scored"
    ties = sum(g.outcome == "tie" for g in main)
    worse = sum(g.outcome == "worse" for g in main)
    mean = sum(g.gap for g in main) / len(main)
    one = min(min(g.scalable.n, g.dedicated.n) for g in main) < 2
    side = "below" if mean >= 0 else "above"
    parts = [f"the scalable vocoder's {PRIMARY} is {abs(mean):.3f} {side} the dedicated "
             f"vocoders' on average over {len(main)} layer subset(s)",
             f"worse beyond the 95 % CIs on {worse}, tied on {ties}, better on "
             f"{len(main) - worse - ties}"]
    if one:
        parts.append("one seed: no CI, so no difference is established")
    return "; ".join(parts) + " (" + ", ".join(
        f"{g.subset}: {g.scalable.value:.3f} vs {g.dedicated.value:.3f}" for g in main) + ")"
