"""Clustering-data study: the same tokenizer spec fitted on each domain's data, scored on
each domain's tasks. Does in-domain fitting data beat out-of-domain data, and by how much?

A *domain* is a corpus with discriminative tasks (:data:`~.runner.CORPUS_TASKS`): the
corpora found in ``data`` (FSDD, LibriSpeech, transcribed clips, ...) and, unless
``synthetic`` is off, the embedded synthetic corpus. Without ``data`` there is no real corpus
offline, so the study makes two synthetic domains that differ in their voices:
``synth_male`` (espeak-ng's male variants) and ``synth_female`` (its female ones), a small
and clearly labelled stand-in for a real domain shift. The fitting data of a domain are the
training items of its tasks (never valid/test); ``fit_data`` adds named manifests that are
fitting data only (out-of-domain for every domain).

The tokenizer is fitted once per fitting set into ``out/tokenizers/<run>-fitdata/fit-<key>/
<spec>-fit-<name>`` (the key covers the spec, the fit budget and the fitting items) and every
domain's tasks run as one bench run ``<run>-fitdata-<domain>`` over all fitted tokenizers, so
a re-run trains nothing it has done. Per (domain, task, out-of-domain fitting set) the
*drop* is how much worse the out-of-domain tokenizer scores than the in-domain one on the
task's primary metric (positive: in-domain better; its 95 % CI combines both CIs as
sqrt(a² + b²)), and relative to the in-domain score. A pair's outcome follows the project's
rule (better only when the two scores' CIs do not overlap), which is stricter than the drop's
CI excluding 0. The claim "in-domain beats OOD, but not
hugely" (:data:`~.findings.DATA_CLAIM`) **holds** when in-domain is better beyond the CIs on
more than half of the pairs and the mean relative drop is below :data:`HUGE_DROP`; it **does
not hold** when out-of-domain is better on at least half of them, or when in-domain wins with
a mean relative drop of :data:`HUGE_DROP` or more (hugely); else (mostly overlapping CIs, or
one seed) it is **inconclusive**. Everything is read back from the results DB.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..tokenizers.registry import REGISTRY, Registry
from .cells import safe_name
from .db import ResultsDB
from .findings import DATA_CLAIM, Finding, compare_scores
from .fitting import fit_saved
from .ranking import RankedScore, rank_results
from .runner import (
    CORPUS_TASKS,
    BenchConfig,
    BenchError,
    BenchSummary,
    fit_manifest_for,
    run_benchmark,
    synthesized_corpus,
)

__all__ = ["DataStudyConfig", "Domain", "DomainPair", "DataStudy", "HUGE_DROP", "RUN_MARKER",
           "FIT_MARKER", "SYNTH_DOMAINS", "data_finding", "domain_pairs", "latest_data_study",
           "run_data_study"]

RUN_MARKER = "-fitdata-"
FIT_MARKER = "-fit-"
HUGE_DROP = 0.10  # a mean relative drop of 10 % or more of the in-domain score is "huge"
_NAME = re.compile(r"^[a-z0-9_]+$")
_MALE = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "Andy", "john")
_FEMALE = ("f1", "f4", "linda", "steph", "Annie", "anika", "belinda", "grandma", "Andrea")
SYNTH_DOMAINS = {"synth_male": _MALE, "synth_female": _FEMALE}
SYNTH_SPEAKERS = 6  # per synthetic domain: 4 train, 1 valid, 1 test
SYNTH_MINUTES = 2.0  # of speech per synthetic domain (x5 with --full)


@dataclass(frozen=True)
class DataStudyConfig:
    """``bench``: what every run uses (out, seeds, jobs, device, heads; ``tasks`` filters the
    domains' tasks by name, empty: all their discriminative tasks). ``tokenizer``: the spec
    fitted on each set. ``data``: a corpus folder or folder of corpora (None: the two
    synthetic domains); ``synthetic``: with ``data``, the embedded corpus is a domain too.
    ``fit_data``: (name, manifest) fitting sets without tasks."""

    bench: BenchConfig
    tokenizer: str = "mel-kmeans"
    data: Path | None = None
    synthetic: bool = True
    fit_data: tuple[tuple[str, Path], ...] = ()

    def __post_init__(self) -> None:
        for name, path in self.fit_data:
            if not _NAME.match(name):
                raise ValueError(f"fitting-data name {name!r}: use a-z, 0-9 and _ only")
            if not Path(path).is_file():
                raise ValueError(f"{path}: no such manifest (fitting data {name!r})")
        names = [n for n, _ in self.fit_data]
        if len(set(names)) != len(names):
            raise ValueError(f"fitting-data names repeat: {names}")


@dataclass(frozen=True)
class Domain:
    """One domain: its name, the bench config of its tasks (None for a fitting set without
    tasks) and the manifest its tokenizer is fitted on."""

    name: str
    bench: BenchConfig | None
    fit_manifest: Path


@dataclass(frozen=True)
class DomainPair:
    """On ``task`` of ``domain``: the in-domain tokenizer's score against the one fitted on
    ``fit`` (out of domain); ``drop`` (positive: in-domain better) with its 95 % CI
    half-width, ``relative`` = drop / |in-domain mean|, ``outcome`` for in-domain."""

    domain: str
    task: str
    metric: str
    fit: str
    in_domain: RankedScore
    out_domain: RankedScore
    drop: float
    drop_ci95: float | None
    relative: float
    outcome: str


@dataclass(frozen=True)
class DataStudy:
    """The study's runs (domain -> run), the score table (domain -> task -> fitting set ->
    score), the in-domain vs OOD pairs, the finding, the bench summaries and the JSON
    summary's path."""

    runs: dict[str, str]
    fits: tuple[str, ...]
    table: dict[str, dict[str, dict[str, RankedScore]]]
    pairs: tuple[DomainPair, ...]
    finding: Finding
    summaries: tuple[BenchSummary, ...]
    path: Path

    @property
    def trained(self) -> int:
        """Heads trained in this call (0 on a re-run with nothing new)."""
        return sum(s.trained for s in self.summaries)


