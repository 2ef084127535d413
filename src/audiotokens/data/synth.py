"""A synthetic speech corpus from espeak-ng: many speakers, transcripts, phone alignments.

Speakers are (espeak voice, voice variant, base pitch) triples, e.g. ``en-gb-x-rp+m3+p47``.
Each utterance is an isolated word or a short generated sentence, spoken at a random rate
and pitch; its ``label`` is the prosody class those settings fall in (the paralinguistic
proxy task), one of :data:`PROSODY_LABELS`:

============  ===========================  =====================================
rate class    espeak rate (words/minute)   pitch class: offset from speaker base
============  ===========================  =====================================
``slow``      120..140                     ``low``: -14..-6 (espeak 0..100 scale)
``normal``    165..190                     ``high``: +6..+14
``fast``      225..260
============  ===========================  =====================================

Labels are ``"{rate}-{pitch}"`` (6 classes, e.g. ``"fast-low"``). Test and valid speakers
are held out: they never speak in train (a speaker-ID task must split train by itself).
Output: ``wavs/*.wav`` (mono PCM16 at ``sample_rate``), ``{train,valid,test,all}.jsonl``
with paths relative to ``out_dir``. Every utterance is synthesized in its own fresh espeak
session from an RNG seeded by (seed, index): same seed, same files, byte for byte.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .manifest import SPLITS, ManifestItem, write_manifest

__all__ = [
    "PITCH_CLASSES",
    "PROSODY_LABELS",
    "RATE_CLASSES",
    "Speaker",
    "SynthConfig",
    "SynthResult",
    "VARIANTS",
    "VOICES",
    "make_speakers",
    "synthesize_corpus",
]

VOICES = ("en-us", "en-gb-x-rp", "en", "en-gb-scotland", "en-029", "en-us-nyc",
          "en-gb-x-gbclan", "en-gb-x-gbcwmd")
# espeak variants (9 male, 9 female) whose output is bit-reproducible. Variants with
# "breath" (f2, f3, f5, Alicia, ...) are left out: their noise changes from run to run.
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "Andy", "john",
            "f1", "f4", "linda", "steph", "Annie", "anika", "belinda", "grandma", "Andrea")
RATE_CLASSES = {"slow": (120, 140), "normal": (165, 190), "fast": (225, 260)}
PITCH_CLASSES = {"low": (-14, -6), "high": (6, 14)}
PROSODY_LABELS = tuple(f"{r}-{p}" for r in RATE_CLASSES for p in PITCH_CLASSES)
BASE_PITCH = (35, 65)  # speaker base pitch, espeak 0..100 scale
MAX_MINUTES = 600.0
MANIFESTS = (*SPLITS, "all")


@dataclass(frozen=True)
class Speaker:
    """A synthetic speaker: espeak voice + variant + base pitch (0..100)."""

    voice: str
    variant: str
    base_pitch: int

    @property
    def name(self) -> str:
        """Stable id, e.g. ``en-gb-x-rp+m3+p47``."""
        return f"{self.voice}+{self.variant}+p{self.base_pitch}"

    @property
    def espeak_voice(self) -> str:
        """The voice name espeak-ng loads, e.g. ``en-gb-x-rp+m3``."""
        return f"{self.voice}+{self.variant}"


@dataclass(frozen=True)
class SynthConfig:
    """What to synthesize. ``minutes`` of speech in total (the last utterance may overshoot
    by a few seconds); ``word_fraction`` of utterances are isolated words, the rest sentences.
    """

    minutes: float = 3.0
    seed: int = 0
    n_speakers: int = 12
    valid_speakers: int = 2
    test_speakers: int = 2
    sample_rate: int = 16000
    word_fraction: float = 0.25
    voices: tuple[str, ...] = VOICES
    variants: tuple[str, ...] = VARIANTS

    def __post_init__(self) -> None:
        if not 0 < self.minutes <= MAX_MINUTES:
            raise ValueError(f"minutes must be in (0, {MAX_MINUTES:g}], got {self.minutes}")
        if not 8000 <= self.sample_rate <= 48000:
            raise ValueError(f"sample_rate must be in 8000..48000 Hz, got {self.sample_rate}")
        if not 0.0 <= self.word_fraction <= 1.0:
            raise ValueError(f"word_fraction must be in [0, 1], got {self.word_fraction}")
        bad_voices = sorted(set(self.voices) - set(VOICES))
        if bad_voices or not self.voices:
            raise ValueError(f"voices {bad_voices or '()'} not supported; allowed: {VOICES}")
        bad_variants = sorted(set(self.variants) - set(VARIANTS))
        if bad_variants or not self.variants:
            raise ValueError(f"variants {bad_variants or '()'} not supported; "
                             f"allowed: {VARIANTS}")
        most = len(set(self.voices)) * len(set(self.variants))
        if not 1 <= self.n_speakers <= most:
            raise ValueError(f"n_speakers must be in 1..{most} (voices x variants), "
                             f"got {self.n_speakers}")
        if min(self.valid_speakers, self.test_speakers) < 0 or (
                self.valid_speakers + self.test_speakers >= self.n_speakers):
            raise ValueError(f"valid_speakers ({self.valid_speakers}) + test_speakers "
                             f"({self.test_speakers}) must be >= 0 and leave at least one of "
                             f"the {self.n_speakers} speakers for train")


@dataclass
class SynthResult:
    """What :func:`synthesize_corpus` wrote. ``items`` carry absolute paths."""

    out_dir: Path
    items: list[ManifestItem]
    manifests: dict[str, Path]
    speakers: dict[str, list[str]]
    seconds: float
    wall_seconds: float = field(default=0.0)

    @property
    def n_items(self) -> int:
        """Number of utterances."""
        return len(self.items)

    @property
    def realtime_factor(self) -> float:
        """Seconds of speech made per second of wall time."""
        return self.seconds / self.wall_seconds if self.wall_seconds > 0 else float("inf")


def make_speakers(config: SynthConfig) -> list[Speaker]:
    """``config.n_speakers`` distinct speakers; the first ``len(voices)`` all differ in voice.

    Deterministic for ``config.seed``.
    """
    rng = np.random.default_rng((config.seed, 0))
    voices = [str(v) for v in rng.permutation(sorted(set(config.voices)))]
    variants = [str(v) for v in rng.permutation(sorted(set(config.variants)))]
    pairs = [(voices[i], variants[(i + j) % len(variants)])
             for j in range(len(variants)) for i in range(len(voices))]
    unique = list(dict.fromkeys(pairs))[: config.n_speakers]
    pitches = rng.integers(BASE_PITCH[0], BASE_PITCH[1] + 1, size=len(unique))
    return [Speaker(v, var, int(p)) for (v, var), p in zip(unique, pitches, strict=True)]


def _speaker_splits(speakers: list[Speaker], config: SynthConfig) -> dict[str, str]:
    """speaker name -> split: the last ``test_speakers`` test, the ones before valid."""
    n_train = len(speakers) - config.valid_speakers - config.test_speakers
    splits = {}
    for k, spk in enumerate(speakers):
        splits[spk.name] = ("train" if k < n_train else
                            "valid" if k < n_train + config.valid_speakers else "test")
    return splits


@dataclass(frozen=True)
class _Plan:
    text: str
    rate: int
    pitch: int
    pitch_range: int
    label: str


def _plan_utterance(config: SynthConfig, index: int, speaker: Speaker) -> _Plan:
    from .synth_text import random_sentence, random_word

    rng = np.random.default_rng((config.seed, 1, index))
    text = random_word(rng) if rng.random() < config.word_fraction else random_sentence(rng)
    rate_class = list(RATE_CLASSES)[int(rng.integers(len(RATE_CLASSES)))]
    pitch_class = list(PITCH_CLASSES)[int(rng.integers(len(PITCH_CLASSES)))]
    rate = int(rng.integers(RATE_CLASSES[rate_class][0], RATE_CLASSES[rate_class][1] + 1))
    lo, hi = PITCH_CLASSES[pitch_class]
    pitch = int(np.clip(speaker.base_pitch + int(rng.integers(lo, hi + 1)), 0, 100))
    pitch_range = int(rng.integers(35, 76))
    return _Plan(text, rate, pitch, pitch_range, f"{rate_class}-{pitch_class}")


def _prepare(out_dir: Path, overwrite: bool) -> Path:
    """Create ``out_dir/wavs``; refuse to mix with an earlier corpus unless ``overwrite``."""
    wavs = out_dir / "wavs"
    old = [out_dir / f"{name}.jsonl" for name in MANIFESTS if (out_dir / f"{name}.jsonl").exists()]
    old_wavs = sorted(wavs.glob("*.wav")) if wavs.is_dir() else []
    if (old or old_wavs) and not overwrite:
        raise FileExistsError(f"{out_dir}: already holds a corpus ({len(old_wavs)} wavs); "
                              "choose another folder or pass overwrite=True (--overwrite)")
    for path in old + old_wavs:
        path.unlink()
    wavs.mkdir(parents=True, exist_ok=True)
    return wavs


def synthesize_corpus(out_dir: str | Path, config: SynthConfig | None = None, *,
                      overwrite: bool = False) -> SynthResult:
    """Synthesize ``config.minutes`` of speech into ``out_dir`` (see the module docstring).

    Returns a :class:`SynthResult`; raises ``FileExistsError`` if ``out_dir`` already holds
    a corpus and ``overwrite`` is False, :class:`~audiotokens.data.espeak.EspeakError` if
    libespeak-ng cannot be used.
    """
    from ..audio import resample, save_audio
    from .espeak import Espeak

    config = config or SynthConfig()
    start = time.perf_counter()
    out_dir = Path(out_dir)
    wavs = _prepare(out_dir, overwrite)
    speakers = make_speakers(config)
    split_of = _speaker_splits(speakers, config)
    engine = Espeak()
    items: list[ManifestItem] = []
    total = 0.0
    while total < config.minutes * 60.0:
        index = len(items)
        speaker = speakers[index % len(speakers)]
        plan = _plan_utterance(config, index, speaker)
        with engine as tts:  # a fresh engine per utterance: output depends on nothing else
            utt = tts.synthesize(plan.text, speaker.espeak_voice, rate=plan.rate,
                                 pitch=plan.pitch, pitch_range=plan.pitch_range)
        samples = resample(utt.samples.astype(np.float32) / 32768.0, utt.sample_rate,
                           config.sample_rate)
        duration = len(samples) / config.sample_rate
        item_id = f"{speaker.name}_{index:05d}"
        save_audio(wavs / f"{item_id}.wav", samples, config.sample_rate)
        alignment = [(p, min(s, duration), min(e, duration)) for p, s, e in utt.phones]
        items.append(ManifestItem(id=item_id, path=f"wavs/{item_id}.wav", duration=duration,
                                  text=plan.text, speaker=speaker.name, label=plan.label,
                                  split=split_of[speaker.name], alignment=alignment))
        total += duration
    manifests = {"all": write_manifest(items, out_dir / "all.jsonl")}
    for split in SPLITS:
        manifests[split] = write_manifest([it for it in items if it.split == split],
                                          out_dir / f"{split}.jsonl")
    by_split = {s: [spk.name for spk in speakers if split_of[spk.name] == s] for s in SPLITS}
    absolute = [replace(it, path=str((out_dir / it.path).resolve())) for it in items]
    return SynthResult(out_dir=out_dir, items=absolute, manifests=manifests, speakers=by_split,
                       seconds=total, wall_seconds=time.perf_counter() - start)
