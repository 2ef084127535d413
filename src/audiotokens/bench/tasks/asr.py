"""Speech recognition with a BiLSTM (or conv) + CTC head over characters -> CER and WER."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ...data.manifest import ManifestItem
from ..features import InputSpec
from ..heads import CTCHead, DownstreamModel
from .base import Batch, Metric, Task, TaskData
from .metrics import blank_rates, error_rates, normalize_text
from .splits import split_items

__all__ = ["ASRTask", "BLANK"]

BLANK = "<blank>"


class ASRTask(Task):
    """Character CTC ASR. Items need ``text``; splits come from the corpus when every item
    has one, else by held-out speakers. Symbol 0 is the blank; characters are the sorted set
    of normalised training-text characters (test characters outside it are skipped).

    Head defaults (see :class:`~audiotokens.bench.heads.CTCHead`), chosen so a few hundred
    steps on minutes of speech learn: a sequence core (``TrainConfig.core``) of ``layers``
    layers (None: the core's default) over ``stack``-frame stacks (output kept at the input
    frame rate), blank output bias ``blank_bias``, ``dropout``.
    """

    metrics = (Metric("cer", higher_is_better=False), Metric("wer", higher_is_better=False))

    def __init__(self, name: str, corpus: str, layers: int | None = None, stack: int = 2,
                 blank_bias: float = 3.0, dropout: float = 0.2) -> None:
        if (layers is not None and layers < 1) or stack < 1 or not 0.0 <= dropout < 1.0:
            raise ValueError(f"task {name}: need layers >= 1, stack >= 1 and dropout in [0, 1), "
                             f"got {layers}, {stack}, {dropout}")
        self.name, self.corpus, self.layers = name, corpus, layers
        self.stack, self.blank_bias, self.dropout = stack, blank_bias, dropout

    def prepare(self, items: list[ManifestItem]) -> TaskData:
        """Keep items with a non-empty normalised transcript; build the character set."""
        usable = [it for it in items if it.text and normalize_text(it.text)]
        if not usable:
            raise ValueError(f"task {self.name}: no item has a transcript ('text')")
        mode = "corpus" if all(it.split for it in usable) else "speaker"
        s = split_items(usable, mode)
        chars = sorted({ch for it in s.train for ch in normalize_text(it.text or "")})
        index = {ch: i + 1 for i, ch in enumerate(chars)}
        targets: dict[str, int | list[int]] = {
            it.id: [index[ch] for ch in normalize_text(it.text or "") if ch in index]
            for it in [*s.train, *s.valid, *s.test]
        }
        return TaskData(s.train, s.valid, s.test, (BLANK, *chars), targets)

    def build_head(self, in_dim: int, data: TaskData, hidden: int = 128, *,
                   spec: InputSpec | None = None, stride: int = 1,
                   core: str = "lstm", out_rank: int = 0) -> nn.Module:
        """A ``core`` sequence core ``hidden`` wide + linear over blank + characters."""
        return CTCHead(in_dim, len(data.classes), hidden=hidden, layers=self.layers,
                       stack=self.stack, blank_bias=self.blank_bias, dropout=self.dropout,
                       core=core)

    def loss(self, model: DownstreamModel, batch: Batch) -> torch.Tensor:
        """Mean CTC loss."""
        assert batch.target_lengths is not None
        return CTCHead.loss(model(batch.x, batch.lengths), batch.targets, batch.target_lengths)

    def chance(self, data: TaskData, metrics: dict[str, float]) -> dict[str, float]:
        """CER and WER of a blank transcript for every test item."""
        return blank_rates([it.text or "" for it in data.test])

    def evaluate(self, model: DownstreamModel, batches: Iterable[Batch],
                 data: TaskData) -> dict[str, float]:
        """Greedy-decode each item; CER/WER against its normalised manifest text."""
        texts = {it.id: it.text or "" for it in data.items}
        refs, hyps = [], []
        for batch in batches:
            for item_id, ids in zip(batch.ids, CTCHead.greedy_decode(
                    model(batch.x, batch.lengths)), strict=True):
                refs.append(texts[item_id])
                hyps.append("".join(data.classes[i] for i in ids))
        rates = error_rates(refs, hyps)
        return {"cer": rates.cer, "wer": rates.wer}
