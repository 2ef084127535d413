"""Embedding-initialisation study: the same benchmark with token heads started from random
tables and from the tokenizer's codebook vectors (k-means centroids, rvq codebooks), the
tables trained or frozen.

Each arm (:data:`ARMS`) runs into one results DB as run ``<run>-init-<arm>`` (resumable like
any bench run): ``random`` (the baseline: random tables, trained), ``vectors`` (tables from
the vectors, trained), ``vectors-frozen`` (from the vectors, never trained) and
``random-frozen`` (random, never trained: the control that says how much of a frozen arm's
score the vectors carry). Per (tokenizer, task) the primary metric's CIs decide whether an
arm is better, worse or tied against ``random``. The seed reports no gain from centroid
initialisation, so the claim "no gain" (:data:`~.findings.INIT_CLAIM`) is judged on the two
vector arms against ``random``: it **holds** when neither is better beyond the CIs anywhere,
**does not hold** when they are better on more than half of their pairs, and is
**inconclusive** in between (or with one seed). Only heads whose training artifact says they
started from vectors are compared: tokenizers without vectors (Codec2, mu-law, transformers
codecs, continuous features) run identically in the random and vector arms.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..tokenizers.registry import REGISTRY, Registry
from .db import ResultsDB
from .findings import INIT_CLAIM, Finding, TaskComparison, compare_scores
from .ranking import RankedScore, rank_results
from .runner import BenchConfig, run_benchmark

__all__ = ["InitArm", "InitStudy", "ARMS", "BASELINE", "DEFAULT_ARMS", "RUN_MARKER",
           "compare_init_runs", "init_finding", "latest_init_study", "run_init_study"]


@dataclass(frozen=True)
class InitArm:
    """One way to start the token tables: from the tokenizer's ``vectors`` (else random),
    ``frozen`` (never trained) or trained with the head."""

    name: str
    vectors: bool
    frozen: bool


ARMS = {a.name: a for a in (InitArm("random", False, False), InitArm("vectors", True, False),
                            InitArm("vectors-frozen", True, True),
                            InitArm("random-frozen", False, True))}
BASELINE = "random"
# random-frozen (the control) costs a whole bench run more: asked for with ``arms``
DEFAULT_ARMS = ("random", "vectors", "vectors-frozen")
RUN_MARKER = "-init-"


@dataclass(frozen=True)
class InitStudy:
    """The runs (arm -> run name), per arm other than ``random`` its per-(tokenizer, task)
    comparisons against ``random`` (``a`` = the arm, ``b`` = random), the finding on
    "centroid init gives no gain" and where the JSON summary went."""

    runs: dict[str, str]
    comparisons: dict[str, tuple[TaskComparison, ...]]
    finding: Finding
    path: Path

    @property
    def verdict(self) -> str:
        """The verdict of :attr:`finding`."""
        return self.finding.verdict


def init_finding(comparisons: Mapping[str, Sequence[TaskComparison]],
                 source: str = "this study") -> Finding:
    """:data:`~.findings.INIT_CLAIM` from the vector arms' comparisons against random (see the
    module doc); ``source`` names the study in the evidence."""
    pairs = [(arm, c) for arm, cs in comparisons.items() if ARMS[arm].vectors for c in cs]
    if not pairs:
        return Finding(INIT_CLAIM, "not measured", f"{source}: no head started from codebook "
                       "vectors (tokenizers without vectors, or no vector arm)")
    gains = sum(c.outcome == "better" for _, c in pairs)
    losses = sum(c.outcome == "worse" for _, c in pairs)
    detail = "; ".join(f"{arm} {c.task}: {c.a.value:.3g} vs random {c.b.value:.3g} "
                       f"({c.outcome})" for arm, c in pairs)
    counts = (f"{source}: vectors better than random on {gains} of {len(pairs)} "
              f"(arm, tokenizer, task) pair(s), worse on {losses}")
    if min(min(c.a.n, c.b.n) for _, c in pairs) < 2:
        verdict = "inconclusive"
        counts += ", one seed: no CI"
    elif gains == 0:
        verdict = "holds"
    else:
        verdict = "does not hold" if gains * 2 > len(pairs) else "inconclusive"
    return Finding(INIT_CLAIM, verdict, f"{counts} ({detail})",
                   tuple(c for _, c in pairs))


def compare_init_runs(db: ResultsDB, runs: Mapping[str, str]
                      ) -> dict[str, tuple[TaskComparison, ...]]:
    """Per arm of ``runs`` (arm -> run name; it must hold ``random``) other than random: its
    primary-metric score against random's, per (tokenizer, task) whose heads started from
    vectors in the vector arms of ``runs``."""
    rankings = {arm: rank_results(db.results(run), db.primaries(run), boards=db.boards(run))
                for arm, run in runs.items()}
    initialised = {(a.tokenizer, a.task) for arm, run in runs.items() if ARMS[arm].vectors
                   for a in db.artifacts(run, "training")
                   if json.loads(a.payload).get("init") == "vectors"}
    baseline = {t.task: t for board in rankings[BASELINE].boards.values() for t in board.tasks}
    out = {}
    for arm, ranking in rankings.items():
        if arm == BASELINE:
            continue
        found = []
        for t in (t for board in ranking.boards.values() for t in board.tasks):
            for a in t.scores:
                b: RankedScore | None = (baseline[t.task].score((a.tokenizer, a.bitrate_tier))
                                         if t.task in baseline else None)
                if (a.tokenizer, t.task) in initialised and b is not None:
                    found.append(TaskComparison(f"{a.tokenizer} / {t.task}", a, b,
                                                compare_scores(a, b, t.higher_is_better)))
        out[arm] = tuple(found)
    return out


def latest_init_study(db: ResultsDB) -> tuple[str, dict[str, str]] | None:
    """The most recent init study in ``db``: its base run name and arm -> run name (the
    runs ``<base>-init-<arm>`` present, ``random`` among them), or None."""
    runs = db.runs()
    for run in reversed(runs):
        base, marker, arm = run.rpartition(RUN_MARKER)
        if marker and arm == BASELINE:
            arms = {a: f"{base}{RUN_MARKER}{a}" for a in ARMS if f"{base}{RUN_MARKER}{a}" in runs}
            if len(arms) > 1:
                return base, arms
    return None


def run_init_study(cfg: BenchConfig, registry: Registry = REGISTRY,
                   arms: Sequence[str] = DEFAULT_ARMS) -> InitStudy:
    """Run ``arms`` (names of :data:`ARMS`; ``random`` is always run, as the baseline) of
    ``cfg`` (its ``run`` name, or the default one, gets the arm suffix) and compare them;
    writes ``out/study-init.json``."""
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        raise ValueError(f"unknown init arm(s) {unknown}; known: {', '.join(ARMS)}")
    wanted = [BASELINE, *(a for a in dict.fromkeys(arms) if a != BASELINE)]
    runs = {}
    for name in wanted:
        arm = ARMS[name]
        arm_cfg = replace(cfg, run=f"{cfg.run_name}{RUN_MARKER}{name}", report=False,
                          init_embeddings=arm.vectors, freeze_embeddings=arm.frozen)
        runs[name] = run_benchmark(arm_cfg, registry).run
    with ResultsDB(cfg.out / "results.db", create=False) as db:
        comparisons = compare_init_runs(db, runs)
    finding = init_finding(comparisons)
    path = cfg.out / "study-init.json"
    path.write_text(json.dumps({
        "runs": runs, "claim": INIT_CLAIM, "verdict": finding.verdict,
        "evidence": finding.evidence,
        "comparisons": [{"arm": arm, "pair": c.task, "arm_mean": c.a.value,
                         "arm_ci95": c.a.ci95, "random": c.b.value, "random_ci95": c.b.ci95,
                         "outcome": c.outcome}
                        for arm, cs in comparisons.items() for c in cs]}, indent=2))
    return InitStudy(runs, comparisons, finding, path)
