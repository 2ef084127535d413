"""Text-to-speech on tokens: phone frames in, a tokenizer's tokens out, decoded to audio.

The corpus is a single synthetic voice with phone alignments (espeak-ng's phoneme events, see
:mod:`audiotokens.data.synth`). In training, each item's phones are laid out on the
tokenizer's frame grid from the alignment (frame ``t`` gets the phone sounding at
``(t + 0.5) / frame_rate``, silence elsewhere) and a
:class:`~audiotokens.bench.heads.TokenEnhancer` learns the tokens per frame (cross-entropy on
crops, early stopping on token accuracy). At test time the phone and pause sequence is given
and the durations come from a duration model trained once per run on the training split
(:mod:`.durations`); the predicted tokens are decoded and scored:

- **CER** (primary, recorded first) and WER of an ASR judge: a CTC head trained on
  continuous log-mel of the task's training audio (the "ASR on continuous features" of
  DASB's TTS scoring). ``cer@oracle_durations`` uses the aligned durations instead (the
  acoustic model alone), ``cer@reference`` is the judge on the real test audio (its own
  floor) and ``cer@clean_tokens`` on the test audio's tokens decoded unchanged (the
  tokenizer's floor); ``duration_mae_ms`` is the duration model's mean absolute error;
- speaker similarity to the real recording (resemblyzer), when installed;
- DNSMOS overall MOS (speechmos), when installed, with ``dnsmos@reference``.

Only the predicted and oracle-duration signals depend on the head. The judge and the duration
model (:mod:`.judge`, trained once per run), the scores of the real recordings (once per run)
and of the clean tokens (once per tokenizer) come from the run's
:class:`~audiotokens.bench.scorecache.ScoreCache` when the runner gives one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...analysis.phones import SILENCE, SILENCE_ID, frame_labels
from ...data.manifest import ManifestItem
from ...metrics import MetricSummary, ScoreTally
from ..db import Artifact, Result
from ..features import InputSpec
from ..scorecache import ScoreCache
from .base import Metric, TaskData
from .durations import Segments, segment_frames, segments
from .frames import DNSMOS_METRIC, Bound, TokenTargetTask
from .generative import SPK_SIM, ResynthOutcome, SpeakerSimilarity
from .generative import speaker_similarity_available as _spk_available
from .judge import Judge, load_or_train_judge
from .splits import split_items

__all__ = ["TTSTask", "SILENCE", "phone_frames", "Judge"]

CER, WER = Metric("cer", False), Metric("wer", False)
REFERENCES = ("oracle_durations", "reference", "clean_tokens")
JUDGE_RATE = 16000  # the ASR judge's log-mel rate
DURATION_FIT = {"steps": 300, "batch_size": 16, "lr": 3e-3, "seed": 0}  # fit_durations options


def phone_frames(alignment: list[tuple[str, float, float]], n_frames: int, frame_rate: float,
                 index: dict[str, int]) -> np.ndarray:
    """Phone id per frame, int64 [n_frames, 1]: the phone sounding at each frame's centre,
    0 (silence) where none does or the phone is not in ``index``."""
    return frame_labels(alignment, n_frames, frame_rate,
                        lambda phone: index.get(phone, SILENCE_ID))[:, None]


class TTSTask(TokenTargetTask):
    """Phone frames -> tokens (see the module docstring; head settings in
    :class:`~.frames.TokenTargetTask`). ``judge_steps``: training steps of the ASR judge."""

    name, corpus = "tts", "tts"

    def __init__(self, judge_steps: int = 600, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if judge_steps < 1:
            raise ValueError(f"judge_steps must be >= 1, got {judge_steps}")
        self.judge_steps = judge_steps
        self.with_speaker = _spk_available()
        self._judge: Judge | None = None
        self._durations: Any = None
        self._spk: SpeakerSimilarity | None = None

    @property
    def audio_metrics(self) -> tuple[Metric, ...]:
        """The metrics scored on decoded audio, CER first."""
        return (CER, WER) + ((SPK_SIM,) if self.with_speaker else ()) + \
            ((DNSMOS_METRIC,) if self.with_dnsmos else ())

    def prepare(self, items: list[ManifestItem]) -> TaskData:
        """Items with a transcript and an alignment; the corpus's splits when it has all
        three, else by hash of id (15 % test, 10 % valid). Classes: silence + the phones
        seen in training."""
        from ...data.splits import assign_splits

        usable = [it for it in items if it.text and it.alignment]
        if not usable:
            raise ValueError(f"task {self.name}: no item has both a transcript and a phone "
                             "alignment (the synthetic corpus has them)")
        if {it.split for it in usable} != {"train", "valid", "test"}:
            usable = assign_splits(usable, valid_fraction=0.1, test_fraction=0.15)
        s = split_items(usable, "corpus")
        phones = sorted({p for it in s.train for p, _, _ in it.alignment or []})
        return TaskData(s.train, s.valid, sorted(s.test, key=lambda it: it.id),
                        (SILENCE, *phones))

    def input_spec(self, spec: InputSpec, data: TaskData) -> InputSpec:
        """Phone ids at the tokenizer's frame rate, one "codebook" of the phone set."""
        return InputSpec("tokens", spec.frame_rate, (len(data.classes),), ("phones",))

    def bind(self, data: TaskData, arrays: Mapping[str, np.ndarray], spec: InputSpec
             ) -> Bound:
        """Targets: each item's tokens; inputs: its phones on the same frame grid."""
        from ..arrays import MappedArrays
        from ..arrays import n_frames as frames_of

        index = {p: i for i, p in enumerate(data.classes)}
        alignments = {it.id: it.alignment or [] for it in data.items}
        inputs = MappedArrays(alignments, lambda i: phone_frames(  # per batch, not all at once
            alignments[i], frames_of(arrays, i), spec.frame_rate, index))
        targets = MappedArrays(alignments, arrays.__getitem__)
        return Bound(TaskData(data.train, data.valid, data.test, data.classes,
                              targets),  # type: ignore[arg-type]
                     inputs)

    def judge(self, data: TaskData, device: str = "cpu", cache: ScoreCache | None = None
              ) -> Judge:
        """The ASR judge for ``data`` (see :mod:`.judge`): kept after first use, and with a
        disk ``cache`` trained once per run and loaded by every other process."""
        if self._judge is None:
            folder = None if cache is None else cache.folder
            self._judge = load_or_train_judge(self.name, self.corpus, data, self.judge_steps,
                                              folder, device)
        return self._judge

    def duration_model(self, data: TaskData, cache: ScoreCache | None = None) -> Any:
        """The :class:`~.durations.DurationPredictor` for ``data``, trained on its train
        split (:data:`DURATION_FIT`) on first use, then kept; with a disk ``cache``, trained
        once per run and loaded by every other process."""
        if self._durations is None:
            from ..keys import digest
            from ..scorecache import cached_module
            from .durations import DurationPredictor, fit_durations

            index = {p: i for i, p in enumerate(data.classes)}
            train = [s for s in (segments(it.alignment or [], it.duration, index)
                                 for it in data.train) if len(s.ids)]
            folder = None if cache is None else cache.folder
            key = "" if cache is None else digest(
                cache.versions, DURATION_FIT, data.classes,
                [(s.ids.tolist(), s.seconds.tolist()) for s in train])
            self._durations = cached_module(
                folder, f"durations-{key}",
                lambda: fit_durations(train, len(data.classes), **DURATION_FIT),
                lambda: DurationPredictor(len(data.classes)), {"classes": list(data.classes)})
        return self._durations

    def chance(self, data: TaskData, metrics: dict[str, float]) -> dict[str, float]:
        """CER and WER of a blank transcript (the judge hearing nothing it can read)."""
        from .metrics import blank_rates

        return blank_rates([it.text or "" for it in data.test])

    def score(self, model: Any, tokenizer: Any, items: list[ManifestItem], bound: Bound,
              arrays: Mapping[str, np.ndarray], out_dir: Path, *, run: str, label: str,
              tier: str, seed: int = 0, with_reference: bool = True, device: str = "cpu",
              cache: ScoreCache | None = None, tokenizer_key: str = "") -> ResynthOutcome:
        """Decode the predicted tokens of ``items``; judge them and the references (see the
        module docstring); clips go to ``out_dir``. What does not depend on the head (the
        judge, the duration model, the real recordings' scores and, given the tokenizer's
        checksum ``tokenizer_key``, its own tokens' scores) comes from ``cache`` when it has
        it (default: this task's in-memory cache)."""
        from ...audio import load_audio, resample
        from ...tokenizers.base import NoDecoderError

        if not tokenizer.info.has_decoder:
            raise NoDecoderError(f"tokenizer '{label}' has no decoder")
        cache = self.cache if cache is None else cache
        judge = self.judge(bound.data, device, cache)
        if self.with_speaker and self._spk is None:
            self._spk = SpeakerSimilarity(device)
        clips: dict[str, dict[str, np.ndarray]] = {"": {}, "oracle_durations": {}}
        tally = ScoreTally()
        artifacts: list[Artifact] = []
        notes: list[str] = []
        durations = self.duration_model(bound.data, cache)
        index = {p: i for i, p in enumerate(bound.data.classes)}
        for k, item in enumerate(items):
            audio = load_audio(item.path)  # scored at the file's own rate, like resynthesis
            real, rate = audio.samples, audio.sample_rate
            true = segments(item.alignment or [], item.duration, index)
            guess = Segments(true.ids, durations.predict(true.ids))
            tally.add("duration_mae_ms", item.id,
                      1000.0 * float(np.mean(np.abs(guess.seconds - true.seconds))))
            frames = segment_frames(guess, tokenizer.info.frame_rate)
            synth = self.decode(tokenizer, self.predict(model, frames, device), rate)
            oracle = self.decode(tokenizer, self.predict(model, bound.inputs[item.id], device),
                                 rate)
            for ref, wav in (("", synth), ("oracle_durations", oracle)):  # judged at 16 kHz
                clips[ref][item.id] = resample(wav, rate, JUDGE_RATE)
            if self._spk is not None:
                try:
                    tally.add(SPK_SIM.name, item.id, self._spk.score(item.id, real, synth, rate))
                except ValueError as err:
                    notes.append(f"{item.id}: {err}")
                    tally.add(SPK_SIM.name, item.id, math.nan, str(err))
            if self.with_dnsmos:
                for name, (value, note) in (("dnsmos", self.dnsmos(synth, rate)),
                                            ("dnsmos@reference", self.reference_dnsmos(
                                                cache, item.path, real, rate))):
                    tally.add(name, item.id, value, note)
                    notes += [f"{item.id} ({name}): {note}"] if note else []
            if k < self.n_samples:
                refs = [("reference", real)] if with_reference else []
                artifacts += self.save_clips(out_dir, item.id, [("synthesized", synth), *refs],
                                             rate, run=run, label=label, seed=seed)
        means = tally.means()
        summaries = tally.summaries()
        rates = {ref: judge.score(signals, JUDGE_RATE) for ref, signals in clips.items()}
        rates.update(self._reference_rates(judge, cache, tokenizer, tokenizer_key, items,
                                           arrays))
        for ref, value in rates.items():
            for metric in (CER, WER):  # corpus-level rates over every item's transcript
                name = metric.name + (f"@{ref}" if ref else "")
                means[name] = value[metric.name]
                summaries[name] = MetricSummary(name, means[name], len(items), len(items))
        recorded = [(m.name, m.higher_is_better) for m in self.audio_metrics] + [
            (f"{m.name}@{ref}", m.higher_is_better) for ref in REFERENCES for m in (CER, WER)] \
            + [("dnsmos@reference", True), ("duration_mae_ms", False)]
        results = [Result(run, label, tier, self.name, name, means[name], seed, hib)
                   for name, hib in recorded if name in means]
        return ResynthOutcome(results, artifacts, means, len(items), notes, summaries,
                              self.unavailable())

    def _reference_rates(self, judge: Judge, cache: ScoreCache, tokenizer: Any,
                         tokenizer_key: str, items: list[ManifestItem],
                         arrays: Mapping[str, np.ndarray]) -> dict[str, dict[str, float]]:
        """Judge rates of the references that no head changes: "reference" (the real
        recordings; once per run) and "clean_tokens" (the items' tokens decoded; once per
        tokenizer when its checksum ``tokenizer_key`` is given, else computed here)."""
        from ...audio import load_audio, resample
        from ..keys import path_stamp

        files = [(it.id, path_stamp(it.path)) for it in items]

        def clips(tokens: bool) -> dict[str, np.ndarray]:
            out = {}
            for it in items:
                audio = load_audio(it.path)
                wav = (self.decode(tokenizer, arrays[it.id], audio.sample_rate) if tokens
                       else audio.samples)
                out[it.id] = resample(wav, audio.sample_rate, JUDGE_RATE)
            return out

        def rates(tokens: bool) -> dict[str, float]:
            return judge.score(clips(tokens), JUDGE_RATE)

        real = cache.get("tts-judge-reference", (judge.key, files), lambda: rates(False))
        clean = (cache.get("tts-judge-clean-tokens", (judge.key, tokenizer_key, files),
                           lambda: rates(True)) if tokenizer_key else rates(True))
        return {"reference": real, "clean_tokens": clean}

    def unavailable(self) -> dict[str, str]:
        """Metric -> why it is not measured here: DNSMOS and speaker similarity need extras."""
        from ...extras import missing

        out = super().unavailable()
        if (message := missing(SPK_SIM.name)) is not None:
            out[SPK_SIM.name] = message
        return out
