"""Deterministic train/valid/test splits for corpora without an official one."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import replace

from .manifest import ManifestItem

__all__ = ["hash_fraction", "hash_split", "assign_splits"]


def hash_fraction(key: str, seed: int = 0) -> float:
    """A stable pseudo-random number in [0, 1) from ``key`` (sha1; same on every machine)."""
    digest = hashlib.sha1(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def hash_split(key: str, *, valid_fraction: float = 0.1, test_fraction: float = 0.1,
               seed: int = 0) -> str:
    """"test" for the first ``test_fraction`` of hash space, then "valid", else "train"."""
    if not (0 <= valid_fraction and 0 <= test_fraction and valid_fraction + test_fraction < 1):
        raise ValueError("valid_fraction and test_fraction must be >= 0 and sum to < 1, got "
                         f"{valid_fraction} + {test_fraction}")
    u = hash_fraction(key, seed)
    return "test" if u < test_fraction else "valid" if u < test_fraction + valid_fraction \
        else "train"


def assign_splits(items: list[ManifestItem], *,
                  held_out_speakers: Collection[str] | None = None,
                  valid_fraction: float = 0.1, test_fraction: float = 0.1,
                  seed: int = 0) -> list[ManifestItem]:
    """New items with ``split`` set, deterministically.

    Without ``held_out_speakers``: by hash of the item id (``test_fraction`` test,
    ``valid_fraction`` valid). With it: those speakers' items are test (none of them in
    train); the others are split train/valid by hash of id. Unknown speaker names raise
    ``ValueError`` listing the speakers present.
    """
    if held_out_speakers is None:
        return [replace(it, split=hash_split(it.id, valid_fraction=valid_fraction,
                                             test_fraction=test_fraction, seed=seed))
                for it in items]
    held = {str(s) for s in held_out_speakers}
    present = {it.speaker for it in items if it.speaker is not None}
    unknown = sorted(held - present)
    if unknown:
        raise ValueError(f"held-out speaker(s) {unknown} not in the corpus; "
                         f"speakers: {sorted(present)}")
    out = []
    for it in items:
        if it.speaker in held:
            out.append(replace(it, split="test"))
        else:
            split = hash_split(it.id, valid_fraction=valid_fraction, test_fraction=0.0,
                               seed=seed)
            out.append(replace(it, split=split))
    return out
