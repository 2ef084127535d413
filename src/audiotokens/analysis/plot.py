"""The token -> phone map as a heat map PNG (matplotlib Figure + Agg canvas, no pyplot state)."""

from __future__ import annotations

import io

import numpy as np

from .phones import PhoneInventory, PhoneScores

__all__ = ["token_phone_png"]

_DPI = 110
MAX_TICK_LABELS = 60  # token ids are written under the x axis up to this many tokens


def token_phone_png(scores: PhoneScores, inventory: PhoneInventory, title: str) -> bytes:
    """``p(phone | token)`` as a heat map, PNG bytes.

    Columns: used tokens, grouped by their most likely phone (in inventory order) and within
    a group by that phone's probability; rows: phones with frames. A token whose column is
    one bright cell stands for one phone.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    given = scores.phones_given_token
    used = np.flatnonzero(scores.counts.sum(axis=0))
    rows = np.flatnonzero(scores.counts.sum(axis=1))
    best = given[:, used].argmax(axis=0)
    order = used[np.lexsort((-given[best, used], best))]
    table = given[np.ix_(rows, order)]
    width = min(max(7.0, 0.12 * len(order) + 2.0), 24.0)
    height = min(max(3.0, 0.2 * len(rows) + 1.5), 14.0)
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(table, aspect="auto", interpolation="nearest", cmap="viridis",
                      vmin=0.0, vmax=1.0)
    ax.set_yticks(range(len(rows)), [inventory.phones[y] for y in rows], fontsize=7)
    if len(order) <= MAX_TICK_LABELS:
        ax.set_xticks(range(len(order)), [str(z) for z in order], fontsize=6, rotation=90)
    else:  # columns are reordered: positions are not ids (the CSVs name every token)
        ax.set_xticks([])
    ax.set_xlabel(f"token ({len(order)} used), grouped by most likely phone")
    ax.set_ylabel("phone")
    ax.set_title(f"{title}: p(phone | token), PNMI {scores.pnmi:.3f}, "
                 f"phone purity {scores.phone_purity:.3f}", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8, label="p(phone | token)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()
