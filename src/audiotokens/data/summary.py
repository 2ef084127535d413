"""What a list of manifest items holds: counts, hours, speakers, labels, per split."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from .manifest import ManifestItem

__all__ = ["ManifestSummary", "summarize"]


@dataclass(frozen=True)
class ManifestSummary:
    """Totals of a manifest; ``splits`` maps split name (or "-" for none) to item count."""

    n_items: int
    seconds: float
    n_speakers: int
    n_labels: int
    n_with_text: int
    splits: dict[str, int]

    @property
    def hours(self) -> float:
        """Total duration in hours."""
        return self.seconds / 3600.0

    def line(self) -> str:
        """One human line, e.g. ``3000 items, 0.36 h, 6 speakers, 10 labels, splits ...``."""
        splits = ", ".join(f"{k} {v}" for k, v in self.splits.items())
        return (f"{self.n_items} items, {self.hours:.2f} h ({self.seconds / 60:.1f} min), "
                f"{self.n_speakers} speakers, {self.n_labels} labels, "
                f"{self.n_with_text} with text; splits: {splits}")


def summarize(items: Iterable[ManifestItem]) -> ManifestSummary:
    """Count items, total duration (s), distinct speakers/labels and items per split."""
    items = list(items)
    order = ("train", "valid", "test", "-")
    counts = Counter(it.split or "-" for it in items)
    return ManifestSummary(
        n_items=len(items),
        seconds=float(sum(it.duration for it in items)),
        n_speakers=len({it.speaker for it in items if it.speaker is not None}),
        n_labels=len({it.label for it in items if it.label is not None}),
        n_with_text=sum(it.text is not None for it in items),
        splits={k: counts[k] for k in order if counts[k]},
    )
