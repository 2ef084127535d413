"""Phone durations for TTS: a small model from the (phone and pause) sequence to seconds.

An utterance is a sequence of *segments*: its aligned phones, with a pause segment
(``SILENCE``, id 0) for every gap of at least ``MIN_PAUSE`` seconds, including before the
first and after the last phone. :class:`DurationPredictor` (embedding, conv context, BiLSTM)
regresses each segment's log duration; it is trained once per run on the training split and
does not depend on any tokenizer. :func:`segment_frames` lays segments on a frame grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["MIN_PAUSE", "Segments", "segments", "segment_frames", "DurationPredictor",
           "fit_durations"]

MIN_PAUSE = 0.01  # seconds: shorter gaps between phones are not pauses
_EPS = 1e-3  # seconds added before the log


@dataclass(frozen=True)
class Segments:
    """One utterance: segment ids [S] int64 (0 = pause) and their durations [S] in seconds."""

    ids: np.ndarray
    seconds: np.ndarray


def segments(alignment: list[tuple[str, float, float]], duration: float,
             index: dict[str, int]) -> Segments:
    """Phones (ids from ``index``, unknown ones -> 0) and pauses covering [0, ``duration``]."""
    ids: list[int] = []
    secs: list[float] = []
    t = 0.0
    for phone, start, end in sorted(alignment, key=lambda a: a[1]):
        if start - t >= MIN_PAUSE:
            ids.append(0)
            secs.append(start - t)
        ids.append(index.get(phone, 0))
        secs.append(max(end - max(start, t), 0.0))
        t = max(t, end)
    if duration - t >= MIN_PAUSE:
        ids.append(0)
        secs.append(duration - t)
    return Segments(np.asarray(ids, dtype=np.int64), np.asarray(secs, dtype=np.float64))


def segment_frames(seg: Segments, frame_rate: float, n_frames: int | None = None) -> np.ndarray:
    """Segment id per frame [T, 1] int64 (frame centres, as ``phone_frames``); ``n_frames``
    defaults to the segments' total duration on the grid."""
    ends = np.cumsum(seg.seconds)
    total = int(round(float(ends[-1]) * frame_rate)) if n_frames is None else n_frames
    centres = (np.arange(max(total, 1)) + 0.5) / frame_rate
    which = np.minimum(np.searchsorted(ends, centres, side="right"), len(seg.ids) - 1)
    return seg.ids[which][:, None]


class DurationPredictor(nn.Module):
    """Segment ids [B, S] (0 = pause, -1 = padding) -> log(seconds + 1e-3) [B, S]."""

    def __init__(self, n_ids: int, dim: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(n_ids + 1, dim)  # row 0 = padding; ids are shifted by one
        self.context = nn.Sequential(nn.Conv1d(dim, dim, 3, padding=1), nn.ReLU())
        self.lstm = nn.LSTM(dim, dim, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * dim, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [B, S] -> predicted log durations [B, S]."""
        h = self.embed(ids + 1)
        h = self.context(h.transpose(1, 2)).transpose(1, 2)
        h, _ = self.lstm(h)
        return self.out(h).squeeze(-1)

    @torch.no_grad()
    def predict(self, ids: np.ndarray) -> np.ndarray:
        """One utterance's segment ids [S] -> predicted seconds [S] (>= 0)."""
        self.eval()
        log = self(torch.from_numpy(np.asarray(ids, dtype=np.int64))[None])[0]
        return (log.exp() - _EPS).clamp_min(0.0).double().numpy()


class _Trainer:
    """:class:`audiotokens.train.Trainable` for the predictor: random batches, MSE in log."""

    def __init__(self, model: DurationPredictor, data: list[Segments], batch_size: int,
                 lr: float, seed: int) -> None:
        self.model, self.data, self.batch_size = model, data, batch_size
        self.opt = torch.optim.Adam(model.parameters(), lr=lr)
        self.gen = torch.Generator().manual_seed(seed)

    def train_step(self, step: int) -> dict[str, float]:
        pick = torch.randint(len(self.data), (min(self.batch_size, len(self.data)),),
                             generator=self.gen).tolist()
        rows = [self.data[i] for i in pick]
        width = max(len(r.ids) for r in rows)
        ids = torch.full((len(rows), width), -1, dtype=torch.int64)
        target = torch.zeros(len(rows), width)
        for i, r in enumerate(rows):
            ids[i, : len(r.ids)] = torch.from_numpy(r.ids)
            target[i, : len(r.ids)] = torch.from_numpy(np.log(r.seconds + _EPS)).float()
        mask = ids >= 0
        self.model.train()
        loss = ((self.model(ids) - target)[mask] ** 2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss": float(loss.detach())}

    def state_dict(self) -> dict[str, Any]:
        from ...train import parts_state_dict

        return parts_state_dict({"model": self.model, "opt": self.opt})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from ...train import load_parts_state_dict

        load_parts_state_dict({"model": self.model, "opt": self.opt}, state)


def fit_durations(data: list[Segments], n_ids: int, steps: int = 300, batch_size: int = 16,
                  lr: float = 3e-3, seed: int = 0) -> DurationPredictor:
    """Train a :class:`DurationPredictor` on ``data`` (ids < ``n_ids``) for ``steps``."""
    from ...train import LoopConfig, run_loop, seed_everything

    if not data:
        raise ValueError("duration model: no training utterances")
    seed_everything(seed)
    model = DurationPredictor(n_ids)
    run_loop(_Trainer(model, data, batch_size, lr, seed),
             LoopConfig(max_steps=steps, log_every=steps, checkpoint_every=steps + 1, seed=seed),
             progress_desc=None)
    return model.eval()
