"""The cells of a layer x k study, and its results read back as one grid per task.

A study cell is a semantic tokenizer over one layer of an SSL model (or several layers, one
k-means codebook each, as DASB combines them) with ``k`` clusters per codebook. Its label in
the results DB says which: ``<family>-L<layers joined by +>-k<k>``, e.g. ``hubert-L3-k100``
or ``hubert-L1+2+3-k1000``. A study runs as one bench run named
``<bench run>-layers-<model tag>`` (:data:`RUN_MARKER`), so reports and findings can find
it in any results DB (:func:`latest_layer_study`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .db import ResultsDB
from .ranking import RankedScore, Ranking, TaskRanking, rank_results

__all__ = ["RUN_MARKER", "DEFAULT_KS", "SSL_MINUTES", "SSL_LAYERS",
           "GridCell", "TaskGrid", "grid_cells",
           "parse_grid_label", "task_grids", "grid_tasks", "latest_layer_study"]

RUN_MARKER = "-layers-"
# The default grid's k, and the default model pretrained here: fit ssl's recipe with
# SSL_LAYERS transformer layers for SSL_MINUTES of wall time. The bench runs one tokenizer
# per worker, so on 2 cores the study takes ceil(cells / 2) x the time of one cell (~205 CPU
# s for 3 tasks x 3 seeds on the embedded corpus, 80 % of it the ASR heads): 2 layers x 2 k
# + the 2-layer combination at each k = 6 cells, 3 rounds: measured 892 CPU s in all and
# 15.7 min of wall time on 2 cores with other jobs running (3 layers: 8 cells, 1672 CPU s).
DEFAULT_KS = (100, 1000)
SSL_MINUTES = 3.0
SSL_LAYERS = 2
_LABEL = re.compile(r"^(?P<family>[a-z0-9]+)-L(?P<layers>\d+(?:\+\d+)*)-k(?P<k>\d+)$")


@dataclass(frozen=True)
class GridCell:
    """One setting of the grid: SSL ``family``, the quantised ``layers`` (one codebook each)
    and ``k`` clusters per codebook."""

    family: str
    layers: tuple[int, ...]
    k: int

    @property
    def label(self) -> str:
        """The tokenizer's name in the results DB, e.g. ``hubert-L1+3-k100``."""
        return f"{self.family}-L{'+'.join(map(str, self.layers))}-k{self.k}"

    @property
    def single(self) -> bool:
        """True for one layer (one codebook)."""
        return len(self.layers) == 1

    @property
    def row(self) -> str:
        """The heat map row: the layer(s), e.g. "3" or "1+2+3"."""
        return "+".join(map(str, self.layers))


def parse_grid_label(label: str) -> GridCell | None:
    """The cell named by ``label``, or None when it is not a study label."""
    m = _LABEL.match(label)
    if m is None:
        return None
    return GridCell(m["family"], tuple(int(x) for x in m["layers"].split("+")), int(m["k"]))


def grid_cells(family: str, layers: Sequence[int], ks: Sequence[int],
               combine: bool = True) -> tuple[GridCell, ...]:
    """One cell per (layer, k), then (``combine`` and several layers) all ``layers`` as
    codebooks at each k."""
    cells = [GridCell(family, (layer,), k) for layer in layers for k in ks]
    if combine and len(layers) > 1:
        cells += [GridCell(family, tuple(layers), k) for k in ks]
    return tuple(cells)


@dataclass(frozen=True)
class TaskGrid:
    """One task's scores over the grid: ``rows`` (layer settings, single layers first, as
    :attr:`GridCell.row`) x ``ks``; ``scores`` (row, k) -> the ranked score (rank: 1 =
    best, shared while 95 % CIs overlap); ``best`` the cell with the best mean and ``ties``
    the other cells its CI does not separate from it (rank 1 too)."""

    task: str
    metric: str
    higher_is_better: bool
    rows: tuple[str, ...]
    ks: tuple[int, ...]
    cells: tuple[GridCell, ...]
    scores: dict[tuple[str, int], RankedScore]
    best: GridCell
    ties: tuple[GridCell, ...]

    def score(self, cell: GridCell) -> RankedScore | None:
        """The score of ``cell`` (None when it has none on this task)."""
        return self.scores.get((cell.row, cell.k))


def _grid(task: TaskRanking) -> TaskGrid | None:
    found = [(cell, s) for s in task.scores if (cell := parse_grid_label(s.tokenizer))]
    if not found:
        return None
    cells = sorted({c for c, _ in found}, key=lambda c: (not c.single, c.layers, c.k))
    rows = tuple(dict.fromkeys(c.row for c in cells))
    sign = 1.0 if task.higher_is_better else -1.0
    # equal means: the simpler cell (one layer, then fewer clusters) wins
    best_cell, best = max(found, key=lambda cs: (sign * cs[1].value, cs[0].single, -cs[0].k))
    ties = tuple(c for c, s in found if s.rank == best.rank and c != best_cell)
    return TaskGrid(task.task, task.metric, task.higher_is_better, rows,
                    tuple(sorted({c.k for c in cells})), tuple(cells),
                    {(c.row, c.k): s for c, s in found}, best_cell, ties)


def grid_tasks(ranking: Ranking) -> list[TaskRanking]:
    """Every task ranking of every board of ``ranking`` (a study's tasks)."""
    return [t for board in ranking.boards.values() for t in board.tasks]


def task_grids(ranking: Ranking) -> list[TaskGrid]:
    """The grid of each task of ``ranking`` that has study cells, in board order."""
    return [g for t in grid_tasks(ranking) if (g := _grid(t)) is not None]


def latest_layer_study(db: ResultsDB) -> tuple[str, Ranking] | None:
    """The most recent layer x k study run in ``db`` (its name holds :data:`RUN_MARKER` and
    it has study cells) and its ranking, or None."""
    for run in reversed(db.runs()):
        if RUN_MARKER not in run:
            continue
        results = db.results(run)
        if any(parse_grid_label(r.tokenizer) for r in results if r.task != "cost"):
            return run, rank_results(results, boards=db.boards(run))
    return None
