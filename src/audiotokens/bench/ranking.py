"""Leaderboards: per-task ranks with confidence intervals, one board per kind of task.

**Boards.** As in DASB, discriminative tasks (ASR, keywords, speaker, emotion) and generative
tasks (resynthesis, enhancement, TTS) are ranked separately: each board only ranks over its
own tasks, so having a decoder neither helps nor hurts on the discriminative board. The board
of a task comes from ``boards`` (task -> "discriminative" | "generative"; the runner stores it
in the results DB), else from the task registry.

**Per-task rank.** An *entry* is one (tokenizer, bitrate_tier) pair. On a task, each entry has
its primary metric's mean over seeds and a 95 % CI (a zero-width interval with one seed).
Entries whose intervals overlap are not told apart: they are joined (transitively, as the
connected parts of the interval-overlap graph) into a group that shares one rank, the
competition rank ``1 + number of entries in better groups``. So two entries share a rank
whenever their CIs overlap; a chain A~B~C shares one even if A and C alone would separate.

**Coverage.** A board's tasks are those any of its entries has. Only entries with every task of
the board are *ranked* (``position``, by mean rank over the board's tasks; equal mean ranks share
a position). An entry that misses a task (no decoder, unsupported, failed) is listed with its
coverage and its per-task ranks, but gets no position: it is not ranked against entries that
have more tasks. Every entry of the run is on every board (a continuous baseline has no
generative task: coverage 0/n).

**Chance.** A cell may record ``<primary>@chance``, the metric of a trivial predictor (majority
class, blank transcript, copying the input). An entry whose CI reaches its chance level (or,
with one seed, is not better than it) is ``at_chance`` on that task.

The ``cost`` task (bitrate, time, memory) is not a quality task and is left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .db import Result, summarize

__all__ = [
    "BOARDS",
    "RankedScore",
    "TaskRanking",
    "LeaderboardRow",
    "Leaderboard",
    "Ranking",
    "CHANCE_SUFFIX",
    "interval_ranks",
    "primary_metrics",
    "rank_results",
    "task_boards",
]

BOARDS = ("discriminative", "generative", "language")
CHANCE_SUFFIX = "@chance"
Entry = tuple[str, str]  # (tokenizer, bitrate_tier)


@dataclass(frozen=True)
class RankedScore:
    """One entry on a task: mean primary metric over ``n`` seeds, its 95 % CI half-width
    (None with one seed), its rank (1 = best, shared within a CI-overlap group), the chance
    level (None when the task records none) and whether the result is at chance."""

    tokenizer: str
    bitrate_tier: str
    value: float
    ci95: float | None
    n: int
    rank: int
    chance: float | None = None
    at_chance: bool = False

    @property
    def interval(self) -> tuple[float, float]:
        """(low, high) of the 95 % CI (the mean twice with one seed)."""
        half = self.ci95 or 0.0
        return (self.value - half, self.value + half)


@dataclass(frozen=True)
class TaskRanking:
    """All entries of a board that have ``task``, ranked on ``metric``, best first."""

    task: str
    metric: str
    higher_is_better: bool
    scores: tuple[RankedScore, ...]

    def score(self, entry: Entry) -> RankedScore | None:
        """The score of ``entry`` (None when it lacks this task)."""
        return next((s for s in self.scores if (s.tokenizer, s.bitrate_tier) == entry), None)


@dataclass(frozen=True)
class LeaderboardRow:
    """One entry of a board: ``position`` (1 = best, shared by equal mean ranks) and
    ``mean_rank`` over the board's tasks when it has all of them, else both None; ``ranks``
    per task it has; the board's tasks it is ``missing``."""

    position: int | None
    tokenizer: str
    bitrate_tier: str
    mean_rank: float | None
    ranks: dict[str, int]
    missing: tuple[str, ...]

    @property
    def n_tasks(self) -> int:
        """Tasks this entry has on its board."""
        return len(self.ranks)

    @property
    def coverage(self) -> str:
        """"tasks it has / tasks of the board", e.g. "2/3"."""
        return f"{len(self.ranks)}/{len(self.ranks) + len(self.missing)}"


