"""The LM probe's task: a tiny causal LM over one token stream, scored in bits.

The items' frames become LM steps (:class:`~audiotokens.llm.stream.TokenStreamer`). Each
item's inputs are ``[BOS, s_0, ..., s_{S-1}]`` and its targets ``[s_0, ..., s_{S-1}, -]``,
so every step of the stream is predicted, the first from BOS alone. The model is the bench's
:class:`~audiotokens.bench.heads.TokenEmbedding` (one table per column, combined by learned
softmax weights) under :class:`CausalLSTM`, a unidirectional LSTM with one softmax per
column (a delayed layout predicts all its codebooks at each step; its pads are never
scored). It is trained by the bench's one loop (``train_and_evaluate``: early stopping on
the validation split's bits per second, i.e. its total NLL) on random crops of at most
``crop_steps`` steps; a crop that starts inside an item reads the true previous step, so
BOS only ever stands at an item's start.

Evaluation reads whole items (no context window: the LSTM carries the state) and reports
``nll_per_token`` (nats), ``bits_per_token``, ``tokens_per_second`` and
``bits_per_second`` = total NLL in bits / total audio seconds (manifest durations) of the
split: streams of other frame rates, layouts, dedup or BPE are compared on one scale.
``bits_per_second@chance`` is the same split coded by a uniform distribution per column
(log2 of its vocabulary per scored step).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ...data.manifest import ManifestItem
from ..arrays import MappedArrays
from ..features import InputSpec
from ..heads import DownstreamModel, HeadOutput, packed_lstm
from .base import IGNORE_INDEX, Batch, Metric, Task, TaskData
from .frames import random_crop
from .splits import split_items

__all__ = ["LM_METRICS", "CausalLSTM", "ItemScore", "LMTask", "lm_steps"]

LM_METRICS = (Metric("bits_per_second", False), Metric("bits_per_token", False),
              Metric("nll_per_token", False), Metric("tokens_per_second", False))


def lm_steps(steps: np.ndarray, columns: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Stream steps [S, K] (column-local ids, < 0 at pads) -> (inputs [S + 1, K]: BOS row
    ``columns[k] + 1``, pads ``columns[k]``; targets [S + 1, K]: the steps, pads and the
    last row ``IGNORE_INDEX``)."""
    steps = np.asarray(steps, dtype=np.int64)
    v = np.asarray(columns, dtype=np.int64)
    if steps.ndim != 2 or steps.shape[1] != len(v):
        raise ValueError(f"steps must be [S, {len(v)}], got shape {steps.shape}")
    if ((steps >= v) | (steps < -1)).any():
        raise ValueError(f"step ids must be in [0, {list(v)}) or -1 (pad)")
    pad = steps < 0
    inputs = np.concatenate([(v + 1)[None], np.where(pad, v, steps)])
    targets = np.concatenate([np.where(pad, IGNORE_INDEX, steps),
                              np.full((1, len(v)), IGNORE_INDEX, np.int64)])
    return inputs, targets


