"""Codebook layouts: how [T, K] frames of LLM ids become what an LLM reads, and back.

Every layout is exact and reversible: ``layout.invert(layout.apply(frames))`` equals
``frames``. Inputs are LLM ids (see :class:`~audiotokens.llm.vocab.LLMVocab`), so the pad
id of the delayed layouts never collides with a code.

=============== ================= ==========================================================
layout          output            what it is
=============== ================= ==========================================================
``Flatten``     [T * K]           frame by frame, codebooks in order (one step per code)
``Delay``       [T + D, K]        MusicGen: codebook k shifted right by ``delays[k]`` steps,
                                  pads fill the triangles; D = max delay
``Parallel``    [T, K]            all codebooks of a frame in one step (summed embeddings)
``CoarseFirst`` [T * K]           the first ``n_coarse`` codebooks of all frames, then the
                                  rest (VALL-E style: coarse AR, then fine)
``MultiStream`` [T + D, sum K_s]  named streams (text, semantic, acoustic, ...) side by side,
                                  stream s delayed by ``delay_s`` (Moshi-style)
=============== ================= ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .vocab import LLMError

__all__ = ["Layout", "Flatten", "Delay", "Parallel", "CoarseFirst", "Stream", "MultiStream"]


class Layout(Protocol):
    """``apply``: frames [T, K] -> sequence; ``invert``: sequence -> frames [T, K]."""

    def apply(self, frames: np.ndarray) -> np.ndarray: ...

    def invert(self, sequence: np.ndarray) -> np.ndarray: ...


def _frames(frames: np.ndarray, n_codebooks: int) -> np.ndarray:
    frames = np.asarray(frames, dtype=np.int64)
    if frames.ndim != 2 or frames.shape[1] != n_codebooks:
        raise LLMError(f"frames must be [T, {n_codebooks}], got shape {frames.shape}")
    return frames


def _flat(sequence: np.ndarray, n_codebooks: int) -> np.ndarray:
    sequence = np.asarray(sequence, dtype=np.int64)
    if sequence.ndim != 1 or len(sequence) % n_codebooks:
        raise LLMError(f"sequence must be 1-D with a length divisible by {n_codebooks}, got "
                       f"shape {sequence.shape}")
    return sequence


@dataclass(frozen=True)
class Flatten:
    """Frames [T, K] -> [T * K], row-major (frame 0's K codes, then frame 1's, ...)."""

    n_codebooks: int

    def __post_init__(self) -> None:
        if self.n_codebooks < 1:
            raise LLMError(f"n_codebooks must be >= 1, got {self.n_codebooks}")

    def apply(self, frames: np.ndarray) -> np.ndarray:
        """[T, K] -> int64 [T * K]."""
        return _frames(frames, self.n_codebooks).reshape(-1)

    def invert(self, sequence: np.ndarray) -> np.ndarray:
        """[T * K] -> int64 [T, K]."""
        return _flat(sequence, self.n_codebooks).reshape(-1, self.n_codebooks)


@dataclass(frozen=True)
class Parallel:
    """Frames [T, K] -> [T, K] unchanged: one LLM step predicts all K codes of a frame."""

    n_codebooks: int

    def __post_init__(self) -> None:
        if self.n_codebooks < 1:
            raise LLMError(f"n_codebooks must be >= 1, got {self.n_codebooks}")

    def apply(self, frames: np.ndarray) -> np.ndarray:
        """[T, K] -> int64 [T, K] (a checked copy)."""
        return _frames(frames, self.n_codebooks).copy()

    def invert(self, sequence: np.ndarray) -> np.ndarray:
        """[T, K] -> int64 [T, K]."""
        return _frames(sequence, self.n_codebooks).copy()


def _shift(frames: np.ndarray, delays: tuple[int, ...], pad_id: int) -> np.ndarray:
    """Column k of [T, K] moved down by delays[k] rows into [T + max(delays), K] of pads."""
    t = frames.shape[0]
    out = np.full((t + max(delays), frames.shape[1]), pad_id, dtype=np.int64)
    for k, d in enumerate(delays):
        out[d: d + t, k] = frames[:, k]
    return out


def _unshift(sequence: np.ndarray, delays: tuple[int, ...], pad_id: int) -> np.ndarray:
    """Inverse of :func:`_shift`; the pad triangles must hold ``pad_id``."""
    sequence = np.asarray(sequence, dtype=np.int64)
    if sequence.ndim != 2 or sequence.shape[1] != len(delays) or len(sequence) < max(delays):
        raise LLMError(f"delayed sequence must be [T + {max(delays)}, {len(delays)}], got "
                       f"shape {sequence.shape}")
    t = sequence.shape[0] - max(delays)
    frames = np.empty((t, len(delays)), dtype=np.int64)
    for k, d in enumerate(delays):
        column = sequence[:, k]
        if (column[:d] != pad_id).any() or (column[d + t:] != pad_id).any():
            raise LLMError(f"column {k}: expected pad id {pad_id} outside rows [{d}, {d + t})")
        frames[:, k] = column[d: d + t]
    return frames


def _check_delays(delays: tuple[int, ...]) -> tuple[int, ...]:
    delays = tuple(int(d) for d in delays)
    if not delays or min(delays) < 0:
        raise LLMError(f"delays must be a non-empty tuple of ints >= 0, got {delays}")
    return delays


@dataclass(frozen=True)
class Delay:
    """MusicGen's delay pattern: codebook k delayed by ``delays[k]`` steps (default k).

    Frames [T, K] -> [T + max(delays), K]; step t holds codebook k of frame t - delays[k],
    or ``pad_id`` where that frame does not exist.
    """

    n_codebooks: int
    pad_id: int
    delays: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        delays = self.delays or tuple(range(self.n_codebooks))
        object.__setattr__(self, "delays", _check_delays(delays))
        if len(self.delays) != self.n_codebooks:
            raise LLMError(f"need one delay per codebook ({self.n_codebooks}), got "
                           f"{self.delays}")

    def apply(self, frames: np.ndarray) -> np.ndarray:
        """[T, K] -> int64 [T + max(delays), K]."""
        return _shift(_frames(frames, self.n_codebooks), self.delays, self.pad_id)

    def invert(self, sequence: np.ndarray) -> np.ndarray:
        """[T + max(delays), K] -> int64 [T, K]; raises if a pad slot holds a code."""
        return _unshift(sequence, self.delays, self.pad_id)


@dataclass(frozen=True)
class CoarseFirst:
    """Frames [T, K] -> [T * K]: codebooks ``[0, n_coarse)`` of all frames (frame-major),
    then codebooks ``[n_coarse, K)`` of all frames (frame-major)."""

    n_codebooks: int
    n_coarse: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.n_coarse <= self.n_codebooks:
            raise LLMError(f"n_coarse must be in 1..{self.n_codebooks}, got {self.n_coarse}")

    def apply(self, frames: np.ndarray) -> np.ndarray:
        """[T, K] -> int64 [T * K]."""
        frames = _frames(frames, self.n_codebooks)
        c = self.n_coarse
        return np.concatenate([frames[:, :c].reshape(-1), frames[:, c:].reshape(-1)])

    def invert(self, sequence: np.ndarray) -> np.ndarray:
        """[T * K] -> int64 [T, K]."""
        sequence = _flat(sequence, self.n_codebooks)
        t, c = len(sequence) // self.n_codebooks, self.n_coarse
        coarse = sequence[: t * c].reshape(t, c)
        fine = sequence[t * c:].reshape(t, self.n_codebooks - c)
        return np.concatenate([coarse, fine], axis=1)


@dataclass(frozen=True)
class Stream:
    """One stream of a :class:`MultiStream`: ``width`` columns, delayed by ``delay`` steps."""

    name: str
    width: int = 1
    delay: int = 0

    def __post_init__(self) -> None:
        if self.width < 1 or self.delay < 0:
            raise LLMError(f"stream {self.name!r}: width must be >= 1 and delay >= 0, got "
                           f"{self.width}, {self.delay}")


@dataclass(frozen=True)
class MultiStream:
    """Named streams on one frame grid side by side, each with its own delay.

    E.g. ``(Stream("text"), Stream("semantic"), Stream("acoustic", width=7, delay=1))``:
    a frame-aligned text stream (pads where no text), the semantic codebook, and the
    acoustic codebooks one step later. ``apply`` takes ``{name: [T, width]}`` and returns
    [T + max delay, sum of widths]; ``invert`` gives the dict back.
    """

    streams: tuple[Stream, ...]
    pad_id: int

    def __post_init__(self) -> None:
        names = [s.name for s in self.streams]
        if not names or len(set(names)) != len(names):
            raise LLMError(f"streams need unique names, got {names}")
        object.__setattr__(self, "streams", tuple(self.streams))

    @property
    def delays(self) -> tuple[int, ...]:
        """Per-column delays (each stream's delay repeated over its width)."""
        return tuple(s.delay for s in self.streams for _ in range(s.width))

    def apply(self, streams: dict[str, np.ndarray]) -> np.ndarray:
        """``{name: [T, width]}`` (same T) -> int64 [T + max delay, sum widths]."""
        if set(streams) != {s.name for s in self.streams}:
            raise LLMError(f"expected streams {[s.name for s in self.streams]}, got "
                           f"{sorted(streams)}")
        parts = [_frames(streams[s.name], s.width) for s in self.streams]
        lengths = {p.shape[0] for p in parts}
        if len(lengths) != 1:
            raise LLMError(f"streams must have the same number of frames, got "
                           f"{[p.shape[0] for p in parts]}")
        return _shift(np.concatenate(parts, axis=1), self.delays, self.pad_id)

    def invert(self, sequence: np.ndarray) -> dict[str, np.ndarray]:
        """[T + max delay, sum widths] -> ``{name: int64 [T, width]}``."""
        frames = _unshift(sequence, self.delays, self.pad_id)
        out, col = {}, 0
        for s in self.streams:
            out[s.name] = frames[:, col: col + s.width]
            col += s.width
        return out