def _domain_tasks(kind: str, wanted: Sequence[str]) -> tuple[str, ...]:
    from .tasks import make_task, task_board

    tasks = tuple(t for t in CORPUS_TASKS.get(kind, ())
                  if task_board(make_task(t)) == "discriminative")
    return tuple(t for t in tasks if t in wanted) if wanted else tasks


def _domain_corpora(cfg: DataStudyConfig) -> dict[str, tuple[str, Path | None]]:
    """Name -> (corpus kind, folder) of the domains: the synthetic voice domains, or the
    corpora of ``cfg.data`` (+ the embedded corpus, folder None)."""
    from .tasks.corpora import find_corpora

    if cfg.data is None:
        root = cfg.bench.out / "corpus-domains"
        small = replace(cfg.bench, synth_minutes=min(cfg.bench.synth_minutes, SYNTH_MINUTES))
        return {name: ("synthetic", synthesized_corpus(
            small, root / name, f"{name} speech", None, variants=variants,
            n_speakers=SYNTH_SPEAKERS, valid_speakers=1, test_speakers=1))
            for name, variants in SYNTH_DOMAINS.items()}
    found = {kind: (kind, folder) for kind, folder in find_corpora(cfg.data).items()
             if _domain_tasks(kind, ())}
    if cfg.synthetic and "synthetic" not in found:
        found = {"synthetic": ("synthetic", None), **found}
    return found


def _domains(cfg: DataStudyConfig, registry: Registry) -> list[Domain]:
    domains = []
    for name, (kind, folder) in _domain_corpora(cfg).items():
        tasks = _domain_tasks(kind, cfg.bench.tasks)
        run = f"{cfg.bench.run_name}{RUN_MARKER}{name}"
        bench = replace(cfg.bench, data=folder, run=run, tasks=tasks or _domain_tasks(kind, ()),
                        report=False, vocoders=False, cost=False)
        manifest = fit_manifest_for(bench, registry)
        domains.append(Domain(name, replace(bench, tasks=tasks) if tasks else None, manifest))
    if len(domains) + len(cfg.fit_data) < 2:
        raise BenchError(f"the data study needs two fitting sets; found {[d.name for d in domains]}"
                         " (give --data with more corpora, or --fit-data NAME=MANIFEST)")
    for name, path in cfg.fit_data:
        if name in {d.name for d in domains}:
            raise BenchError(f"--fit-data {name}: the name of a domain; pick another")
        domains.append(Domain(name, None, Path(path)))
    return domains


def _fit(cfg: DataStudyConfig, domain: Domain, registry: Registry) -> Path:
    """The tokenizer fitted on ``domain``'s manifest (saved, or loaded when fitted before)."""
    return fit_saved(cfg.tokenizer, domain.fit_manifest,
                     cfg.bench.out / "tokenizers" / safe_name(cfg.bench.run_name + "-fitdata"),
                     f"{safe_name(cfg.tokenizer)}{FIT_MARKER}{domain.name}", cfg.bench.full,
                     cfg.bench.device, registry)


def _pair(domain: str, task: str, metric: str, hib: bool, fit: str, a: RankedScore,
          b: RankedScore) -> DomainPair:
    sign = 1.0 if hib else -1.0
    drop = sign * (a.value - b.value)
    ci = (None if a.ci95 is None or b.ci95 is None
          else math.sqrt(a.ci95 ** 2 + b.ci95 ** 2))
    relative = (drop / abs(a.value) if a.value
                else 0.0 if drop == 0 else math.copysign(math.inf, drop))
    return DomainPair(domain, task, metric, fit, a, b, drop, ci, relative,
                      compare_scores(a, b, hib))


