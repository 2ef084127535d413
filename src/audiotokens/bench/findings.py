"""The seed's claims about audio tokens, checked against one run's results.

Each claim compares the best entry of one group of tokenizers with the best of another on a
set of tasks, using the leaderboard's per-task scores (mean and 95 % CI over seeds). On a
task, group A is *better* when its best entry's CI lies entirely on the better side of group
B's best entry's CI, *worse* in the mirror case, else the task is a *tie*. The verdict:

- **holds** when A is better on more than half of the tasks compared;
- **does not hold** when B is better on at least half of them;
- **inconclusive** otherwise (mostly overlapping CIs), or when a group has fewer than two
  seeds of evidence;
- **not measured** when the run has no task or no entry for the comparison (e.g. the
  number-of-clusters claim needs a layer x k study).

The number-of-clusters claim is read from a layer x k study (:mod:`.study_grid`): the run
itself when it is one, else the latest study run of the same results DB. Its groups are the
study's single-layer cells with k in 1000-2000 and those with any other k; the best of each
is compared on every task (whatever layer it is), as above.

Families come from the DB (``TokenizerInfo.kind``: "semantic", "codec", "sample",
"continuous"). Everything is computed from the results; nothing is written by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from .ranking import RankedScore, Ranking, TaskRanking
from .study_grid import GridCell, grid_tasks, parse_grid_label

__all__ = ["VERDICTS", "CLUSTERS_CLAIM", "COMBINATION_CLAIM", "DATA_CLAIM", "INIT_CLAIM",
           "Finding", "TaskComparison",
           "compare_groups", "compare_scores", "cluster_count_finding", "combination_finding",
           "seed_findings"]

VERDICTS = ("holds", "does not hold", "inconclusive", "not measured")
CLUSTERS_CLAIM = "1000-2000 clusters are usually best"
COMBINATION_CLAIM = "Several layers as codebooks (DASB) beat the best single layer"
DATA_CLAIM = "In-domain clustering data beats out-of-domain, but not hugely"
INIT_CLAIM = "Initialising embeddings from k-means centroids gives no gain"
CLUSTER_RANGE = (1000, 2000)


@dataclass(frozen=True)
class TaskComparison:
    """Group A's best entry against group B's on one task: "better", "worse" or "tie" for A."""

    task: str
    a: RankedScore
    b: RankedScore
    outcome: str


@dataclass(frozen=True)
class Finding:
    """One claim, its verdict (one of :data:`VERDICTS`), the per-task comparisons behind it
    and a plain sentence of evidence."""

    claim: str
    verdict: str
    evidence: str
    comparisons: tuple[TaskComparison, ...] = ()


def _best(task: TaskRanking, members: set[str]) -> RankedScore | None:
    scores = [s for s in task.scores if s.tokenizer in members]
    if not scores:
        return None
    return max(scores, key=lambda s: s.value if task.higher_is_better else -s.value)


def compare_scores(a: RankedScore, b: RankedScore, higher_is_better: bool) -> str:
    """"better", "worse" or "tie" for ``a`` against ``b``: better when ``a``'s 95 % CI lies
    entirely on the better side of ``b``'s."""
    (a_lo, a_hi), (b_lo, b_hi) = a.interval, b.interval
    if higher_is_better:
        return "better" if a_lo > b_hi else "worse" if a_hi < b_lo else "tie"
    return "better" if a_hi < b_lo else "worse" if a_lo > b_hi else "tie"


def compare_groups(claim: str, tasks: list[TaskRanking], group_a: set[str], group_b: set[str],
                   names: tuple[str, str]) -> Finding:
    """The verdict on "group A beats group B on most of ``tasks``" (see the module doc);
    ``names`` are the two groups' names for the evidence sentence."""
    comparisons = []
    for t in tasks:
        a, b = _best(t, group_a), _best(t, group_b)
        if a is not None and b is not None:
            comparisons.append(TaskComparison(t.task, a, b,
                                              compare_scores(a, b, t.higher_is_better)))
    if not comparisons:
        return Finding(claim, "not measured", f"no task of this run has both {names[0]} and "
                                              f"{names[1]} entries")
    n = len(comparisons)
    better = sum(c.outcome == "better" for c in comparisons)
    worse = sum(c.outcome == "worse" for c in comparisons)
    detail = "; ".join(f"{c.task}: {c.a.tokenizer} {c.a.value:.3g} vs {c.b.tokenizer} "
                       f"{c.b.value:.3g} ({c.outcome})" for c in comparisons)
    seeds = min(min(c.a.n, c.b.n) for c in comparisons)
    counts = f"{names[0]} better on {better} of {n} task(s), worse on {worse}"
    if seeds < 2:
        return Finding(claim, "inconclusive", f"one seed: no CI ({counts}; {detail})",
                       tuple(comparisons))
    if better * 2 > n:
        verdict = "holds"
    elif worse * 2 >= n:
        verdict = "does not hold"
    else:
        verdict = "inconclusive"
    return Finding(claim, verdict, f"{counts}, CIs overlapping on the rest ({detail})",
                   tuple(comparisons))


