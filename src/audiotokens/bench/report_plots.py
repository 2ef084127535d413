"""Matplotlib figures for the HTML report, returned as ``data:image/png;base64`` URIs.

Uses ``matplotlib.figure.Figure`` with the Agg canvas directly (no pyplot state, no display),
so figures are thread-safe and never leak between reports.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ScatterPoint", "HeatCell", "png_bytes", "png_data_uri", "bitrate_scatter",
           "validation_curves", "weight_bars", "cost_bars", "heatmap_png"]

_DPI = 96
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#17becf", "#7f7f7f", "#bcbd22")


@dataclass(frozen=True)
class ScatterPoint:
    """One entry on a bitrate-vs-quality plot: bitrate in bits/s, the task's metric value."""

    label: str
    tier: str
    bitrate_bps: float
    value: float


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Any) -> bytes:
    """Render a Figure to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})  # no URL inside
    return buf.getvalue()


def png_data_uri(fig: Any) -> str:
    """Render a Figure to PNG bytes and wrap them as a ``data:image/png;base64,...`` URI
    (a Figure, or PNG bytes already rendered)."""
    data = fig if isinstance(fig, bytes) else png_bytes(fig)
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def bitrate_scatter(task: str, metric: str, higher_is_better: bool,
                    points: Sequence[ScatterPoint]) -> str:
    """Metric (y) against bitrate (x, log scale): one colour and marker per entry, named in
    a legend beside the axes (labels on the points would overlap when values are close)."""
    fig = _figure(7.0, 3.8)
    ax = fig.add_subplot()
    for i, p in enumerate(points):
        ax.scatter([p.bitrate_bps], [p.value], color=_COLORS[i % len(_COLORS)],
                   marker=_MARKERS[i % len(_MARKERS)], s=46, zorder=3,
                   label=f"{p.label} ({p.tier})")
    if all(p.bitrate_bps > 0 for p in points):
        ax.set_xscale("log")
    ax.set_xlabel("bitrate (bits/s)")
    ax.set_ylabel(f"{metric} ({'higher' if higher_is_better else 'lower'} is better)")
    ax.set_title(task)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    return png_data_uri(fig)


def validation_curves(task: str, metric: str, higher_is_better: bool,
                      series: Mapping[str, Sequence[Sequence[tuple[float, float]]]]) -> str:
    """Validation ``metric`` against training step: one colour per tokenizer, one line per
    seed (``series``: tokenizer -> per seed [(step, value), ...])."""
    fig = _figure(7.0, 3.4)
    ax = fig.add_subplot()
    for i, (label, lines) in enumerate(series.items()):
        for k, line in enumerate(lines):
            ax.plot([x for x, _ in line], [y for _, y in line], color=_COLORS[i % len(_COLORS)],
                    alpha=0.85, lw=1.2, marker=".", label=label if k == 0 else None)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"valid {metric} ({'higher' if higher_is_better else 'lower'} is better)")
    ax.set_title(f"{task}: validation curves")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    return png_data_uri(fig)


def weight_bars(task: str, series: Mapping[str, tuple[Sequence[str], Sequence[float]]]) -> str:
    """One bar panel per tokenizer: the mean learned weight of each codebook / layer."""
    labels = list(series)
    fig = _figure(7.0, 2.2 * len(labels) + 0.6)
    axes = fig.subplots(len(labels), 1, squeeze=False)[:, 0]
    for i, (ax, label) in enumerate(zip(axes, labels, strict=True)):
        names, weights = series[label]
        ax.bar(range(len(weights)), weights, color=_COLORS[i % len(_COLORS)])
        crowded = len(names) > 6 or sum(len(n) for n in names) > 48
        ax.set_xticks(range(len(names)), list(names), fontsize=7 if crowded else 8,
                      rotation=90 if crowded else 0)
        ax.set_ylabel("weight")
        ax.set_title(label, fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(f"{task}: codebook weights")
    return png_data_uri(fig)


def cost_bars(metrics: Mapping[str, Mapping[str, float]]) -> str:
    """One horizontal-bar panel per cost metric (metric -> {entry label: value})."""
    names = list(metrics)
    fig = _figure(6.0, 1.0 + 0.35 * sum(len(v) + 2 for v in metrics.values()))
    axes = fig.subplots(len(names), 1, squeeze=False)[:, 0]
    for ax, metric in zip(axes, names, strict=True):
        labels = list(metrics[metric])
        values = [metrics[metric][k] for k in labels]
        ax.barh(range(len(labels)), values, color=_COLORS[0])
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(metric, fontsize=9)
        ax.grid(True, axis="x", alpha=0.3)
    return png_data_uri(fig)


@dataclass(frozen=True)
class HeatCell:
    """One cell of a heat map: its mean, 95 % CI half-width (None with one seed) and whether
    it is the marked (best) cell."""

    value: float
    ci95: float | None = None
    best: bool = False


def heatmap_png(title: str, metric: str, higher_is_better: bool, rows: Sequence[str],
                cols: Sequence[str], cells: Mapping[tuple[str, str], HeatCell],
                row_name: str = "layer", col_name: str = "k") -> bytes:
    """A rows x cols heat map as PNG bytes: colour by value (darker = better, whichever the
    direction), cell text "mean ± ci", the best cell boxed; missing cells left blank."""
    import numpy as np
    from matplotlib.patches import Rectangle

    grid = np.full((len(rows), len(cols)), np.nan)
    for (r, c), cell in cells.items():
        grid[rows.index(r), cols.index(c)] = cell.value
    fig = _figure(1.6 + 1.25 * len(cols), 1.3 + 0.62 * len(rows))
    ax = fig.add_subplot()
    cmap = "Blues" if higher_is_better else "Blues_r"
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, aspect="auto")
    fig.colorbar(image, ax=ax, label=f"{metric} ({'higher' if higher_is_better else 'lower'}"
                                     " is better)")
    finite = grid[np.isfinite(grid)]
    middle = float(finite.mean()) if finite.size else 0.0
    for (r, c), cell in cells.items():
        i, j = rows.index(r), cols.index(c)
        text = f"{cell.value:.3g}" + ("" if cell.ci95 is None else f"\n± {cell.ci95:.2g}")
        dark = (cell.value > middle) == higher_is_better
        ax.text(j, i, text, ha="center", va="center", fontsize=8,
                color="white" if dark else "black", fontweight="bold" if cell.best else None)
        if cell.best:
            ax.add_patch(Rectangle((j - 0.48, i - 0.48), 0.96, 0.96, fill=False, lw=2.2,
                                   edgecolor="#d62728"))
    ax.set_xticks(range(len(cols)), list(cols))
    ax.set_yticks(range(len(rows)), list(rows))
    ax.set_xlabel(col_name)
    ax.set_ylabel(row_name)
    ax.set_title(title, fontsize=10)
    return png_bytes(fig)
