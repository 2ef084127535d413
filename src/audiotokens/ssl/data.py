"""Streaming batches for pretraining: bucket utterances by length, crop each batch to its
shortest item (at most ``max_crop_seconds``), load audio from disk per item.

Nothing but the item list and the (memory-mapped) targets stays in memory. The batch of a
step is a pure function of (seed, step, rank): batches are fixed buckets of similar-length
items, visited in a fresh seeded order each epoch, and under data parallelism rank r takes
global batch ``step * world_size + r`` (disjoint shards, as ``DistributedSampler``). So a
resumed run sees exactly the batches it would have seen, and a ``DataLoader`` with workers
can prefetch them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..data.manifest import ManifestItem
from . import SSLError
from .targets import FrameTargets

__all__ = ["BatchConfig", "Batch", "BatchPlan", "StepDataset", "step_loader"]

SAMPLE_RATE = 16000
HOP = 320  # samples per model frame (50 frames/s)
BUCKET_RATIO = 0.7


@dataclass(frozen=True)
class BatchConfig:
    """``batch_seconds``: cropped audio per batch (per process); ``max_crop_seconds``: longest
    crop; ``min_seconds``: shorter utterances are not trained on; ``workers``: DataLoader
    worker processes loading audio ahead (0 = in the training process)."""

    batch_seconds: float = 8.0
    max_crop_seconds: float = 2.0
    min_seconds: float = 0.5
    workers: int = 0

    def __post_init__(self) -> None:
        if self.max_crop_seconds <= 0 or self.batch_seconds < self.max_crop_seconds:
            raise ValueError(f"need 0 < max_crop_seconds <= batch_seconds, got "
                             f"{self.max_crop_seconds} and {self.batch_seconds}")
        if self.min_seconds <= 0 or self.min_seconds > self.max_crop_seconds:
            raise ValueError(f"min_seconds must be in (0, max_crop_seconds], got "
                             f"{self.min_seconds}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")


@dataclass
class Batch:
    """``wav`` float32 [B, N] (each crop normalised to zero mean, unit variance);
    ``targets`` int64 [B, T] (T = model frames of N samples); ``step`` it was made for."""

    wav: torch.Tensor
    targets: torch.Tensor
    step: int

    @property
    def seconds(self) -> float:
        """Audio seconds in the batch."""
        return self.wav.numel() / SAMPLE_RATE


class BatchPlan:
    """Length buckets of item indices: sort by duration, then fill each batch while
    ``n_items * min(shortest, max_crop)`` stays within ``batch_seconds`` and the shortest
    keeps at least ``BUCKET_RATIO`` of the first item's crop (so cropping to the shortest
    throws little audio away)."""

    def __init__(self, durations: Sequence[float], cfg: BatchConfig) -> None:
        order = np.argsort(-np.asarray(durations, dtype=np.float64), kind="stable")
        self.batches: list[list[int]] = []
        current: list[int] = []
        for i in order.tolist():
            crop = min(cfg.max_crop_seconds, float(durations[i]))
            first = min(cfg.max_crop_seconds, float(durations[current[0]])) if current else 0.0
            if current and ((len(current) + 1) * crop > cfg.batch_seconds
                            or crop < BUCKET_RATIO * first):
                self.batches.append(current)
                current = []
            current.append(i)
        if current:
            self.batches.append(current)
        if not self.batches:
            raise ValueError("no items to batch")

    def __len__(self) -> int:
        return len(self.batches)

    def batch_at(self, global_index: int, seed: int) -> list[int]:
        """Item indices of global batch ``global_index`` (epoch-wise seeded shuffle)."""
        epoch, pos = divmod(global_index, len(self.batches))
        perm = np.random.default_rng([seed, epoch]).permutation(len(self.batches))
        return self.batches[int(perm[pos])]


class StepDataset(torch.utils.data.Dataset):
    """Map-style: index = training step -> :class:`Batch` for this process's rank."""

    def __init__(self, items: Sequence[ManifestItem], targets: FrameTargets,
                 n_frames: Callable[[int], int], cfg: BatchConfig, seed: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        index = {item_id: i for i, item_id in enumerate(targets.item_ids)}
        self.items = [it for it in items if it.id in index and it.duration >= cfg.min_seconds]
        if not self.items:
            raise SSLError(f"no item with targets lasts at least {cfg.min_seconds} s "
                           "(-o min_seconds=... lowers the limit)")
        self.target_index = [index[it.id] for it in self.items]
        self.targets = targets
        self.n_frames = n_frames
        self.cfg = cfg
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.plan = BatchPlan([it.duration for it in self.items], cfg)

    def __len__(self) -> int:  # steps are unbounded; this is one epoch's worth per rank
        return max(1, len(self.plan) // self.world_size)

    def __getitem__(self, step: int) -> Batch:
        from ..audio import load_audio

        members = self.plan.batch_at(step * self.world_size + self.rank, self.seed)
        rng = np.random.default_rng([self.seed, step, self.rank, 1])
        clips = [load_audio(self.items[i].path, SAMPLE_RATE).samples for i in members]
        max_crop = int(self.cfg.max_crop_seconds * SAMPLE_RATE) // HOP * HOP
        crop = min(max_crop, min(len(c) for c in clips))
        frames = self.n_frames(crop)
        wavs, targets = [], []
        for i, clip in zip(members, clips, strict=True):
            ids = self.targets.of(self.target_index[i])
            # offsets on the 320-sample grid keep crop frames == whole-item frames shifted
            last = min((len(clip) - crop) // HOP, len(ids) - frames)
            start = int(rng.integers(0, last + 1)) if last > 0 else 0
            wavs.append(clip[start * HOP: start * HOP + crop])
            targets.append(ids[start: start + frames])
        wav = torch.from_numpy(np.stack(wavs).astype(np.float32))
        wav = (wav - wav.mean(1, keepdim=True)) / torch.sqrt(wav.var(1, keepdim=True,
                                                                      unbiased=False) + 1e-7)
        return Batch(wav, torch.from_numpy(np.stack(targets).astype(np.int64)), step)


class _StepsFrom(torch.utils.data.Sampler):
    def __init__(self, start: int) -> None:
        self.start = start

    def __iter__(self) -> Iterator[int]:
        return itertools.count(self.start)


def _identity(batch: Batch) -> Batch:
    return batch


def step_loader(dataset: StepDataset, start_step: int) -> Iterator[Batch]:
    """Batches for steps ``start_step, start_step + 1, ...`` (prefetched by
    ``dataset.cfg.workers`` worker processes when > 0)."""
    workers = dataset.cfg.workers
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=None, sampler=_StepsFrom(start_step), num_workers=workers,
        collate_fn=_identity, prefetch_factor=2 if workers else None,
        persistent_workers=False)
    return iter(loader)