@dataclass(frozen=True)
class Leaderboard:
    """``board`` is "discriminative" or "generative"; ``scope`` "all" or a bitrate tier.
    Ranked rows (best first) come before the incomplete ones."""

    board: str
    scope: str
    tasks: tuple[TaskRanking, ...]
    rows: tuple[LeaderboardRow, ...]

    @property
    def ranked(self) -> tuple[LeaderboardRow, ...]:
        """Rows with every task of the board (those with a position)."""
        return tuple(r for r in self.rows if r.position is not None)

    @property
    def incomplete(self) -> tuple[LeaderboardRow, ...]:
        """Rows missing a task of the board (listed, not ranked)."""
        return tuple(r for r in self.rows if r.position is None)


@dataclass(frozen=True)
class Ranking:
    """The boards of one run (only those with tasks), and per board one per bitrate tier."""

    primary: dict[str, str]
    boards: dict[str, Leaderboard]
    tiers: dict[str, dict[str, Leaderboard]]


def interval_ranks(intervals: Sequence[tuple[float, float]], means: Sequence[float],
                   higher_is_better: bool) -> list[int]:
    """Competition ranks (1 = best) where overlapping intervals share a rank.

    ``intervals[i]`` is entry i's (low, high) CI; the connected parts of the overlap graph form
    groups ordered by their best mean; every entry of a group gets ``1 + entries in better
    groups``. Zero-width intervals (one seed) tie only on equal values.
    """
    if len(intervals) != len(means):
        raise ValueError(f"{len(intervals)} intervals but {len(means)} means")
    order = sorted(range(len(intervals)), key=lambda i: intervals[i][0])
    groups: list[list[int]] = []
    reach = -math.inf
    for i in order:
        low, high = intervals[i]
        if groups and low <= reach:
            groups[-1].append(i)
            reach = max(reach, high)
        else:
            groups.append([i])
            reach = high
    sign = -1.0 if higher_is_better else 1.0
    groups.sort(key=lambda g: min(sign * means[i] for i in g))
    ranks = [0] * len(means)
    done = 0
    for g in groups:
        for i in g:
            ranks[i] = done + 1
        done += len(g)
    return ranks


def primary_metrics(results: Iterable[Result], declared: Mapping[str, str] | None = None,
                    exclude_tasks: Sequence[str] = ("cost",)) -> dict[str, str]:
    """task -> primary metric: ``declared`` first, else the first metric recorded per task
    (references such as ``cer@chance`` never count).

    A declared metric that no result of that task has raises ValueError naming the choices.
    """
    declared = dict(declared or {})
    seen: dict[str, list[str]] = {}
    for r in results:
        if r.task in exclude_tasks or "@" in r.metric:
            continue
        if r.metric not in seen.setdefault(r.task, []):
            seen[r.task].append(r.metric)
    for task, metric in declared.items():
        if task in seen and metric not in seen[task]:
            raise ValueError(f"task '{task}' has no metric '{metric}'; recorded: {seen[task]}")
    return {task: declared.get(task, metrics[0]) for task, metrics in seen.items()}


def task_boards(tasks: Iterable[str], known: Mapping[str, str] | None = None) -> dict[str, str]:
    """task -> board, from ``known`` (e.g. the results DB) else the task registry.

    A task in neither raises ValueError naming it and the boards.
    """
    from .tasks import TASK_FACTORIES, make_task, task_board

    out = {}
    for task in tasks:
        board = (known or {}).get(task)
        if board is None and task in TASK_FACTORIES:
            board = task_board(make_task(task))
        if board not in BOARDS:
            raise ValueError(f"task '{task}': unknown board {board!r}; give one of {BOARDS}")
        out[task] = board
    return out


def _task_ranking(task: str, metric: str, entries: list[Entry],
                  stats: Mapping[tuple[str, str, str], RankedScore],
                  direction: bool) -> TaskRanking | None:
    present = [e for e in entries if (*e, task) in stats]
    if not present:
        return None
    scores = [stats[(*e, task)] for e in present]
    ranks = interval_ranks([s.interval for s in scores], [s.value for s in scores], direction)
    ranked = [RankedScore(s.tokenizer, s.bitrate_tier, s.value, s.ci95, s.n, rank, s.chance,
                          s.at_chance) for s, rank in zip(scores, ranks, strict=True)]
    ranked.sort(key=lambda s: (s.rank, -s.value if direction else s.value, s.tokenizer))
    return TaskRanking(task, metric, direction, tuple(ranked))


