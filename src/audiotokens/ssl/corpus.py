"""The items a pretraining run sees: several manifests merged, split into the items trained
on (``split`` unset or ``train``) and the held-out speakers (``split == "test"``) on which
token quality is measured."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..data.manifest import ManifestError, ManifestItem, read_manifest

__all__ = ["SSLCorpus", "read_corpus"]

TRAIN_SPLITS = (None, "train")
HELD_OUT_SPLIT = "test"


@dataclass
class SSLCorpus:
    """``train``: items to pretrain on; ``held_out``: test-split items (never trained on);
    ``manifests``: the files read."""

    train: list[ManifestItem]
    held_out: list[ManifestItem]
    manifests: list[str]

    @property
    def train_hours(self) -> float:
        """Hours of training audio (manifest durations)."""
        return sum(it.duration for it in self.train) / 3600.0

    def summary(self) -> dict[str, object]:
        """What was read, for the run record."""
        return {"manifests": self.manifests, "train_items": len(self.train),
                "train_hours": round(self.train_hours, 4),
                "train_speakers": len({it.speaker for it in self.train}),
                "held_out_items": len(self.held_out),
                "held_out_speakers": len({it.speaker for it in self.held_out})}


def read_corpus(manifests: Sequence[str | Path]) -> SSLCorpus:
    """Read and merge manifests (ids must be unique across them) -> :class:`SSLCorpus`;
    raises :class:`ManifestError` naming the file for a duplicate id or no training item."""
    if not manifests:
        raise ManifestError("give at least one manifest (-m FILE)")
    seen: dict[str, str] = {}
    train: list[ManifestItem] = []
    held_out: list[ManifestItem] = []
    for manifest in manifests:
        for item in read_manifest(manifest):
            if item.id in seen:
                raise ManifestError(f"{manifest}: item id '{item.id}' is also in {seen[item.id]};"
                                    " ids must be unique across manifests")
            seen[item.id] = str(manifest)
            if item.split in TRAIN_SPLITS:
                train.append(item)
            elif item.split == HELD_OUT_SPLIT:
                held_out.append(item)
    if not train:
        raise ManifestError(f"{', '.join(map(str, manifests))}: no item to train on (items with "
                            "split 'train' or no split)")
    return SSLCorpus(train, held_out, [str(Path(m).resolve()) for m in manifests])