def domain_pairs(db: ResultsDB, runs: Mapping[str, str]
                 ) -> tuple[dict[str, dict[str, dict[str, RankedScore]]], list[DomainPair]]:
    """From ``runs`` (domain -> its run): domain -> task -> fitting set -> score, and per
    task the in-domain score against each out-of-domain one."""
    table: dict[str, dict[str, dict[str, RankedScore]]] = {}
    pairs = []
    for domain, run in runs.items():
        ranking = rank_results(db.results(run), db.primaries(run), boards=db.boards(run))
        for t in (t for board in ranking.boards.values() for t in board.tasks):
            scores = {label.rpartition(FIT_MARKER)[2]: s for s in t.scores
                      if FIT_MARKER in (label := s.tokenizer)}
            table.setdefault(domain, {})[t.task] = scores
            inside = scores.get(domain)
            if inside is None:
                continue
            pairs += [_pair(domain, t.task, t.metric, t.higher_is_better, fit, inside, s)
                      for fit, s in scores.items() if fit != domain]
    return table, pairs


def data_finding(pairs: Sequence[DomainPair], source: str = "this study") -> Finding:
    """:data:`~.findings.DATA_CLAIM` from the in-domain vs OOD pairs (see the module doc)."""
    if not pairs:
        return Finding(DATA_CLAIM, "not measured", f"{source}: no task scored by both an "
                       "in-domain and an out-of-domain tokenizer")
    n = len(pairs)
    better = sum(p.outcome == "better" for p in pairs)
    worse = sum(p.outcome == "worse" for p in pairs)
    mean_rel = sum(p.relative for p in pairs) / n
    detail = "; ".join(f"{p.domain}/{p.task} vs fit {p.fit}: drop {p.drop:+.3g}"
                       + ("" if p.drop_ci95 is None else f" ± {p.drop_ci95:.2g}")
                       + f" ({p.relative:+.1%}, {p.outcome})" for p in pairs)
    counts = (f"{source}: in-domain better on {better} of {n} (domain, task, OOD fit) "
              f"pair(s), worse on {worse}; mean relative drop {mean_rel:+.1%} "
              f"(huge: >= {HUGE_DROP:.0%})")
    if min(min(p.in_domain.n, p.out_domain.n) for p in pairs) < 2:
        verdict, counts = "inconclusive", counts + "; one seed: no CI"
    elif worse * 2 >= n:
        verdict = "does not hold"
    elif better * 2 > n:
        verdict = "holds" if mean_rel < HUGE_DROP else "does not hold"
    else:
        verdict = "inconclusive"
    return Finding(DATA_CLAIM, verdict, f"{counts} ({detail})")


def latest_data_study(db: ResultsDB) -> tuple[str, dict[str, str]] | None:
    """The most recent data study in ``db``: its base run name and domain -> run (every run
    ``<base>-fitdata-<domain>``), or None."""
    runs = db.runs()
    for run in reversed(runs):
        base, marker, _ = run.rpartition(RUN_MARKER)
        if marker:
            return base, {r.rpartition(RUN_MARKER)[2]: r for r in runs
                          if r.rpartition(RUN_MARKER)[0] == base}
    return None


def run_data_study(cfg: DataStudyConfig, registry: Registry = REGISTRY) -> DataStudy:
    """Fit the tokenizer on every fitting set, run every domain's tasks on all of them
    (resumable) and compare in-domain with out-of-domain; writes
    ``out/studies/<run>-fitdata/study.json``."""
    domains = _domains(cfg, registry)
    folders = [_fit(cfg, d, registry) for d in domains]
    specs = tuple(str(f) for f in folders)
    summaries, runs = [], {}
    for d in domains:
        if d.bench is not None:
            summaries.append(run_benchmark(replace(d.bench, tokenizers=specs), registry))
            runs[d.name] = d.bench.run_name
    if not runs:
        raise BenchError("no domain has a task to score: check --tasks")
    with ResultsDB(cfg.bench.out / "results.db", create=False) as db:
        table, pairs = domain_pairs(db, runs)
    finding = data_finding(pairs)
    folder = cfg.bench.out / "studies" / safe_name(cfg.bench.run_name + "-fitdata")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "study.json"
    path.write_text(json.dumps({
        "tokenizer": cfg.tokenizer, "runs": runs,
        "fitting_sets": {d.name: str(d.fit_manifest) for d in domains},
        "claim": DATA_CLAIM, "verdict": finding.verdict, "evidence": finding.evidence,
        "table": {dom: {task: {fit: {"mean": s.value, "ci95": s.ci95, "n": s.n}
                               for fit, s in fits.items()} for task, fits in tasks.items()}
                  for dom, tasks in table.items()},
        "pairs": [{"domain": p.domain, "task": p.task, "metric": p.metric, "fit": p.fit,
                   "drop": p.drop, "drop_ci95": p.drop_ci95, "relative": p.relative,
                   "outcome": p.outcome} for p in pairs]}, indent=1))
    return DataStudy(runs, tuple(d.name for d in domains), table, tuple(pairs), finding,
                     tuple(summaries), path)
