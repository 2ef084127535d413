"""Utterance classification tasks: keyword spotting, speaker ID (+ a closed-set verification
EER), the synthetic corpus's prosody proxy, and emotion. All share :class:`PooledClassifier`.

The speaker EER is named ``eer_closed_set`` for what it is: trials are all pairs of the
evaluated split's utterances (the test split for the recorded value), which the head never
trained on, but their speakers are the head's own training classes. It measures how well the
learned embedding separates *known* speakers on new utterances, not open-set verification of
unseen speakers (VoxCeleb-style EER), which these small corpora (6-10 speakers) cannot
support next to closed-set identification. Old results files may hold the same quantity as
``eer``."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from ...data.manifest import ManifestItem
from ..features import InputSpec
from ..heads import DownstreamModel, PooledClassifier
from .base import Batch, Metric, Task, TaskData
from .metrics import accuracy, equal_error_rate, trial_scores
from .splits import split_items

__all__ = ["ClassifyTask", "KeywordSpotting", "SpeakerID", "ProsodyProxy", "Emotion"]

ACCURACY = Metric("accuracy", higher_is_better=True)
EER = Metric("eer_closed_set", higher_is_better=False)


class ClassifyTask(Task):
    """Predict one label per utterance. ``label_key`` is the ManifestItem field holding the
    class; ``split_mode`` is a :data:`~.splits.SPLIT_MODES` value; ``verification`` adds
    ``eer_closed_set``: the EER over all pairs of the evaluated split's utterances (held out
    from training; their speakers are training classes), scored by cosine similarity of the
    pooled embeddings (see the module docstring)."""

    label_key = "label"
    split_mode = "corpus"
    stratify_by = "label"
    held_out_speakers = (1, 2)  # (valid, test) speakers for split_mode "speaker"
    verification = False
    metrics = (ACCURACY,)

    def prepare(self, items: list[ManifestItem]) -> TaskData:
        """Keep labelled items, split them, index the classes seen in training (sorted).
        With ``verification``, a valid or test item whose audio file is also a training
        item's raises ValueError (its trials would not be held out)."""
        labelled = [it for it in items if getattr(it, self.label_key) is not None]
        if not labelled:
            raise ValueError(f"task {self.name}: no item has a '{self.label_key}'")
        s = split_items(labelled, self._mode(labelled), stratify_by=self.stratify_by,
                        n_valid_speakers=self.held_out_speakers[0],
                        n_test_speakers=self.held_out_speakers[1],
                        min_test=2 if self.verification else 1)
        if self.verification:
            _check_held_out(self.name, s.train, [*s.valid, *s.test])
        classes = tuple(sorted({str(getattr(it, self.label_key)) for it in s.train}))
        if len(classes) < 2:
            raise ValueError(f"task {self.name}: need >= 2 classes in train, got {classes}")
        index = {c: i for i, c in enumerate(classes)}
        keep = [
            [it for it in part if str(getattr(it, self.label_key)) in index]
            for part in (s.train, s.valid, s.test)
        ]
        targets: dict[str, int | list[int]] = {
            it.id: index[str(getattr(it, self.label_key))] for part in keep for it in part
        }
        return TaskData(keep[0], keep[1], keep[2], classes, targets)

    def _mode(self, items: list[ManifestItem]) -> str:
        return self.split_mode

    def build_head(self, in_dim: int, data: TaskData, hidden: int = 128, *,
                   spec: InputSpec | None = None, stride: int = 1,
                   core: str = "lstm", out_rank: int = 0) -> nn.Module:
        """A pooled classifier over ``len(data.classes)`` classes (convolutional context of
        its own: ``core`` does not apply)."""
        return PooledClassifier(in_dim, len(data.classes), hidden=hidden, embed_dim=hidden)

    def loss(self, model: DownstreamModel, batch: Batch) -> torch.Tensor:
        """Cross-entropy of the class logits."""
        return nn.functional.cross_entropy(model(batch.x, batch.lengths).logits, batch.targets)

    def chance(self, data: TaskData, metrics: dict[str, float]) -> dict[str, float]:
        """Accuracy of always guessing the most frequent training class; with
        ``verification``, the closed-set EER of a constant trial score (one value for every
        pair of test utterances)."""
        train = np.array([data.targets[it.id] for it in data.train])
        test = np.array([data.targets[it.id] for it in data.test])
        out = {"accuracy": accuracy(np.full(len(test), np.bincount(train).argmax()), test)}
        if self.verification:
            speakers = [data.classes[int(t)] for t in test]
            _, same = trial_scores(np.ones((len(test), 1)), speakers)
            if same.any() and not same.all():
                out[EER.name] = equal_error_rate(np.zeros(len(same)), same)
        return out

    def evaluate(self, model: DownstreamModel, batches: Iterable[Batch],
                 data: TaskData) -> dict[str, float]:
        """Accuracy, and with ``verification`` the closed-set EER over the pairs of these
        batches' utterances (only the split being evaluated) when it has both same- and
        different-speaker pairs."""
        preds, targets, embs, speakers = [], [], [], []
        for batch in batches:
            out = model(batch.x, batch.lengths)
            preds.append(out.logits.argmax(-1).cpu().numpy())
            targets.append(batch.targets.cpu().numpy())
            if self.verification and out.embedding is not None:
                embs.append(out.embedding.float().cpu().numpy())
                speakers += [data.classes[int(t)] for t in batch.targets.cpu()]
        result = {"accuracy": accuracy(np.concatenate(preds), np.concatenate(targets))}
        if self.verification:
            scores, same = trial_scores(np.concatenate(embs), speakers)
            if same.any() and not same.all():  # e.g. a validation split of 1 item/speaker
                result[EER.name] = equal_error_rate(scores, same)
        return result


def _check_held_out(task: str, train: list[ManifestItem], held_out: list[ManifestItem]) -> None:
    """ValueError when an evaluated item is (the audio file of) a training item."""
    seen = {it.path: it.id for it in train}
    for it in held_out:
        if it.path in seen:
            raise ValueError(f"task {task}: {it.path}: item {it.id!r} is evaluated but the same "
                             f"file is training item {seen[it.path]!r}; verification trials "
                             "must be held out")


class KeywordSpotting(ClassifyTask):
    """FSDD spoken digits, speaker-independent: test and valid speakers unseen in training."""

    name, corpus = "kws-fsdd", "fsdd"
    split_mode = "speaker"


class SpeakerID(ClassifyTask):
    """Closed-set speaker identification, split by utterance (stratified per speaker); also
    ``eer_closed_set``, the verification EER over all pairs of held-out test utterances of
    these same speakers."""

    label_key = stratify_by = "speaker"
    split_mode = "utterance"
    verification = True
    metrics = (ACCURACY, EER)

    def __init__(self, name: str, corpus: str) -> None:
        self.name, self.corpus = name, corpus


class ProsodyProxy(ClassifyTask):
    """Paralinguistic proxy on the synthetic corpus: the label is the prosody class the
    synthesiser used (rate/pitch style), test speakers held out by the corpus's splits."""

    name, corpus = "prosody-proxy", "synthetic"


class Emotion(ClassifyTask):
    """Emotion classes of an emotion-corpus folder (RAVDESS / CREMA-D / IEMOCAP layouts):
    held-out speakers when there are >= 4 of them, else split by utterance per class."""

    name, corpus = "emotion", "emotion"

    def _mode(self, items: list[ManifestItem]) -> str:
        if all(it.split for it in items):
            return "corpus"
        return "speaker" if len({it.speaker for it in items}) >= 4 else "utterance"
