"""Leaderboards: per-task ranks of each tokenizer, averaged across tasks.

An *entry* is one (tokenizer, bitrate_tier) pair (the DESIGN's "one row per tokenizer and
bitrate"). For each task, entries are ranked on the task's **primary metric** (mean over
seeds), best = rank 1, ties share the average of the ranks they span. An entry's score is the
mean of its ranks over the tasks it has; tasks it lacks (e.g. no decoder for a generative task)
are listed in ``missing`` instead of being silently dropped. Entries with fewer tasks are not
penalised in the mean, so read ``missing`` next to it. Rows sort by mean rank, then by fewer
missing tasks, then by name.

Primary metric of a task: the one declared in ``primary`` (task -> metric) when given, else the
**first metric recorded for that task** (the runner stores a task's headline metric first).
The ``cost`` task (bitrate, time, memory) is not a quality task and is left out by default.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .db import Result, summarize

__all__ = [
    "RankedScore",
    "TaskRanking",
    "LeaderboardRow",
    "Leaderboard",
    "Ranking",
    "average_ranks",
    "primary_metrics",
    "rank_results",
]

Entry = tuple[str, str]  # (tokenizer, bitrate_tier)


@dataclass(frozen=True)
class RankedScore:
    """One entry's mean primary-metric value on a task and its rank (1 = best)."""

    tokenizer: str
    bitrate_tier: str
    value: float
    rank: float


@dataclass(frozen=True)
class TaskRanking:
    """All entries that have ``task``, ranked on ``metric``; ``scores`` sorted best first."""

    task: str
    metric: str
    higher_is_better: bool
    scores: tuple[RankedScore, ...]


@dataclass(frozen=True)
class LeaderboardRow:
    """One entry: ``position`` (1-based), ``mean_rank`` over its tasks (None if it has none),
    ``ranks`` per task it has, and the leaderboard's tasks it is ``missing``."""

    position: int
    tokenizer: str
    bitrate_tier: str
    mean_rank: float | None
    ranks: dict[str, float]
    missing: tuple[str, ...]

    @property
    def n_tasks(self) -> int:
        """Tasks this entry was ranked on."""
        return len(self.ranks)


@dataclass(frozen=True)
class Leaderboard:
    """``scope`` is "overall" or a bitrate tier; ``tasks`` are ranked among this scope only
    (a task no entry of the scope has is absent from ``tasks`` and in every row's missing)."""

    scope: str
    tasks: tuple[TaskRanking, ...]
    rows: tuple[LeaderboardRow, ...]


@dataclass(frozen=True)
class Ranking:
    """The overall leaderboard and one per bitrate tier (tiers sorted by name)."""

    primary: dict[str, str]
    overall: Leaderboard
    tiers: dict[str, Leaderboard]


def average_ranks(values: Sequence[float], higher_is_better: bool) -> list[float]:
    """Rank values (1 = best); tied values share the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: -values[i] if higher_is_better else values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        shared = (start + end) / 2 + 1  # mean of 1-based ranks start+1 .. end+1
        for k in range(start, end + 1):
            ranks[order[k]] = shared
        start = end + 1
    return ranks


def primary_metrics(results: Iterable[Result], declared: Mapping[str, str] | None = None,
                    exclude_tasks: Sequence[str] = ("cost",)) -> dict[str, str]:
    """task -> primary metric: ``declared`` first, else the first metric recorded per task.

    A declared metric that no result of that task has raises ValueError naming the choices.
    """
    declared = dict(declared or {})
    seen: dict[str, list[str]] = {}
    for r in results:
        if r.task not in exclude_tasks and r.metric not in seen.setdefault(r.task, []):
            seen[r.task].append(r.metric)
    for task, metric in declared.items():
        if task in seen and metric not in seen[task]:
            raise ValueError(f"task '{task}' has no metric '{metric}'; recorded: {seen[task]}")
    return {task: declared.get(task, metrics[0]) for task, metrics in seen.items()}


def _leaderboard(scope: str, entries: list[Entry], means: dict[tuple[str, str, str], float],
                 primary: dict[str, str], direction: dict[str, bool]) -> Leaderboard:
    tasks = []
    per_entry: dict[Entry, dict[str, float]] = {e: {} for e in entries}
    for task in sorted(primary):
        present = [e for e in entries if (*e, task) in means]
        if not present:
            continue
        values = [means[(*e, task)] for e in present]
        ranks = average_ranks(values, direction[task])
        for e, rank in zip(present, ranks, strict=True):
            per_entry[e][task] = rank
        scores = sorted((RankedScore(e[0], e[1], v, r)
                         for e, v, r in zip(present, values, ranks, strict=True)),
                        key=lambda s: (s.rank, s.tokenizer, s.bitrate_tier))
        tasks.append(TaskRanking(task, primary[task], direction[task], tuple(scores)))
    task_names = sorted(primary)  # every task of the run: a tier lacking one lists it

    def sort_key(e: Entry) -> tuple[float, int, str, str]:
        ranks = per_entry[e]
        mean = math.fsum(ranks.values()) / len(ranks) if ranks else math.inf
        return (mean, len(task_names) - len(ranks), e[0], e[1])

    rows = []
    for position, e in enumerate(sorted(entries, key=sort_key), start=1):
        ranks = per_entry[e]
        rows.append(LeaderboardRow(
            position=position, tokenizer=e[0], bitrate_tier=e[1],
            mean_rank=math.fsum(ranks.values()) / len(ranks) if ranks else None,
            ranks={t: ranks[t] for t in task_names if t in ranks},
            missing=tuple(t for t in task_names if t not in ranks),
        ))
    return Leaderboard(scope, tuple(tasks), tuple(rows))


def rank_results(results: Iterable[Result], primary: Mapping[str, str] | None = None,
                 exclude_tasks: Sequence[str] = ("cost",)) -> Ranking:
    """Leaderboards (overall + per tier) for the results of **one** run.

    Values are averaged over seeds first. Raises ValueError if results span several runs or
    if a primary metric's direction (higher_is_better) is inconsistent.
    """
    results = list(results)
    runs = sorted({r.run for r in results})
    if len(runs) > 1:
        raise ValueError(f"rank one run at a time; these results span runs {runs}")
    chosen = primary_metrics(results, primary, exclude_tasks)
    entries: list[Entry] = []
    for r in results:
        if r.task not in exclude_tasks and (r.tokenizer, r.bitrate_tier) not in entries:
            entries.append((r.tokenizer, r.bitrate_tier))
    means: dict[tuple[str, str, str], float] = {}
    direction: dict[str, bool] = {}
    for s in summarize(r for r in results if chosen.get(r.task) == r.metric):
        if direction.setdefault(s.task, s.higher_is_better) != s.higher_is_better:
            raise ValueError(f"task '{s.task}' metric '{s.metric}': results disagree on "
                             "higher_is_better")
        means[(s.tokenizer, s.bitrate_tier, s.task)] = s.mean
    overall = _leaderboard("overall", entries, means, chosen, direction)
    tiers = {
        tier: _leaderboard(tier, [e for e in entries if e[1] == tier], means, chosen, direction)
        for tier in sorted({e[1] for e in entries})
    }
    return Ranking(primary=chosen, overall=overall, tiers=tiers)
