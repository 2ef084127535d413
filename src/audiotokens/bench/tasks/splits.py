"""Deterministic train/valid/test splits: by the corpus, by held-out speakers, by utterance.

Splits never depend on the training seed (every seed sees the same test set); they use a
fixed ``split_seed``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ...data.manifest import ManifestItem

__all__ = ["SPLIT_MODES", "Splits", "split_items"]

SPLIT_MODES = ("corpus", "speaker", "utterance")


@dataclass
class Splits:
    """Items per split."""

    train: list[ManifestItem]
    valid: list[ManifestItem]
    test: list[ManifestItem]


def _by_corpus(items: list[ManifestItem]) -> Splits:
    parts: dict[str, list[ManifestItem]] = {"train": [], "valid": [], "test": []}
    for it in items:
        if it.split in parts:
            parts[it.split].append(it)
    return Splits(parts["train"], parts["valid"], parts["test"])


def _by_speaker(items: list[ManifestItem], n_valid: int, n_test: int, seed: int) -> Splits:
    speakers = sorted({str(it.speaker) for it in items if it.speaker is not None})
    if len(speakers) < n_valid + n_test + 1:
        raise ValueError(f"speaker split needs >= {n_valid + n_test + 1} speakers "
                         f"({n_test} test, {n_valid} valid, 1+ train), found {len(speakers)}")
    order = [speakers[i] for i in np.random.default_rng(seed).permutation(len(speakers))]
    test, valid = set(order[:n_test]), set(order[n_test:n_test + n_valid])
    out = Splits([], [], [])
    for it in items:
        if it.speaker is None:
            continue
        part = out.test if it.speaker in test else out.valid if it.speaker in valid else out.train
        part.append(it)
    return out


def _by_utterance(items: list[ManifestItem], key: str, fractions: tuple[float, float],
                  seed: int, min_test: int) -> Splits:
    groups: dict[str, list[ManifestItem]] = defaultdict(list)
    for it in items:
        groups[str(getattr(it, key))].append(it)
    rng = np.random.default_rng(seed)
    out = Splits([], [], [])
    for name in sorted(groups):
        group = sorted(groups[name], key=lambda it: it.id)
        if len(group) < min_test + 2:
            raise ValueError(f"utterance split needs >= {min_test + 2} items per {key}; "
                             f"{key} {name!r} has {len(group)}")
        group = [group[i] for i in rng.permutation(len(group))]
        n_valid = max(1, round(fractions[0] * len(group)))
        n_test = max(min_test, round(fractions[1] * len(group)))
        out.valid += group[:n_valid]
        out.test += group[n_valid:n_valid + n_test]
        out.train += group[n_valid + n_test:]
    return out


def split_items(items: list[ManifestItem], mode: str, *, stratify_by: str = "label",
                n_valid_speakers: int = 1, n_test_speakers: int = 2,
                fractions: tuple[float, float] = (0.15, 0.2), min_test: int = 1,
                split_seed: int = 0) -> Splits:
    """Split ``items`` by ``mode`` in :data:`SPLIT_MODES`.

    ``corpus``: the items' own ``split`` field. ``speaker``: ``n_test_speakers`` and
    ``n_valid_speakers`` held out entirely. ``utterance``: per ``stratify_by`` value
    ("label" or "speaker"), ``fractions`` = (valid, test) of its items, at least
    ``min_test`` test items each (2 lets verification pair same-speaker trials).
    Raises ValueError when a split would be empty.
    """
    if mode not in SPLIT_MODES:
        raise ValueError(f"split mode must be one of {SPLIT_MODES}, got {mode!r}")
    if mode == "corpus":
        out = _by_corpus(items)
    elif mode == "speaker":
        out = _by_speaker(items, n_valid_speakers, n_test_speakers, split_seed)
    else:
        out = _by_utterance(items, stratify_by, fractions, split_seed, min_test)
    for name in ("train", "valid", "test"):
        if not getattr(out, name):
            raise ValueError(f"'{mode}' split left no {name} items (of {len(items)} items)")
    return out
