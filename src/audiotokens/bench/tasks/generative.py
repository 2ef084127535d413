"""Generative benchmark task: resynthesis quality of every tokenizer with a decoder.

No head is trained: each test item is encoded and decoded, and the decoded audio (resampled
back to the file's own rate, so a narrow-band codec pays for the band it drops) is scored
against the original with :mod:`audiotokens.metrics`. **PESQ is the primary metric**, in two
columns that are never averaged together: ``pesq_wb`` (wide-band, clips at >= 16 kHz) and
``pesq_nb`` (narrow-band, every clip resampled to 8 kHz). The primary one is ``pesq_wb`` when
every scored reference is at >= 16 kHz, else ``pesq_nb``
(:func:`~audiotokens.metrics.pesq_primary`); it is recorded first and stored in the results
DB as the task's primary metric (with the reason), so the ranking and the report use it.
Then STOI, SI-SDR, mel distance and, when resemblyzer is installed, speaker similarity
(cosine of d-vectors, -1..1). Values are means over the items a score is defined for;
:class:`ResynthOutcome` says per metric how many items that was and why the others failed
(``summaries``), and which metrics a missing extra left out (``unavailable``). A tokenizer
without a decoder (and the continuous baseline) gets no results: the runner reports it as
"no-decoder" and the ranking lists the task in its ``missing`` column. One or two decoded
clips per tokenizer, plus the reference clips once per run, are saved as wav files and
recorded as ``kind="audio"`` artifacts for the report.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...data.manifest import ManifestItem
from ...metrics import MetricSummary, ScoreTally
from ..db import Artifact, Result
from .base import Metric, TaskData
from .splits import split_items

__all__ = ["ResynthTask", "ResynthOutcome", "SpeakerSimilarity", "speaker_similarity_available",
           "RESYNTH_METRICS", "primary_first"]

RESYNTH_METRICS = (Metric("pesq_wb", True), Metric("pesq_nb", True), Metric("stoi", True),
                   Metric("si_sdr", True), Metric("mel_distance", False))
SPK_SIM = Metric("spk_sim", True)


def speaker_similarity_available() -> bool:
    """True when resemblyzer and its librosa / webrtcvad (+ the pkg_resources webrtcvad
    imports) are installed (nothing imported)."""
    from ...extras import missing

    return missing(SPK_SIM.name) is None


def primary_first(metrics: tuple[Metric, ...], primary: str) -> tuple[Metric, ...]:
    """``metrics`` with the one named ``primary`` moved to the front (recorded first)."""
    return tuple(sorted(metrics, key=lambda m: m.name != primary))


class SpeakerSimilarity:
    """Cosine similarity of resemblyzer d-vectors (256-d, 16 kHz) of two signals, -1..1.

    Reference embeddings are cached per key (an item id) for the life of the object.
    """

    def __init__(self, device: str = "cpu") -> None:
        import warnings

        with warnings.catch_warnings():  # its scipy / pkg_resources imports are deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            from resemblyzer import VoiceEncoder

        self.encoder = VoiceEncoder(device, verbose=False)
        self._refs: dict[str, np.ndarray] = {}

    def embed(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mono float [N] at ``sample_rate`` -> unit-norm float32 [256]; ValueError if the
        signal has no voiced part left after resemblyzer's silence trimming."""
        from resemblyzer import preprocess_wav

        from ...audio import resample

        wav = resample(np.asarray(samples, dtype=np.float32), sample_rate, 16000)
        wav = preprocess_wav(wav)
        if len(wav) < 1600:
            raise ValueError("speaker similarity: under 0.1 s of voiced audio")
        return self.encoder.embed_utterance(wav)

    def score(self, key: str, reference: np.ndarray, estimate: np.ndarray,
              sample_rate: int) -> float:
        """Cosine of the embeddings of ``reference`` (cached under ``key``) and ``estimate``."""
        if key not in self._refs:
            self._refs[key] = self.embed(reference, sample_rate)
        ref, est = self._refs[key], self.embed(estimate, sample_rate)
        return float(np.dot(ref, est) / max(float(np.linalg.norm(ref) * np.linalg.norm(est)),
                                             1e-12))


@dataclass
class ResynthOutcome:
    """One generative cell: ``results`` (primary metric first), ``artifacts`` (audio clips),
    per-metric ``metrics`` means, ``n_items`` items tried and ``notes`` (every reason a score
    was undefined). ``summaries``: per metric, the items it was scored on out of
    ``n_items`` and its failures ("item: reason"); ``unavailable``: metric -> why it was
    not measured at all (the extra to install); ``primary``: the primary metric chosen for
    these items ("" when the task's is fixed), ``primary_reason`` why."""

    results: list[Result]
    artifacts: list[Artifact]
    metrics: dict[str, float]
    n_items: int
    notes: list[str] = field(default_factory=list)
    summaries: dict[str, MetricSummary] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    primary: str = ""
    primary_reason: str = ""


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("._")[:80] or "item"