class CausalLSTM(nn.Module):
    """Embedded steps [B, S, D] -> next-step logits [B, S, K, V] (``V = max(columns)``; ids
    at or past column k's vocabulary get -inf): a unidirectional LSTM of ``layers`` layers
    and ``hidden`` units, then one linear layer for all K columns."""

    def __init__(self, in_dim: int, columns: Sequence[int], hidden: int = 128,
                 layers: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        if not columns or min(columns) < 1 or hidden < 1 or layers < 1:
            raise ValueError("need >= 1 column of >= 1 id, hidden >= 1 and layers >= 1")
        self.n_columns, self.vocab = len(columns), int(max(columns))
        self.drop = nn.Dropout(dropout)
        self.lstm = nn.LSTM(in_dim, hidden, num_layers=layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.out = nn.Linear(hidden, self.n_columns * self.vocab)
        invalid = torch.arange(self.vocab)[None, :] >= torch.tensor(list(columns))[:, None]
        self.register_buffer("invalid", invalid, persistent=False)  # K, V

    def states(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[B, S, D], lengths [B] -> LSTM outputs [B, S, hidden]."""
        return self.drop(packed_lstm(self.lstm, self.drop(x), lengths))

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """LSTM outputs [B, S, hidden] -> logits [B, S, K, V]."""
        b, s, _ = h.shape
        out = self.out(h).reshape(b, s, self.n_columns, self.vocab)
        return out.masked_fill(self.invalid, float("-inf"))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> HeadOutput:
        """x [B, S, D], lengths [B] -> HeadOutput(logits [B, S, K, V], lengths)."""
        return HeadOutput(self.logits(self.states(x, lengths)), lengths)


@dataclass(frozen=True)
class ItemScore:
    """One item under the LM: ``nll`` in nats summed over its ``tokens`` scored steps."""

    nll: float
    tokens: int


class LMTask(Task):
    """A causal LM over a stream with ``columns`` ids per column (see the module docstring).

    ``crop_steps``: steps per training crop, fewer when a batch's logits would pass
    ``logits_budget`` floats (evaluation splits its logits into chunks of that budget too);
    ``layers`` and ``dropout`` of the LSTM.
    """

    name = "lm-bits"
    corpus = "any"
    metrics = LM_METRICS
    pools_input = False  # one LM step per stream step

    def __init__(self, columns: Sequence[int], crop_steps: int = 256,
                 logits_budget: int = 2 ** 24, layers: int = 2, dropout: float = 0.1) -> None:
        if not columns or min(columns) < 1:
            raise ValueError(f"columns must be positive vocabulary sizes, got {columns}")
        if crop_steps < 2 or logits_budget < 1:
            raise ValueError("crop_steps must be >= 2 and logits_budget >= 1")
        self.columns = tuple(int(c) for c in columns)
        self.crop_steps, self.logits_budget = crop_steps, logits_budget
        self.layers, self.dropout = layers, dropout

    def input_vocab(self) -> tuple[int, ...]:
        """Input ids per column: the column's ids, its pad and BOS."""
        return tuple(c + 2 for c in self.columns)

    def input_spec(self, spec: InputSpec, data: TaskData) -> InputSpec:
        """The LM reads its own steps (with pad and BOS ids), whatever the tokenizer's."""
        names = tuple(f"s{k}" for k in range(len(self.columns)))
        return InputSpec("tokens", spec.frame_rate, self.input_vocab(), names)

    def prepare(self, items: list[ManifestItem]) -> TaskData:
        """The items' own train / valid / test splits (no targets yet: see :meth:`bind`)."""
        splits = split_items(items, "corpus")
        return TaskData(splits.train, splits.valid, splits.test, ())

    def bind(self, data: TaskData, steps: Mapping[str, np.ndarray]
             ) -> tuple[TaskData, MappedArrays]:
        """``data`` with targets, and the inputs, of the stream ``steps`` (item id -> [S, K],
        computed on access): what ``train_and_evaluate`` reads."""
        ids = [it.id for it in data.items]
        inputs = MappedArrays(ids, lambda i: lm_steps(steps[i], self.columns)[0])
        targets = MappedArrays(ids, lambda i: lm_steps(steps[i], self.columns)[1])
        return TaskData(data.train, data.valid, data.test, (), targets), inputs  # type: ignore[arg-type]

    def build_head(self, in_dim: int, data: TaskData, hidden: int = 128, *,
                   spec: InputSpec | None = None, stride: int = 1,
                   core: str = "lstm", out_rank: int = 0) -> nn.Module:
        """A :class:`CausalLSTM` over this task's columns (always causal LSTM: ``core``,
        which picks bidirectional cores for the other heads, does not apply)."""
        return CausalLSTM(in_dim, self.columns, hidden, self.layers, self.dropout)

    def _head(self, model: DownstreamModel) -> CausalLSTM:
        head = model.head
        assert isinstance(head, CausalLSTM)
        return head

    def loss(self, model: DownstreamModel, batch: Batch) -> torch.Tensor:
        """Mean NLL (nats per scored step) of one random crop per item."""
        head = self._head(model)
        per_step = len(batch.x) * head.n_columns * head.vocab
        crop = min(max(2, self.logits_budget // per_step), self.crop_steps, batch.x.shape[1])
        x, targets, lengths = random_crop(batch, crop)
        frames, lengths = model.inputs(x.clamp_min(0), lengths)
        logits = head(frames, lengths).logits
        return nn.functional.cross_entropy(logits.reshape(-1, head.vocab), targets.reshape(-1),
                                           ignore_index=IGNORE_INDEX)

    @torch.no_grad()
    def score(self, model: DownstreamModel, batches: Iterable[Batch]) -> dict[str, ItemScore]:
        """Item id -> its NLL over whole items (model in eval mode)."""
        head = self._head(model)
        out: dict[str, ItemScore] = {}
        for batch in batches:
            frames, lengths = model.inputs(batch.x, batch.lengths)
            h = head.states(frames, lengths)
            b, s, _ = h.shape
            chunk = max(1, self.logits_budget // max(1, b * head.n_columns * head.vocab))
            nll = torch.zeros(b, dtype=torch.float64, device=h.device)
            for a in range(0, s, chunk):
                logp = torch.log_softmax(head.logits(h[:, a:a + chunk]).float(), -1)
                tgt = batch.targets[:, a:a + chunk]
                picked = logp.gather(-1, tgt.clamp_min(0)[..., None]).squeeze(-1)
                nll -= (picked * (tgt != IGNORE_INDEX)).sum((1, 2)).double()
            counts = (batch.targets != IGNORE_INDEX).sum((1, 2))
            for item_id, value, n in zip(batch.ids, nll.tolist(), counts.tolist(), strict=True):
                out[item_id] = ItemScore(float(value), int(n))
        return out

    def evaluate(self, model: DownstreamModel, batches: Iterable[Batch],
                 data: TaskData) -> dict[str, float]:
        """Bits per second and per token, NLL per token and tokens per second over the
        items of ``batches`` (and the uniform code's ``bits_per_second@chance``)."""
        seconds_of = {it.id: it.duration for it in data.items}
        batches = list(batches)
        scores = self.score(model, batches)
        uniform = sum(self._uniform_bits(b) for b in batches)
        nats = math.fsum(s.nll for s in scores.values())
        tokens = sum(s.tokens for s in scores.values())
        seconds = math.fsum(seconds_of[i] for i in scores)
        if tokens == 0 or seconds <= 0:
            raise ValueError(f"task {self.name}: no scored tokens or no audio in the split")
        bits = nats / math.log(2)
        return {"bits_per_second": bits / seconds, "bits_per_token": bits / tokens,
                "nll_per_token": nats / tokens, "tokens_per_second": tokens / seconds,
                "bits_per_second@chance": uniform / seconds}

    def _uniform_bits(self, batch: Batch) -> float:
        """Bits of ``batch``'s scored steps under a uniform distribution per column."""
        counts = (batch.targets != IGNORE_INDEX).sum((0, 1)).tolist()  # per column
        return math.fsum(n * math.log2(v) for n, v in zip(counts, self.columns, strict=True))
