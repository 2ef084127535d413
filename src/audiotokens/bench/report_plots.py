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

__all__ = ["ScatterPoint", "png_data_uri", "bitrate_scatter", "weight_bars", "cost_bars"]

_DPI = 96
TIER_ORDER = ("low", "medium", "high", "continuous")  # one colour per tier in every plot
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


def png_data_uri(fig: Any) -> str:
    """Render a Figure to PNG bytes and wrap them as a ``data:image/png;base64,...`` URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})  # no URL inside
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def bitrate_scatter(task: str, metric: str, higher_is_better: bool,
                    points: Sequence[ScatterPoint]) -> str:
    """Metric (y) against bitrate (x, log scale), one colour per tier, points labelled."""
    fig = _figure(6.0, 3.8)
    ax = fig.add_subplot()
    tiers = sorted({p.tier for p in points})
    for tier in tiers:
        i = TIER_ORDER.index(tier) if tier in TIER_ORDER else len(TIER_ORDER)
        sel = [p for p in points if p.tier == tier]
        ax.scatter([p.bitrate_bps for p in sel], [p.value for p in sel],
                   color=_COLORS[i % len(_COLORS)], label=tier, s=36, zorder=3)
    for p in points:
        ax.annotate(p.label, (p.bitrate_bps, p.value), textcoords="offset points",
                    xytext=(4, 4), fontsize=8)
    if all(p.bitrate_bps > 0 for p in points):
        ax.set_xscale("log")
    ax.set_xlabel("bitrate (bits/s)")
    ax.set_ylabel(f"{metric} ({'higher' if higher_is_better else 'lower'} is better)")
    ax.set_title(task)
    ax.grid(True, alpha=0.3)
    ax.legend(title="tier", fontsize=8)
    return png_data_uri(fig)


def weight_bars(task: str, series: Mapping[str, tuple[Sequence[str], Sequence[float]]]) -> str:
    """One bar panel per tokenizer: the mean learned weight of each codebook / layer."""
    labels = list(series)
    fig = _figure(6.0, 1.9 * len(labels) + 0.6)
    axes = fig.subplots(len(labels), 1, squeeze=False)[:, 0]
    for i, (ax, label) in enumerate(zip(axes, labels, strict=True)):
        names, weights = series[label]
        ax.bar(range(len(weights)), weights, color=_COLORS[i % len(_COLORS)])
        ax.set_xticks(range(len(names)), list(names), fontsize=8,
                      rotation=45 if len(names) > 8 else 0)
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