def _leaderboard(board: str, scope: str, entries: list[Entry], tasks: list[str],
                 primary: Mapping[str, str], stats: Mapping[tuple[str, str, str], RankedScore],
                 direction: Mapping[str, bool]) -> Leaderboard:
    rankings = [t for task in tasks
                if (t := _task_ranking(task, primary[task], entries, stats, direction[task]))]
    names = [t.task for t in rankings]
    ranks: dict[Entry, dict[str, int]] = {e: {} for e in entries}
    for t in rankings:
        for s in t.scores:
            ranks[(s.tokenizer, s.bitrate_tier)][t.task] = s.rank
    full = [e for e in entries if ranks[e] and len(ranks[e]) == len(names)]
    mean = {e: math.fsum(ranks[e].values()) / len(names) for e in full}
    full.sort(key=lambda e: (mean[e], e))
    rows = []
    for e in full:
        position = 1 + sum(mean[o] < mean[e] - 1e-12 for o in full)
        rows.append(LeaderboardRow(position, e[0], e[1], mean[e], dict(ranks[e]), ()))
    partial = sorted((e for e in entries if e not in mean),
                     key=lambda e: (-len(ranks[e]), e))
    for e in partial:
        rows.append(LeaderboardRow(None, e[0], e[1], None, dict(ranks[e]),
                                   tuple(t for t in names if t not in ranks[e])))
    return Leaderboard(board, scope, tuple(rankings), tuple(rows))


def _at_chance(value: float, ci95: float | None, chance: float | None, hib: bool) -> bool:
    if chance is None:
        return False
    if hib:
        return value - (ci95 or 0.0) <= chance
    return value + (ci95 or 0.0) >= chance


def _stats(results: list[Result], primary: Mapping[str, str]
           ) -> tuple[dict[tuple[str, str, str], RankedScore], dict[str, bool]]:
    """(tokenizer, tier, task) -> score with CI and chance; task -> higher_is_better."""
    chance = {(s.tokenizer, s.bitrate_tier, s.task): s.mean for s in summarize(
        r for r in results if r.metric == primary.get(r.task, "") + CHANCE_SUFFIX)}
    stats: dict[tuple[str, str, str], RankedScore] = {}
    direction: dict[str, bool] = {}
    for s in summarize(r for r in results if primary.get(r.task) == r.metric):
        if direction.setdefault(s.task, s.higher_is_better) != s.higher_is_better:
            raise ValueError(f"task '{s.task}' metric '{s.metric}': results disagree on "
                             "higher_is_better")
        key = (s.tokenizer, s.bitrate_tier, s.task)
        level = chance.get(key)
        stats[key] = RankedScore(s.tokenizer, s.bitrate_tier, s.mean, s.ci95, s.n, 0, level,
                                 _at_chance(s.mean, s.ci95, level, s.higher_is_better))
    return stats, direction


def rank_results(results: Iterable[Result], primary: Mapping[str, str] | None = None,
                 boards: Mapping[str, str] | None = None,
                 exclude_tasks: Sequence[str] = ("cost",)) -> Ranking:
    """The leaderboards (per board, and per board and bitrate tier) of **one** run.

    ``boards`` maps task -> board (see :func:`task_boards`). Raises ValueError if results span
    several runs or a primary metric's direction is inconsistent.
    """
    results = list(results)
    runs = sorted({r.run for r in results})
    if len(runs) > 1:
        raise ValueError(f"rank one run at a time; these results span runs {runs}")
    chosen = primary_metrics(results, primary, exclude_tasks)
    board_of = task_boards(chosen, boards)
    stats, direction = _stats(results, chosen)
    entries: list[Entry] = list(dict.fromkeys(
        (r.tokenizer, r.bitrate_tier) for r in results if r.task in chosen))
    out: dict[str, Leaderboard] = {}
    tiers: dict[str, dict[str, Leaderboard]] = {}
    for board in BOARDS:
        tasks = sorted(t for t in chosen if board_of[t] == board)
        if not tasks:
            continue
        out[board] = _leaderboard(board, "all", entries, tasks, chosen, stats, direction)
        tiers[board] = {tier: _leaderboard(board, tier, [e for e in entries if e[1] == tier],
                                           tasks, chosen, stats, direction)
                        for tier in sorted({e[1] for e in entries})}
    return Ranking(primary=chosen, boards=out, tiers=tiers)
