"""Benchmark tasks by name. Each task names the corpus kind it reads (see ``corpora.py``).

>>> from audiotokens.bench.tasks import make_task
>>> make_task("kws-fsdd").metrics[0].name
'accuracy'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from .asr import ASRTask
from .base import Batch, Metric, Task, TaskData, collate
from .classify import ClassifyTask, Emotion, KeywordSpotting, ProsodyProxy, SpeakerID
from .enhance import EnhanceTask
from .generative import ResynthTask
from .tts import TTSTask

__all__ = ["TASK_FACTORIES", "task_names", "make_task", "Task", "TaskData", "Batch", "Metric",
           "collate", "task_board", "ASRTask", "ClassifyTask", "KeywordSpotting", "SpeakerID",
           "ProsodyProxy", "Emotion", "ResynthTask", "EnhanceTask", "TTSTask", "AnyTask"]

AnyTask = Task | ResynthTask

TASK_FACTORIES: Mapping[str, Callable[[], AnyTask]] = MappingProxyType({
    "kws-fsdd": KeywordSpotting,
    "spkid-fsdd": lambda: SpeakerID("spkid-fsdd", "fsdd"),
    "spkid-librispeech": lambda: SpeakerID("spkid-librispeech", "librispeech"),
    "spkid-synth": lambda: SpeakerID("spkid-synth", "synthetic"),
    "asr-synth": lambda: ASRTask("asr-synth", "synthetic"),
    "asr-librispeech": lambda: ASRTask("asr-librispeech", "librispeech"),
    "asr-real": lambda: ASRTask("asr-real", "transcribed"),
    "prosody-proxy": ProsodyProxy,
    "emotion": Emotion,
    "enhance": EnhanceTask,
    "tts": TTSTask,
    "resynth-synth": lambda: ResynthTask("resynth-synth", "synthetic"),
    "resynth-librispeech": lambda: ResynthTask("resynth-librispeech", "librispeech"),
})


def task_board(task: AnyTask) -> str:
    """The leaderboard of ``task``: "generative" (scores decoded audio) or "discriminative"."""
    return "generative" if task.generative else "discriminative"


def task_names() -> list[str]:
    """All task names, sorted (for CLI choices and error messages)."""
    return sorted(TASK_FACTORIES)


def make_task(name: str) -> AnyTask:
    """A fresh task by name; an unknown name raises ValueError listing the known ones."""
    try:
        factory = TASK_FACTORIES[name]
    except KeyError:
        raise ValueError(f"unknown task '{name}'; known: {', '.join(task_names())}") from None
    return factory()
