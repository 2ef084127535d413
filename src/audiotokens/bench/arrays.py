"""Per-item arrays that heads read lazily, so memory does not grow with the corpus.

:class:`StoreArrays` maps item id -> array over a token or features store
(:mod:`audiotokens.store`): it keeps only the index (id -> row group, frame count) in memory
and decodes whole row groups on demand into a least-recently-used cache bounded in bytes.
:class:`MappedArrays` derives an array per item on access (a task's targets or inputs built
from the encoded arrays) instead of computing them all up front.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np

from ..store import TokenStore

__all__ = ["StoreArrays", "MappedArrays", "n_frames", "DEFAULT_CACHE_MB"]

DEFAULT_CACHE_MB = 256.0  # decoded row groups kept in memory per mapping


class StoreArrays(Mapping[str, np.ndarray]):
    """Item id -> int64 ids [T, C] (token store) or float32 features [T, F] (features store),
    for the ``ids`` given (default: every stored item). Row groups are decoded when one of
    their items is read; at most ``cache_mb`` MiB of decoded arrays (and at least the group
    being read) are kept. Returned arrays are shared with the cache: do not modify them."""

    def __init__(self, store: TokenStore, ids: Iterable[str] | None = None,
                 cache_mb: float = DEFAULT_CACHE_MB) -> None:
        if not cache_mb >= 0:
            raise ValueError(f"cache_mb must be >= 0, got {cache_mb}")
        self.store = store
        self.budget = int(cache_mb * 2 ** 20)
        wanted = None if ids is None else set(ids)
        self._where: dict[str, tuple[Path, int]] = {}
        self._frames: dict[str, int] = {}
        for shard, group, group_ids, frames in store.row_groups():
            for item_id, n in zip(group_ids, frames, strict=True):
                if wanted is None or item_id in wanted:
                    self._where[item_id] = (shard, group)
                    self._frames[item_id] = int(n)
        self._cache: OrderedDict[tuple[Path, int], dict[str, np.ndarray]] = OrderedDict()
        self._cached_bytes = 0
        self.groups_read = 0  # row groups decoded so far (cache misses)

    def __getitem__(self, item_id: str) -> np.ndarray:
        where = self._where.get(item_id)
        if where is None:
            raise KeyError(f"{self.store.folder}: no item {item_id!r}")
        group = self._cache.get(where)
        if group is None:
            group = self._load(where)
        else:
            self._cache.move_to_end(where)
        return group[item_id]

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._where

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def n_frames(self, item_id: str) -> int:
        """Frames T of one item, from the index (nothing is decoded)."""
        if item_id not in self._frames:
            raise KeyError(f"{self.store.folder}: no item {item_id!r}")
        return self._frames[item_id]

    @property
    def cached_bytes(self) -> int:
        """Bytes of decoded arrays held now."""
        return self._cached_bytes

    def _load(self, where: tuple[Path, int]) -> dict[str, np.ndarray]:
        group: dict[str, np.ndarray] = {}
        for item_id, arr in self.store.read_group(*where):
            if self._where.get(item_id) == where:
                group[item_id] = arr
        self.groups_read += 1
        self._cache[where] = group
        self._cached_bytes += sum(a.nbytes for a in group.values())
        while self._cached_bytes > self.budget and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cached_bytes -= sum(a.nbytes for a in old.values())
        return group


class MappedArrays(Mapping[str, np.ndarray]):
    """``ids`` -> ``make(id)``, computed on each access (nothing is kept)."""

    def __init__(self, ids: Iterable[str], make: Callable[[str], np.ndarray]) -> None:
        self._ids = dict.fromkeys(ids)
        self._make = make

    def __getitem__(self, item_id: str) -> np.ndarray:
        if item_id not in self._ids:
            raise KeyError(item_id)
        return self._make(item_id)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


def n_frames(arrays: Mapping[str, np.ndarray], item_id: str) -> int:
    """Frames T of ``arrays[item_id]``, from a store's index when ``arrays`` has one (so
    sorting by length decodes nothing)."""
    if isinstance(arrays, StoreArrays):
        return arrays.n_frames(item_id)
    return int(arrays[item_id].shape[0])
