"""Unit deduplication: collapse runs of identical frames, keeping run lengths (undoable)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .vocab import LLMError

__all__ = ["Deduped", "dedup", "undo_dedup"]


@dataclass
class Deduped:
    """``units`` int64 [U, C]: frames with repeats removed; ``runs`` int64 [U] (>= 1): how
    many frames each unit stood for (``runs.sum()`` = the original T)."""

    units: np.ndarray
    runs: np.ndarray

    def __post_init__(self) -> None:
        self.units = np.asarray(self.units, dtype=np.int64)
        self.runs = np.asarray(self.runs, dtype=np.int64)
        if self.units.ndim != 2 or self.runs.shape != (len(self.units),):
            raise LLMError(f"units must be [U, C] and runs [U], got {self.units.shape} and "
                           f"{self.runs.shape}")
        if len(self.runs) and self.runs.min() < 1:
            raise LLMError("run lengths must be >= 1")

    @property
    def n_frames(self) -> int:
        """T, the number of frames before deduplication."""
        return int(self.runs.sum())


def dedup(frames: np.ndarray) -> Deduped:
    """Frames [T, C] -> :class:`Deduped`: consecutive identical frames (all C codes equal)
    become one unit with its run length."""
    frames = np.asarray(frames, dtype=np.int64)
    if frames.ndim != 2:
        raise LLMError(f"frames must be [T, C], got shape {frames.shape}")
    if not len(frames):
        return Deduped(frames.copy(), np.zeros(0, np.int64))
    change = np.ones(len(frames), dtype=bool)
    change[1:] = (frames[1:] != frames[:-1]).any(axis=1)
    starts = np.flatnonzero(change)
    runs = np.diff(np.append(starts, len(frames)))
    return Deduped(frames[starts], runs)


def undo_dedup(deduped: Deduped) -> np.ndarray:
    """:class:`Deduped` -> the original frames int64 [T, C]."""
    return np.repeat(deduped.units, deduped.runs, axis=0)
