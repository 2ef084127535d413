"""The report section of a layer x k study run: per task a heat map (layers x k, "mean ±
CI", the best cell boxed) and its table, the best setting per task, and the study's two
verdicts (number of clusters, several layers as codebooks vs the best single layer)."""

from __future__ import annotations

from .findings import cluster_count_finding, combination_finding
from .html_page import Page, escape, fmt, table
from .ranking import RankedScore, Ranking
from .report_plots import HeatCell, heatmap_png, png_data_uri
from .study_grid import TaskGrid, task_grids

__all__ = ["task_heatmap", "grid_section"]


def task_heatmap(grid: TaskGrid) -> bytes:
    """``grid`` as a PNG heat map: rows = layer(s), columns = k, the best cell boxed."""
    cells = {(row, str(k)): HeatCell(s.value, s.ci95, (row, k) == (grid.best.row, grid.best.k))
             for (row, k), s in grid.scores.items()}
    arrow = "↑" if grid.higher_is_better else "↓"
    return heatmap_png(f"{grid.task} ({grid.metric} {arrow})", grid.metric,
                       grid.higher_is_better, list(grid.rows), [str(k) for k in grid.ks],
                       cells, row_name="layer(s)")


def _cell(s: RankedScore | None, best: bool) -> str:
    if s is None:
        return '<span class="muted">–</span>'
    ci = "" if s.ci95 is None else f" ± {fmt(s.ci95)}"
    text = f"{fmt(s.value)}{ci} (#{s.rank})"
    return f"<b>{text} ★</b>" if best else text


def _grid_table(page: Page, grid: TaskGrid) -> None:
    rows = [[escape(row), *(_cell(grid.scores.get((row, k)), (row, k) == (grid.best.row,
                                                                         grid.best.k))
                            for k in grid.ks)] for row in grid.rows]
    table(page, f"grid task-{escape(grid.task)}", ["layer(s)", *(f"k={k}" for k in grid.ks)],
          rows)


def _best_rows(grids: list[TaskGrid]) -> list[list[str]]:
    out = []
    for g in grids:
        s = g.score(g.best)
        assert s is not None
        ci = "" if s.ci95 is None else f" ± {fmt(s.ci95)}"
        ties = ", ".join(escape(c.label) for c in g.ties) or "none"
        out.append([escape(g.task), escape(g.best.label), escape(g.best.row), str(g.best.k),
                    f"{fmt(s.value)}{ci} (n={s.n})", ties])
    return out


def grid_section(page: Page, ranking: Ranking) -> bool:
    """Append the study section for ``ranking`` (one run); False (nothing added) when the run
    has no study cells."""
    grids = task_grids(ranking)
    if not grids:
        return False
    page.add("<h3>Layer x k study</h3>")
    page.add('<p class="muted">One semantic tokenizer per (layer, k): one k-means codebook '
             "per layer; rows with several layers use them all as codebooks, as DASB does. "
             "Cells: mean ± 95 % CI over seeds and the rank on the task (cells whose CIs "
             "overlap share a rank); ★ and the box mark the best mean.</p>")
    for g in grids:
        page.add(f"<h4>{escape(g.task)} ({escape(g.metric)} "
                 f"{'↑' if g.higher_is_better else '↓'})</h4>")
        page.image(png_data_uri(task_heatmap(g)), f"{g.task}: layer x k heat map")
        _grid_table(page, g)
    page.add("<h4>Best setting per task</h4>")
    table(page, "grid-best", ["task", "best", "layer(s)", "k", "score",
                              "not separated from it (CI overlap)"], _best_rows(grids),
          name_cols=3)
    rows = [[escape(f.claim), f"<b>{escape(f.verdict)}</b>", escape(f.evidence)]
            for f in (cluster_count_finding(ranking), combination_finding(ranking))]
    table(page, "grid-claims", ["claim", "verdict", "evidence"], rows, name_cols=3)
    return True
