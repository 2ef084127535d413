"""The pieces the HTML reports are built from: a page of parts, escaping, numbers, tables."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

__all__ = ["Page", "escape", "fmt", "table"]


@dataclass
class Page:
    """An HTML body under construction: its parts, and counts of images, audio and notes."""

    parts: list[str] = field(default_factory=list)
    n_images: int = 0
    n_audio: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        """Append already-escaped HTML."""
        self.parts.append(text)

    def note(self, text: str) -> None:
        """A highlighted note (plain text), also kept in ``notes``."""
        self.notes.append(text)
        self.add(f'<p class="note">{escape(text)}</p>')

    def image(self, uri: str, alt: str) -> None:
        """A figure from an image URI (e.g. ``data:image/png;base64,...``)."""
        self.n_images += 1
        self.add(f'<figure><img src="{uri}" alt="{escape(alt)}"></figure>')


def escape(value: object) -> str:
    """``value`` as text safe inside HTML (quotes too)."""
    return html.escape(str(value), quote=True)


def fmt(value: float | None) -> str:
    """A number for a table: 4 significant digits, thousands grouped from 10 000, "–" for
    None."""
    if value is None:
        return "–"
    if abs(value) >= 1e4:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def table(page: Page, cls: str, header: list[str], rows: list[list[str]],
          name_cols: int = 1) -> None:
    """Append a table; cells are already-escaped HTML; the first ``name_cols`` are left-aligned."""
    def cells(tag: str, values: list[str]) -> str:
        return "".join(f'<{tag}{" class=name" if i < name_cols else ""}>{v}</{tag}>'
                       for i, v in enumerate(values))

    body = "".join(f"<tr>{cells('td', r)}</tr>" for r in rows)
    page.add(f'<div class="scroll"><table class="{cls}"><thead><tr>{cells("th", header)}</tr>'
             f"</thead><tbody>{body}</tbody></table></div>")