def _family(families: Mapping[str, str], *kinds: str) -> set[str]:
    return {tok for tok, kind in families.items() if kind in kinds}


def _study_labels(ranking: Ranking, keep: Callable[[GridCell], bool]) -> set[str]:
    """Study-cell labels of ``ranking`` whose :class:`GridCell` passes ``keep``."""
    return {s.tokenizer for t in grid_tasks(ranking) for s in t.scores
            if (cell := parse_grid_label(s.tokenizer)) is not None and keep(cell)}


def cluster_count_finding(ranking: Ranking, source: str = "this run") -> Finding:
    """:data:`CLUSTERS_CLAIM` on a layer x k study's ranking: the best single-layer cell with
    k in 1000-2000 against the best with any other k, per task (``source`` names the study
    in the evidence)."""
    low, high = CLUSTER_RANGE
    single = _study_labels(ranking, lambda c: c.single)
    inside = _study_labels(ranking, lambda c: c.single and low <= c.k <= high)
    found = compare_groups(CLUSTERS_CLAIM, grid_tasks(ranking), inside, single - inside,
                           (f"k in {low}-{high}", "other k"))
    if found.verdict == "not measured":
        ks = sorted({c.k for t in single if (c := parse_grid_label(t))})
        return replace(found, evidence=f"{source}: the layer x k study's single-layer k are "
                                       f"{ks or 'none'}; it needs k in {low}-{high} and "
                                       "another k")
    return replace(found, evidence=f"{source}: {found.evidence}")


def combination_finding(ranking: Ranking, source: str = "this run") -> Finding:
    """:data:`COMBINATION_CLAIM` on a layer x k study's ranking: its best multi-layer cell
    against its best single-layer cell, per task."""
    multi = _study_labels(ranking, lambda c: not c.single)
    single = _study_labels(ranking, lambda c: c.single)
    found = compare_groups(COMBINATION_CLAIM, grid_tasks(ranking), multi, single,
                           ("multi-layer", "single layer"))
    return replace(found, evidence=f"{source}: {found.evidence}")


def seed_findings(ranking: Ranking, families: Mapping[str, str],
                  study: tuple[str, Ranking] | None = None,
                  measured: Sequence[Finding] = ()) -> list[Finding]:
    """The seed's six claims, checked on ``ranking`` (one run) with ``families`` (tokenizer ->
    kind); the number-of-clusters claim on this run when it is a layer x k study, else on
    ``study`` (run name, ranking: see :func:`.study_grid.latest_layer_study`). ``measured``:
    findings of other studies (:data:`DATA_CLAIM`, :data:`INIT_CLAIM`) that take the place
    of those claims. Claims without evidence are "not measured", with what would measure
    them."""
    board = ranking.boards.get("discriminative")
    disc = list(board.tasks) if board else []
    semantic, codec = _family(families, "semantic"), _family(families, "codec")
    discrete = _family(families, "semantic", "codec", "sample")
    continuous = _family(families, "continuous")
    findings = [
        compare_groups("Semantic tokens beat compression tokens on most discriminative tasks",
                       disc, semantic, codec, ("semantic", "codec")),
        compare_groups("Codec tokens keep speaker identity better than semantic tokens",
                       [t for t in disc if t.task.startswith("spkid")], codec, semantic,
                       ("codec", "semantic")),
        compare_groups("Discrete tokens are far from continuous features (continuous wins)",
                       disc, continuous, discrete, ("continuous", "discrete")),
    ]
    if _study_labels(ranking, lambda c: True):
        findings.append(cluster_count_finding(ranking))
    elif study is not None:
        findings.append(cluster_count_finding(study[1], f"study run {study[0]}"))
    else:
        findings.append(Finding(CLUSTERS_CLAIM, "not measured", "needs a layer x k study "
                                "(audiotokens study layers); this results DB has none"))
    by_claim = {f.claim: f for f in measured}
    for claim, how in ((DATA_CLAIM, "a clustering-data study: audiotokens study data"),
                       (INIT_CLAIM, "an embedding-initialisation study: audiotokens study "
                                    "init")):
        findings.append(by_claim.get(claim) or Finding(
            claim, "not measured", f"needs {how}; this results DB has none"))
    return findings
