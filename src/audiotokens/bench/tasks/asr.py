"""Speech recognition with a BiLSTM + CTC head over characters -> CER and WER."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ...data.manifest import ManifestItem
from ..heads import CTCHead, DownstreamModel
from .base import Batch, Metric, Task, TaskData
from .metrics import error_rates, normalize_text
from .splits import split_items

__all__ = ["ASRTask", "BLANK"]

BLANK = "<blank>"


class ASRTask(Task):
    """Character CTC ASR. Items need ``text``; splits come from the corpus when every item
    has one, else by held-out speakers. Symbol 0 is the blank; characters are the sorted set
    of normalised training-text characters (test characters outside it are skipped)."""

    metrics = (Metric("cer", higher_is_better=False), Metric("wer", higher_is_better=False))

    def __init__(self, name: str, corpus: str, layers: int = 2) -> None:
        self.name, self.corpus, self.layers = name, corpus, layers

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

    def build_head(self, in_dim: int, data: TaskData, hidden: int = 128) -> nn.Module:
        """BiLSTM (``hidden`` units per direction) + linear over blank + characters."""
        return CTCHead(in_dim, len(data.classes), hidden=hidden, layers=self.layers)

    def loss(self, model: DownstreamModel, batch: Batch) -> torch.Tensor:
        """Mean CTC loss."""
        assert batch.target_lengths is not None
        return CTCHead.loss(model(batch.x, batch.lengths), batch.targets, batch.target_lengths)

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
