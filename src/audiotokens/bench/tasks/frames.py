"""What the generative head tasks share: frame inputs in, a tokenizer's tokens out.

Enhancement (noisy tokens -> clean tokens) and TTS (phone frames -> tokens) both train a
:class:`~audiotokens.bench.heads.TokenEnhancer` with cross-entropy on random crops, early-stop
on **token accuracy**, then decode the predicted tokens with the tokenizer's decoder and score
the audio. :class:`TokenTargetTask` holds that common part; a subclass says what its inputs
are (:meth:`TokenTargetTask.bind`) and how it scores (``score``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...data.manifest import ManifestItem
from ..db import Artifact
from ..features import InputSpec
from ..heads import DownstreamModel, TokenEnhancer
from ..scorecache import ScoreCache
from .base import IGNORE_INDEX, Batch, Metric, Task, TaskData

__all__ = ["Bound", "TokenTargetTask", "TOKEN_ACCURACY", "DNSMOS_METRIC", "window",
           "random_crop"]

TOKEN_ACCURACY = Metric("token_accuracy", True)
DNSMOS_METRIC = Metric("dnsmos", True)


@dataclass
class Bound:
    """A task's data bound to one tokenizer: ``data.targets`` are the tokens [T, C] to
    predict, ``inputs`` the arrays the head reads (item id -> [T, C_in] int64)."""

    data: TaskData
    inputs: Mapping[str, np.ndarray]


class TokenTargetTask(Task):
    """Base of the tasks whose head predicts a tokenizer's tokens frame by frame.

    ``crop_frames``: head steps per training crop (2 s at 50 Hz); a crop shrinks when a
    batch's logits would pass ``logits_budget`` floats. A tokenizer whose head would emit
    more than ``max_outputs`` logits per step (``stride * C * V``: mu-law's 320 samples x
    256 ids per 20 ms) is not supported. ``quick_items`` / ``full_items`` test items are
    scored, ``n_samples`` decoded clips kept. ``copy_input``: the inputs are the same
    tokenizer's ids, so the head gets a copy bias towards them (enhancement).
    """

    metrics = (TOKEN_ACCURACY,)  # what the training loop early-stops on
    generative = True
    pools_input = False  # the head stacks frames itself, keeping their order
    copy_input = False

    def __init__(self, quick_items: int = 6, full_items: int = 100, crop_frames: int = 100,
                 logits_budget: int = 2 ** 25, n_samples: int = 2,
                 max_outputs: int = 2 ** 15) -> None:
        from ...metrics import dnsmos_available

        if min(quick_items, full_items, crop_frames, logits_budget, max_outputs) < 1 or \
                n_samples < 0:
            raise ValueError("quick_items, full_items, crop_frames, logits_budget and "
                             "max_outputs must be >= 1, n_samples >= 0")
        self.quick_items, self.full_items = quick_items, full_items
        self.crop_frames, self.logits_budget = crop_frames, logits_budget
        self.n_samples, self.max_outputs = n_samples, max_outputs
        self.with_dnsmos = dnsmos_available()
        self._dnsmos: Any = None
        # what scoring shares between cells (see score(cache=...)) when the runner gives
        # no disk cache: kept for this object's life
        self.cache = ScoreCache()

    def bind(self, data: TaskData, arrays: Mapping[str, np.ndarray], spec: InputSpec
             ) -> Bound:
        """Targets and head inputs for one tokenizer's encoded ``arrays`` (its ``spec``)."""
        raise NotImplementedError

    def select(self, data: TaskData, full: bool) -> list[ManifestItem]:
        """An evenly spread slice of the test items to decode and score."""
        cap = self.full_items if full else self.quick_items
        step = max(1.0, len(data.test) / cap)
        return [data.test[int(i * step)] for i in range(min(cap, len(data.test)))]

    def unsupported(self, spec: InputSpec, stride: int) -> str | None:
        """Why this task cannot predict ``spec``'s tokens at ``stride`` frames per head step
        (None when it can)."""
        if spec.kind != "tokens":
            return f"continuous features: task {self.name} predicts tokens"
        outputs = stride * len(spec.vocab_sizes) * max(spec.vocab_sizes)
        if outputs > self.max_outputs:
            return (f"{outputs} output logits per head frame ({stride} frames x "
                    f"{len(spec.vocab_sizes)} codebooks x {max(spec.vocab_sizes)} ids) > "
                    f"max_outputs {self.max_outputs}")
        return None

    def build_head(self, in_dim: int, data: TaskData, hidden: int = 128, *,
                   spec: InputSpec | None = None, stride: int = 1,
                   core: str = "lstm", out_rank: int = 0) -> nn.Module:
        """A :class:`TokenEnhancer` over ``spec``'s codebooks, stacking ``stride`` frames per
        step, with a ``core`` sequence core and an ``out_rank`` output layer."""
        if spec is None or spec.kind != "tokens":
            raise ValueError(f"task {self.name} predicts tokens: it needs a tokenizer, "
                             "not continuous features")
        return TokenEnhancer(in_dim, spec.vocab_sizes, hidden=hidden, stride=stride, core=core,
                             out_rank=out_rank)

    def _crop(self, head: TokenEnhancer, batch_size: int) -> int:
        per_step = batch_size * head.stride * head.n_codebooks * head.vocab
        return max(1, min(self.crop_frames, self.logits_budget // per_step))

    def _logits(self, model: DownstreamModel, x: torch.Tensor, lengths: torch.Tensor
                ) -> torch.Tensor:
        head = model.head
        assert isinstance(head, TokenEnhancer)
        frames, lengths = model.inputs(x, lengths)  # full rate: pools_input is False
        return head(frames, lengths, x if self.copy_input else None).logits

    def loss(self, model: DownstreamModel, batch: Batch) -> torch.Tensor:
        """Cross-entropy of the target tokens on one random crop per item."""
        head = model.head
        assert isinstance(head, TokenEnhancer)
        crop = min(self._crop(head, len(batch.x)) * head.stride, batch.x.shape[1])
        x, targets, lengths = random_crop(batch, crop)
        logits = self._logits(model, x.clamp_min(0), lengths)[:, :crop]
        return nn.functional.cross_entropy(logits.reshape(-1, head.vocab), targets.reshape(-1),
                                           ignore_index=IGNORE_INDEX)

    def _predict_batches(self, model: DownstreamModel, batch: Batch) -> Iterator[torch.Tensor]:
        """Predicted ids [b, T, C] for row chunks of ``batch`` that keep the logits in budget."""
        head = model.head
        assert isinstance(head, TokenEnhancer)
        t = batch.x.shape[1]
        rows = max(1, self.logits_budget // max(1, t * head.n_codebooks * head.vocab))
        for i in range(0, len(batch.x), rows):
            logits = self._logits(model, batch.x[i:i + rows], batch.lengths[i:i + rows])
            yield logits[:, :t].argmax(-1)

    def evaluate(self, model: DownstreamModel, batches: Iterable[Batch],
                 data: TaskData) -> dict[str, float]:
        """Token accuracy over valid frames and codebooks (with ``copy_input``, also that of
        copying the input unchanged: ``token_accuracy@noisy``)."""
        hit = copy = total = 0
        for batch in batches:
            pred = torch.cat(list(self._predict_batches(model, batch)))
            tgt = batch.targets[:, : pred.shape[1]]
            valid = tgt != IGNORE_INDEX
            hit += int(((pred[:, : tgt.shape[1]] == tgt) & valid).sum())
            if self.copy_input:
                copy += int(((batch.x[:, : tgt.shape[1]] == tgt) & valid).sum())
            total += int(valid.sum())
        if total == 0:
            raise ValueError(f"task {self.name}: no target tokens in the split")
        out = {"token_accuracy": hit / total}
        if self.copy_input:
            out["token_accuracy@noisy"] = copy / total
        return out

    @torch.no_grad()
    def predict(self, model: DownstreamModel, inputs: np.ndarray, device: str = "cpu"
                ) -> np.ndarray:
        """One item's head inputs [T, C_in] -> predicted token ids [T, C] (int64)."""
        model.eval()
        x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.int64))[None].to(device)
        batch = Batch(x, torch.tensor([len(inputs)], device=device), x, None, [""], [None])
        return next(self._predict_batches(model, batch))[0].cpu().numpy()

    @staticmethod
    def decode(tokenizer: Any, ids: np.ndarray, sample_rate: int) -> np.ndarray:
        """Token ids [T, C] -> audio at ``sample_rate`` through the tokenizer's decoder."""
        from ...audio import resample
        from ...tokenizers.base import Tokens

        wav = tokenizer.decode(Tokens(np.asarray(ids, dtype=np.int64), tokenizer.info))
        return resample(np.asarray(wav, dtype=np.float32), tokenizer.info.sample_rate,
                        sample_rate)

    def save_clips(self, out_dir: Path, item_id: str, clips: list[tuple[str, np.ndarray]],
                   sample_rate: int, *, run: str, label: str, seed: int) -> list[Artifact]:
        """Write ``(kind, samples)`` clips of one item as ``kind`` audio artifacts: the first
        (what the tokenizer produced) under ``out_dir/<label>/``, the rest (references, the
        same for every tokenizer) under ``out_dir/reference/``."""
        from ...audio import save_audio
        from .generative import _safe

        artifacts = []
        for k, (kind, samples) in enumerate(clips):
            folder = out_dir / _safe(label if k == 0 else "reference")
            path = save_audio(folder / f"{_safe(item_id)}.{kind}.wav", samples, sample_rate)
            artifacts.append(Artifact(run, label, self.name, seed, "audio",
                                      f"{kind} {item_id}", str(path)))
        return artifacts

    def reference_dnsmos(self, cache: ScoreCache, path: str | Path, samples: np.ndarray,
                         sample_rate: int) -> tuple[float, str]:
        """:meth:`dnsmos` of the recording at ``path`` (``samples``), once per file in
        ``cache``."""
        from ..keys import path_stamp

        value, note = cache.get("dnsmos", (str(path), path_stamp(path), sample_rate),
                                lambda: self.dnsmos(samples, sample_rate))
        return value, note

    def unavailable(self) -> dict[str, str]:
        """Metric -> why it is not measured here (DNSMOS needs the ``dnsmos`` extra, and the
        benchmark scores it only with ``--full``: ``with_dnsmos`` False)."""
        from ...extras import missing

        if m := missing(DNSMOS_METRIC.name):
            return {DNSMOS_METRIC.name: m}
        if not self.with_dnsmos:
            return {DNSMOS_METRIC.name: "DNSMOS not scored: only with --full (about 4 CPU-s a "
                                        "clip on one core)"}
        return {}

    def dnsmos(self, samples: np.ndarray, sample_rate: int) -> tuple[float, str]:
        """(DNSMOS overall MOS or NaN, note); needs ``with_dnsmos``."""
        from ...metrics import DNSMOS

        if self._dnsmos is None:  # as many ONNX threads as torch has (1 in bench workers)
            self._dnsmos = DNSMOS(threads=torch.get_num_threads())
        try:
            return self._dnsmos.score(samples, sample_rate).ovrl, ""
        except ValueError as err:
            return math.nan, str(err)


def window(rows: torch.Tensor, start: int, length: int) -> torch.Tensor:
    """``rows[start:start + length]`` of one item's [T, C] ids, padded with ``IGNORE_INDEX``
    past its end."""
    piece = rows[start:start + length]
    if len(piece) < length:
        pad = torch.full((length - len(piece), *rows.shape[1:]), IGNORE_INDEX,
                         dtype=rows.dtype, device=rows.device)
        piece = torch.cat([piece, pad])
    return piece


def random_crop(batch: Batch, crop: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One random ``crop``-frame window per item of ``batch``: inputs and targets [B, crop, C]
    (padded with ``IGNORE_INDEX`` past an item's end) and the valid lengths [B] (>= 1)."""
    starts = [int(torch.randint(0, max(1, int(n) - crop + 1), ())) for n in batch.lengths]
    x, targets = (torch.stack([window(r, a, crop) for r, a in zip(rows, starts, strict=True)])
                  for rows in (batch.x, batch.targets))
    lengths = torch.stack([(n - a).clamp(1, crop) for n, a in zip(batch.lengths, starts,
                                                                   strict=True)])
    return x, targets, lengths