class ResynthTask:
    """Encode + decode the test items and score them (see the module docstring).

    ``quick_items`` / ``full_items`` cap the items scored; items shorter than
    ``min_seconds`` are skipped (PESQ and STOI need voiced speech of some length);
    ``n_samples`` decoded clips per tokenizer are kept for the report.
    """

    generative = True

    def __init__(self, name: str, corpus: str, quick_items: int = 6, full_items: int = 100,
                 min_seconds: float = 1.0, n_samples: int = 2) -> None:
        if quick_items < 1 or full_items < 1 or n_samples < 0:
            raise ValueError("quick_items and full_items must be >= 1, n_samples >= 0")
        self.name, self.corpus = name, corpus
        self.quick_items, self.full_items = quick_items, full_items
        self.min_seconds, self.n_samples = min_seconds, n_samples
        self.with_speaker = speaker_similarity_available()
        self.metrics = RESYNTH_METRICS + ((SPK_SIM,) if self.with_speaker else ())
        self._spk: SpeakerSimilarity | None = None

    @property
    def primary(self) -> Metric:
        """The primary metric of 16 kHz+ references, wide-band PESQ; :meth:`run` records
        ``pesq_nb`` first instead when a scored reference is below 16 kHz."""
        return self.metrics[0]

    def prepare(self, items: list[ManifestItem]) -> TaskData:
        """Test items only (the corpus's own test split, else 2 held-out speakers), at least
        ``min_seconds`` long; train and valid stay empty (nothing is trained)."""
        if items and all(it.split for it in items):
            test = [it for it in items if it.split == "test"]
        else:
            test = split_items(items, "speaker").test
        test = [it for it in test if it.duration >= self.min_seconds]
        if not test:
            raise ValueError(f"task {self.name}: no test items of >= {self.min_seconds} s")
        return TaskData([], [], sorted(test, key=lambda it: it.id), ())

    def select(self, data: TaskData, full: bool) -> list[ManifestItem]:
        """An evenly spread slice of the test items (``full_items`` or ``quick_items``)."""
        cap = self.full_items if full else self.quick_items
        test = data.test
        step = max(1.0, len(test) / cap)
        return [test[int(i * step)] for i in range(min(cap, len(test)))]

    def run(self, tokenizer: Any, items: list[ManifestItem], out_dir: Path, *, run: str,
            label: str, tier: str, seed: int = 0, with_reference: bool = True,
            device: str = "cpu") -> ResynthOutcome:
        """Resynthesize ``items`` with ``tokenizer`` (which must have a decoder); decoded clips
        go to ``out_dir/<label>/``, reference clips to ``out_dir/reference/``.

        Raises :class:`~audiotokens.tokenizers.base.NoDecoderError` for a tokenizer without
        a decoder and ValueError when the primary metric (see the module docstring) is
        undefined for every item.
        """
        from ...audio import load_audio, resample, save_audio
        from ...metrics import pesq_primary, resynth_metrics
        from ...tokenizers.base import NoDecoderError

        info = tokenizer.info
        if not info.has_decoder:
            raise NoDecoderError(f"tokenizer '{label}' has no decoder")
        if self.with_speaker and self._spk is None:
            self._spk = SpeakerSimilarity(device)
        tally = ScoreTally()
        artifacts: list[Artifact] = []
        notes: list[str] = []
        rates: list[int] = []
        for k, item in enumerate(items):
            audio = load_audio(item.path)
            rates.append(audio.sample_rate)
            decoded = tokenizer.decode(tokenizer.encode(audio.samples, audio.sample_rate))
            estimate = resample(np.asarray(decoded, dtype=np.float32), info.sample_rate,
                                audio.sample_rate)
            scores = resynth_metrics(audio.samples, estimate, audio.sample_rate)
            notes += [f"{item.id}: {n}" for n in scores.notes]
            for m in RESYNTH_METRICS:
                tally.add(m.name, item.id, float(getattr(scores, m.name)),
                          scores.reason(m.name))
            if self._spk is not None:
                tally.add(SPK_SIM.name, item.id, *self._speaker(item, audio, estimate, notes))
            if k < self.n_samples:
                name = _safe(item.id)
                wav = save_audio(out_dir / _safe(label) / f"{name}.wav", decoded,
                                 info.sample_rate)
                artifacts.append(Artifact(run, label, self.name, seed, "audio",
                                          f"decoded {item.id}", str(wav)))
                if with_reference:
                    ref = save_audio(out_dir / "reference" / f"{name}.wav", audio.samples,
                                     audio.sample_rate)
                    artifacts.append(Artifact(run, label, self.name, seed, "audio",
                                              f"reference {item.id}", str(ref)))
        means = tally.means()
        choice = pesq_primary(rates) if rates else None
        primary = choice.metric if choice else self.primary.name
        if primary not in means:
            raise ValueError(f"task {self.name}: {primary} undefined for all "
                             f"{len(items)} items ({notes[0] if notes else 'no items'})")
        results = [Result(run, label, tier, self.name, m.name, means[m.name], seed,
                          m.higher_is_better) for m in primary_first(self.metrics, primary)
                   if m.name in means]
        return ResynthOutcome(results, artifacts, means, len(items), notes, tally.summaries(),
                              self.unavailable(), primary, choice.reason if choice else "")

    def unavailable(self) -> dict[str, str]:
        """Metric -> why it is not measured here (a missing extra), for this task's optional
        metrics."""
        from ...extras import missing

        return {SPK_SIM.name: m} if (m := missing(SPK_SIM.name)) else {}

    def _speaker(self, item: ManifestItem, audio: Any, estimate: np.ndarray,
                 notes: list[str]) -> tuple[float, str]:
        """(speaker similarity or NaN, the reason when NaN)."""
        assert self._spk is not None
        try:
            return self._spk.score(item.id, audio.samples, estimate, audio.sample_rate), ""
        except ValueError as err:
            notes.append(f"{item.id}: {err}")
            return math.nan, str(err)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, corpus={self.corpus!r})"
