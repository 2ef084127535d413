"""The ASR judge of TTS: a CTC head on continuous log-mel that transcribes decoded audio.

It is trained on the TTS task's training split (each utterance full-band and band-limited to
4 kHz, so an 8 kHz codec is judged on its errors, not on the band it drops) and early-stops on
its validation split. It does not depend on any tokenizer or seed, so a run trains it once:
:func:`load_or_train_judge` keeps it in ``<folder>/judge-<key>/`` (``config.json`` +
``weights.safetensors``), ``key`` a hash of everything that changes it (items and their
files, the ASR head and training settings, the log-mel settings, the package version), and
worker processes and resumed runs load it from there (see
:func:`~audiotokens.bench.scorecache.cached_module`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .asr import ASRTask
from .base import TaskData
from .loop import TrainConfig

__all__ = ["Judge", "judge_config", "judge_key", "load_or_train_judge"]


@dataclass
class Judge:
    """A trained judge: ``task`` (its :class:`ASRTask`), ``data`` (its items and characters),
    ``model`` and ``key`` (the hash of what made it); :meth:`score` gives CER / WER of audio
    clips against the items' transcripts."""

    task: ASRTask
    data: TaskData
    model: Any
    device: str = "cpu"
    key: str = ""

    def score(self, clips: dict[str, np.ndarray], sample_rate: int) -> dict[str, float]:
        """{"cer", "wer"} over ``clips`` (item id -> mono float [N] at ``sample_rate``; ids
        must be items of the judge's data), corpus-level, in batches of 16."""
        import torch

        from ...audio import resample
        from ..features import ContinuousMel
        from .base import collate

        mel = ContinuousMel(self.device)
        arrays = {k: mel.encode(resample(v, sample_rate, mel.sample_rate), mel.sample_rate)
                  for k, v in clips.items()}
        items = [it for it in self.data.items if it.id in clips]
        self.model.eval()
        with torch.no_grad():
            batches = [collate(items[i:i + 16], arrays, self.data).to(self.device)
                       for i in range(0, len(items), 16)]
            return self.task.evaluate(self.model, batches, self.data)


def judge_config(steps: int, device: str = "cpu") -> TrainConfig:
    """The judge's head settings: at most ``steps`` steps, validated every 100, patience 3."""
    return TrainConfig(max_steps=steps, eval_every=100, patience=3, lr=5e-3, dim=64,
                       hidden=128, device=device)


def _judge_data(name: str, corpus: str, data: TaskData) -> tuple[ASRTask, TaskData]:
    """The judge's ASR task and its splits: the TTS task's own (transcripts as targets)."""
    asr = ASRTask(f"{name}-judge", corpus)
    return asr, asr.prepare([replace(it, split=part) for part in ("train", "valid", "test")
                             for it in getattr(data, part)])


def judge_key(asr: ASRTask, asr_data: TaskData, cfg: TrainConfig) -> str:
    """Hash of everything that changes a judge: the versions of the packages behind it, the
    ASR head's settings, ``cfg``, the log-mel settings and the items (manifest fields and
    their files' size and modification time)."""
    from ..features import ContinuousMel
    from ..keys import digest, items_digest, path_stamp
    from ..scorecache import scorer_versions

    return digest(scorer_versions(), vars(asr), cfg, ContinuousMel().key(),
                  items_digest(asr_data.items), [path_stamp(it.path) for it in asr_data.items])


def load_or_train_judge(name: str, corpus: str, data: TaskData, steps: int,
                        folder: Path | None = None, device: str = "cpu") -> Judge:
    """The judge for the TTS task ``name``'s ``data``: loaded from ``folder`` when one with
    the same key was saved there, else trained (at most ``steps`` steps) and saved (see
    :func:`~audiotokens.bench.scorecache.cached_module`: processes sharing ``folder`` train
    it once)."""
    from ..features import ContinuousMel
    from ..scorecache import cached_module
    from .loop import build_model

    asr, asr_data = _judge_data(name, corpus, data)
    cfg = judge_config(steps, device)
    key = judge_key(asr, asr_data, cfg)
    model = cached_module(folder, f"judge-{key}", lambda: _train(asr, asr_data, cfg),
                          lambda: build_model(asr, ContinuousMel().spec, asr_data, cfg),
                          {"task": asr.name, "classes": list(asr_data.classes),
                           "train": vars(cfg)})
    return Judge(asr, asr_data, model.to(device).eval(), device, key)


def _train(asr: ASRTask, asr_data: TaskData, cfg: TrainConfig) -> Any:
    """The judge's model trained on the train split (+ its 4 kHz twins), early-stopping on
    the valid split (best weights, eval mode)."""
    from ..features import ContinuousMel, encode_items
    from .loop import train_and_evaluate

    mel = ContinuousMel(cfg.device)
    arrays = encode_items(mel, asr_data.items).arrays
    trained = train_and_evaluate(asr, _with_narrowband_twins(asr_data, arrays, mel), arrays,
                                 mel.spec, cfg)
    return trained.model


def _with_narrowband_twins(data: TaskData, arrays: dict[str, np.ndarray], mel: Any
                           ) -> TaskData:
    """``data`` plus, for each train item, a ``<id>#nb`` twin whose log-mel (added to
    ``arrays``) is of the audio band-limited to 4 kHz (through 8 kHz and back)."""
    from ...audio import load_audio, resample

    twins = []
    targets = dict(data.targets)
    for it in data.train:
        wav = load_audio(it.path, mel.sample_rate).samples
        narrow = resample(resample(wav, mel.sample_rate, 8000), 8000, mel.sample_rate)
        twin = replace(it, id=it.id + "#nb")
        arrays[twin.id] = mel.encode(narrow, mel.sample_rate)
        targets[twin.id] = data.targets[it.id]
        twins.append(twin)
    return TaskData([*data.train, *twins], data.valid, data.test, data.classes, targets)
