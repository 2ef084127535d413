"""Embedding-initialisation study: the same benchmark with token heads started from random
tables and from the tokenizer's codebook vectors (k-means centroids, rvq codebooks).

Both arms run into one results DB as runs ``<run>-init-random`` and ``<run>-init-vectors``
(resumable like any bench run). Per (tokenizer, task) the primary metric's CIs decide
whether the vectors arm is better, worse or tied; the seed reports no gain from centroid
initialisation, so the claim "no gain" **holds** when the vectors arm is better beyond the CIs
nowhere, **does not hold** when it is better on more than half the pairs, and is
**inconclusive** in between (or with one seed). Only heads whose training artifact says they
started from vectors are compared: tokenizers without vectors (Codec2, mu-law, transformers
codecs, continuous features) run identically in both arms.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from ..tokenizers.registry import REGISTRY, Registry
from .db import ResultsDB
from .findings import TaskComparison, compare_scores
from .ranking import rank_results
from .runner import BenchConfig, run_benchmark

__all__ = ["InitStudy", "run_init_study", "ARMS"]

ARMS = ("random", "vectors")


@dataclass(frozen=True)
class InitStudy:
    """The two runs, per-(tokenizer, task) comparisons (``a`` = vectors, ``b`` = random),
    the verdict on "centroid init gives no gain" and where the JSON summary went."""

    runs: tuple[str, str]
    comparisons: tuple[TaskComparison, ...]
    verdict: str
    path: Path


def _verdict(comparisons: list[TaskComparison]) -> str:
    gains = sum(c.outcome == "better" for c in comparisons)
    if not comparisons:
        return "not measured"
    if min(min(c.a.n, c.b.n) for c in comparisons) < 2:
        return "inconclusive"
    if gains == 0:
        return "holds"
    return "does not hold" if gains * 2 > len(comparisons) else "inconclusive"


def run_init_study(cfg: BenchConfig, registry: Registry = REGISTRY) -> InitStudy:
    """Run both arms of ``cfg`` (its ``run`` name, or the default one, gets the arm suffix)
    and compare them; writes ``out/study-init.json``."""
    runs = []
    for arm in ARMS:
        arm_cfg = replace(cfg, run=f"{cfg.run_name}-init-{arm}", init_embeddings=arm == "vectors",
                          report=False)
        runs.append(run_benchmark(arm_cfg, registry).run)
    with ResultsDB(cfg.out / "results.db", create=False) as db:
        rankings = [rank_results(db.results(run), db.primaries(run), boards=db.boards(run))
                    for run in runs]
        initialised = {(a.tokenizer, a.task) for a in db.artifacts(runs[1], "training")
                       if json.loads(a.payload).get("init") == "vectors"}
    baseline = {t.task: t for board in rankings[0].boards.values() for t in board.tasks}
    comparisons = []
    for t in (t for board in rankings[1].boards.values() for t in board.tasks):
        for a in t.scores:
            b = baseline[t.task].score((a.tokenizer, a.bitrate_tier)) \
                if t.task in baseline else None
            if (a.tokenizer, t.task) in initialised and b is not None:
                comparisons.append(TaskComparison(f"{a.tokenizer} / {t.task}", a, b,
                                                  compare_scores(a, b, t.higher_is_better)))
    verdict = _verdict(comparisons)
    path = cfg.out / "study-init.json"
    path.write_text(json.dumps({
        "runs": runs, "claim": "initialising embeddings from codebook vectors gives no gain",
        "verdict": verdict,
        "comparisons": [{"pair": c.task, "vectors": c.a.value, "vectors_ci95": c.a.ci95,
                         "random": c.b.value, "random_ci95": c.b.ci95, "outcome": c.outcome}
                        for c in comparisons]}, indent=2))
    return InitStudy((runs[0], runs[1]), tuple(comparisons), verdict, path)
