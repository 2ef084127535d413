"""Frame targets for masked prediction: one cluster id per model frame (50 frames/s).

Targets come from a fitted :class:`~audiotokens.tokenizers.semantic.SemanticTokenizer` (the
project's k-means): MFCC + deltas for iteration 1, a layer of the previous iteration's
HuBERT for the next. They are stored on disk, not in the model folder, as one concatenated
int32 array (``ids.npy``, read memory-mapped) plus ``offsets.npy`` [n_items + 1] and a JSON
header, so a large corpus's targets cost no RAM.

Alignment to the model's grid: the MFCC frame t is centred on sample 320 t (centred STFT,
``N // 320`` frames); model frame t covers samples [320 t, 320 t + receptive field). Both
are on the same 20 ms grid (the model frame's centre is ~11 ms later, less than one frame).
The MFCC sequence is one frame longer than the conv encoder's output for most lengths
(``N // 320`` vs ``(N - receptive field) // 320 + 1``): targets are cut to the model's frame
count, or (never for the built-in settings) padded by repeating the last id.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.manifest import ManifestItem
from . import SSLError

__all__ = ["FrameTargets", "align_frames", "compute_targets"]

HEADER = "meta.json"


def align_frames(ids: np.ndarray, n_frames: int) -> np.ndarray:
    """Cut or pad (repeating the last id) frame ids [T] to exactly ``n_frames`` -> [n_frames]."""
    ids = np.asarray(ids).reshape(-1)
    if len(ids) >= n_frames:
        return ids[:n_frames]
    if len(ids) == 0:
        raise ValueError(f"cannot pad an empty target sequence to {n_frames} frames")
    return np.concatenate([ids, np.full(n_frames - len(ids), ids[-1], dtype=ids.dtype)])


@dataclass
class FrameTargets:
    """Cluster ids of every item: ``ids`` int32 [sum T_i], item i is
    ``ids[offsets[i]:offsets[i+1]]``; ``item_ids`` the manifest ids; ``k`` clusters;
    ``source`` what they were clustered from (e.g. ``mfcc`` or ``hubert:runs/ssl/iter1@2``)."""

    ids: np.ndarray
    offsets: np.ndarray
    item_ids: list[str]
    k: int
    source: str

    def __len__(self) -> int:
        return len(self.item_ids)

    def of(self, index: int) -> np.ndarray:
        """Targets int32 [T_i] of item ``index``."""
        return np.asarray(self.ids[self.offsets[index]: self.offsets[index + 1]])

    def histogram(self) -> np.ndarray:
        """Frames per cluster, int64 [k]."""
        return np.bincount(np.asarray(self.ids), minlength=self.k)

    def save(self, folder: str | Path) -> Path:
        """Write ``ids.npy``, ``offsets.npy`` and ``meta.json`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "ids.npy", np.asarray(self.ids, dtype=np.int32))
        np.save(folder / "offsets.npy", np.asarray(self.offsets, dtype=np.int64))
        meta = {"k": self.k, "source": self.source, "item_ids": self.item_ids,
                "frames": int(self.offsets[-1])}
        tmp = folder / (HEADER + ".tmp")
        tmp.write_text(json.dumps(meta))
        tmp.replace(folder / HEADER)  # the header last: its presence means "complete"
        return folder

    @classmethod
    def exists(cls, folder: str | Path) -> bool:
        """True when ``folder`` holds complete saved targets."""
        return (Path(folder) / HEADER).is_file()

    @classmethod
    def load(cls, folder: str | Path) -> FrameTargets:
        """Read targets saved by :meth:`save` (ids memory-mapped)."""
        folder = Path(folder)
        meta = json.loads((folder / HEADER).read_text())
        ids = np.load(folder / "ids.npy", mmap_mode="r")
        offsets = np.load(folder / "offsets.npy")
        if len(offsets) != len(meta["item_ids"]) + 1 or offsets[-1] != len(ids):
            raise ValueError(f"{folder}: targets are inconsistent (offsets vs ids); delete the "
                             "folder to recompute them")
        return cls(ids, offsets, list(meta["item_ids"]), int(meta["k"]), str(meta["source"]))


def compute_targets(tokenizer: object, items: Sequence[ManifestItem],
                    n_frames: Callable[[int], int], source: str,
                    progress: bool = False) -> FrameTargets:
    """Encode each item with a fitted single-codebook ``tokenizer`` and align its ids to
    ``n_frames(samples)`` model frames. Unreadable or too-short items are skipped with a
    warning (they are absent from ``item_ids``)."""
    from rich.progress import Progress

    from ..audio import AudioError, load_audio

    chunks: list[np.ndarray] = []
    kept: list[str] = []
    k = int(tokenizer.info.vocab_sizes[0])  # type: ignore[attr-defined]
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"targets from {source}", total=len(items))
        for item in items:
            bar.advance(task)
            try:
                samples = load_audio(item.path, 16000).samples
            except AudioError as err:
                warnings.warn(f"skipping unreadable audio: {err}", stacklevel=2)
                continue
            frames = n_frames(len(samples))
            if frames < 1:
                warnings.warn(f"skipping {item.path}: shorter than one model frame", stacklevel=2)
                continue
            codes = tokenizer.encode(samples, 16000).codes[:, 0]  # type: ignore[attr-defined]
            chunks.append(align_frames(codes, frames).astype(np.int32))
            kept.append(item.id)
    if not chunks:
        raise SSLError("no readable item is long enough to give one target frame")
    offsets = np.concatenate([[0], np.cumsum([len(c) for c in chunks])]).astype(np.int64)
    return FrameTargets(np.concatenate(chunks), offsets, kept, k, source)
