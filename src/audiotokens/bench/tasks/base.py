"""The task contract: what a benchmark task declares (metrics, splits, head) and computes.

A :class:`Task` is stateless: :meth:`Task.prepare` turns corpus items into a
:class:`TaskData` (splits + label vocabulary), :meth:`Task.build_head` makes its head,
:meth:`Task.loss` and :meth:`Task.evaluate` run on :class:`Batch` es. The one training loop in
``tasks/loop.py`` drives every task.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ...data.manifest import ManifestItem
from ..features import InputSpec
from ..heads import DownstreamModel

__all__ = ["Metric", "TaskData", "Batch", "Task", "collate", "IGNORE_INDEX"]

IGNORE_INDEX = -100  # padding of frame targets (torch's cross-entropy default ignore_index)


@dataclass(frozen=True)
class Metric:
    """A metric name and its direction."""

    name: str
    higher_is_better: bool


@dataclass
class TaskData:
    """Items per split plus targets: ``targets[item.id]`` is a class index (classification),
    a list of symbol ids (ASR) or an int64 array [T, C] of frame targets (enhancement's clean
    tokens); ``classes`` names the class indices or symbols."""

    train: list[ManifestItem]
    valid: list[ManifestItem]
    test: list[ManifestItem]
    classes: tuple[str, ...]
    targets: dict[str, int | list[int] | np.ndarray] = field(default_factory=dict)

    def split(self, name: str) -> list[ManifestItem]:
        """Items of ``name`` in ("train", "valid", "test")."""
        if name not in ("train", "valid", "test"):
            raise ValueError(f"split must be one of ('train', 'valid', 'test'), got {name!r}")
        return list(getattr(self, name))

    @property
    def items(self) -> list[ManifestItem]:
        """All items of the three splits."""
        return [*self.train, *self.valid, *self.test]


@dataclass
class Batch:
    """``x``: [B, T, C] int64 ids or [B, T, F] float32 features; ``lengths`` [B];
    ``targets``: [B] class indices, concatenated symbol ids with ``target_lengths`` [B], or
    frame targets [B, T', C] padded with ``IGNORE_INDEX`` (``target_lengths`` [B]);
    ``ids`` and ``speakers`` per item (for verification trials and reports)."""

    x: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor
    target_lengths: torch.Tensor | None
    ids: list[str]
    speakers: list[str | None]

    def to(self, device: str | torch.device) -> Batch:
        """Move the tensors to ``device``."""
        tl = None if self.target_lengths is None else self.target_lengths.to(device)
        return Batch(self.x.to(device), self.lengths.to(device), self.targets.to(device), tl,
                     self.ids, self.speakers)


def collate(items: list[ManifestItem], arrays: Mapping[str, np.ndarray], data: TaskData
            ) -> Batch:
    """Pad per-item arrays ([T, C] int64 or [T, F] float32) into one :class:`Batch` (reads
    only these items, so ``arrays`` may be a lazy store mapping)."""
    mats = [arrays[it.id] for it in items]
    lengths = torch.tensor([m.shape[0] for m in mats], dtype=torch.int64)
    x = np.zeros((len(mats), int(lengths.max()), mats[0].shape[1]), dtype=mats[0].dtype)
    for i, m in enumerate(mats):
        x[i, : m.shape[0]] = m
    tgts = [data.targets[it.id] for it in items]
    if isinstance(tgts[0], np.ndarray):  # frame targets [T', C]
        frames = [np.asarray(t) for t in tgts]
        padded = np.full((len(frames), max(f.shape[0] for f in frames), frames[0].shape[1]),
                         IGNORE_INDEX, dtype=np.int64)
        for i, f in enumerate(frames):
            padded[i, : f.shape[0]] = f
        targets = torch.from_numpy(padded)
        target_lengths = torch.tensor([f.shape[0] for f in frames], dtype=torch.int64)
    elif isinstance(tgts[0], list):
        flat = [s for t in tgts for s in t]  # type: ignore[union-attr]
        targets = torch.tensor(flat, dtype=torch.int64)
        target_lengths = torch.tensor([len(t) for t in tgts], dtype=torch.int64)  # type: ignore[arg-type]
    else:
        targets, target_lengths = torch.tensor(tgts, dtype=torch.int64), None
    return Batch(torch.from_numpy(x), lengths, targets, target_lengths,
                 [it.id for it in items], [it.speaker for it in items])


class Task(ABC):
    """One downstream task. ``metrics[0]`` is the validation metric for early stopping."""

    name: str = ""
    corpus: str = ""
    metrics: tuple[Metric, ...] = ()
    pools_input: bool = True  # False: the head gets full-rate frames and reduces the rate
    generative: bool = False  # the task scores decoded audio (its leaderboard: "generative")

    @abstractmethod
    def prepare(self, items: list[ManifestItem]) -> TaskData:
        """Split corpus items (seed-independent, deterministic) and compute targets."""

    @abstractmethod
    def build_head(self, in_dim: int, data: TaskData, hidden: int = 128, *,
                   spec: InputSpec | None = None, stride: int = 1,
                   core: str = "lstm", out_rank: int = 0) -> nn.Module:
        """The task head over frames [B, T, in_dim] with ``hidden`` units per layer; ``spec``
        is what the input module reads and ``stride`` how many of its frames it pools into
        one (a head that emits frames, like enhancement's, needs both); ``core`` the kind of
        sequence core of a head that has one (see :mod:`audiotokens.bench.cores`);
        ``out_rank`` the rank of a token-emitting head's factorised output layer (0: a full
        linear layer; see :class:`~audiotokens.bench.heads.TokenEnhancer`)."""

    @abstractmethod
    def loss(self, model: DownstreamModel, batch: Batch) -> torch.Tensor:
        """Scalar training loss on one batch."""

    @abstractmethod
    def evaluate(self, model: DownstreamModel, batches: Iterable[Batch],
                 data: TaskData) -> dict[str, float]:
        """Metric name -> value over all batches of a split (model in eval mode, no grad)."""

    def input_spec(self, spec: InputSpec, data: TaskData) -> InputSpec:
        """What the head's input module reads, given the tokenizer's ``spec`` (default: the
        tokenizer's own output; TTS reads phones instead)."""
        return spec

    def chance(self, data: TaskData, metrics: dict[str, float]) -> dict[str, float]:
        """Metric -> value of a trivial predictor on the test split (majority class, blank
        transcript, copying the input), for the metrics that have one; ``metrics`` are the
        cell's own results (a copy-the-input level may be one of its references)."""
        return {}

    def input_items(self, data: TaskData) -> list[ManifestItem]:
        """Every item whose audio must be encoded for this task (default: all split items)."""
        return data.items

    @property
    def primary(self) -> Metric:
        """The metric used for early stopping and ranking."""
        return self.metrics[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, corpus={self.corpus!r})"
