"""Spoken word / pseudo-word minimal pairs (sWUGGY-style) synthesized with espeak-ng.

For each real word (the synthetic corpus's :data:`~.synth_text.WORDS` by default) and each
speaker, espeak gives the word's phonemes in that speaker's voice; the pseudo-word changes
one of them for another of the same class (stop for stop, fricative for fricative, nasal
for nasal, liquid or glide for another, full vowel for full vowel, stress kept), so it has
the same length and syllable structure and stays pronounceable. A change that would give
any word of the corpus grammar (:data:`~.synth_text.LEXICON`) is not used. Both are then
spoken from their phonemes (``[[...]]`` input: the word sounds exactly as from its text)
with the same voice, rate and pitch, so a pair differs in one phone only.

Output folder: ``wavs/*.wav``, ``all.jsonl`` (a manifest: ``label`` "word" or "nonword",
``text`` the word's spelling or the pseudo-word's phonemes, ``split`` "test"), and
``pairs.jsonl`` (one line per pair: ``id``, ``word`` and ``nonword`` item ids, ``speaker``,
``text``, ``phonemes``, ``nonword_phonemes``) and ``config.json`` (the :class:`PairConfig`).
Same config, same files.

Unlike Wuggy (sWUGGY's generator), the pseudo-words are not checked against a full English
lexicon (none ships offline), only against the corpus's words, and the change is one phone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .manifest import ManifestItem, read_manifest, write_manifest

__all__ = ["PHONE_CLASSES", "PairConfig", "MinimalPair", "PairSet", "pseudo_word",
           "synthesize_pairs", "read_pairs", "PAIRS_FILE", "PAIRS_MANIFEST"]

PAIRS_FILE = "pairs.jsonl"
PAIRS_MANIFEST = "all.jsonl"
CONFIG_FILE = "config.json"
#: espeak-ng ASCII phoneme names (English) that may replace each other
PHONE_CLASSES: tuple[tuple[str, ...], ...] = (
    ("p", "b", "t", "d", "k", "g"),
    ("f", "v", "T", "D", "s", "z", "S", "Z"),
    ("tS", "dZ"),
    ("m", "n", "N"),
    ("l", "r", "w", "j"),
    ("a", "A:", "E", "I", "i:", "O:", "U", "u:", "V", "aI", "aU", "eI", "oU", "OI", "3:"),
)
_STRESS = "',"


@dataclass(frozen=True)
class PairConfig:
    """Which pairs: ``words`` (default: the synthetic corpus's isolated words) with at least
    ``min_phones`` phonemes, spoken by ``n_speakers`` speakers: the last ones of the
    synthetic corpus's speaker list for ``speaker_seed`` (with the default corpus settings,
    its held-out test speakers, then valid), at ``rate`` words/minute and the speaker's base
    pitch; ``seed`` picks the changed phone."""

    words: tuple[str, ...] = ()
    min_phones: int = 4
    n_speakers: int = 2
    speaker_seed: int = 0
    rate: int = 175
    seed: int = 0
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        if self.min_phones < 2 or self.n_speakers < 1:
            raise ValueError(f"min_phones must be >= 2 and n_speakers >= 1, got "
                             f"{self.min_phones}, {self.n_speakers}")
        if not 8000 <= self.sample_rate <= 48000:
            raise ValueError(f"sample_rate must be in 8000..48000 Hz, got {self.sample_rate}")


@dataclass(frozen=True)
class MinimalPair:
    """One pair: manifest item ids of the ``word`` and the ``nonword`` recording."""

    id: str
    word: str
    nonword: str
    speaker: str
    text: str
    phonemes: str
    nonword_phonemes: str


@dataclass
class PairSet:
    """A pairs folder: ``items`` (absolute paths) and ``pairs``."""

    folder: Path
    items: list[ManifestItem]
    pairs: list[MinimalPair] = field(default_factory=list)

    @property
    def manifest(self) -> Path:
        """``all.jsonl`` of the folder."""
        return self.folder / PAIRS_MANIFEST


def _core(phone: str) -> tuple[str, str]:
    """(stress prefix, phoneme name): ``"'A:"`` -> ``("'", "A:")``."""
    stripped = phone.lstrip(_STRESS)
    return phone[: len(phone) - len(stripped)], stripped


def _plain(phones: list[str]) -> str:
    return "".join(_core(p)[1] for p in phones)


def pseudo_word(phones: list[str], rng: np.random.Generator, avoid: set[str]
                ) -> list[str] | None:
    """``phones`` with one phoneme replaced by another of its :data:`PHONE_CLASSES` class
    (stress kept), picked with ``rng``; None when every such change is in ``avoid``
    (phoneme strings without stress marks)."""
    options = []
    for i, phone in enumerate(phones):
        stress, name = _core(phone)
        for group in PHONE_CLASSES:
            if name in group:
                options += [(i, stress + other) for other in group if other != name]
    for k in rng.permutation(len(options)):
        i, new = options[int(k)]
        candidate = [*phones[:i], new, *phones[i + 1:]]
        if _plain(candidate) not in avoid:
            return candidate
    return None


def _speakers(config: PairConfig) -> list:
    from .synth import SynthConfig, make_speakers

    everyone = make_speakers(SynthConfig(seed=config.speaker_seed))
    if config.n_speakers > len(everyone):
        raise ValueError(f"n_speakers must be <= {len(everyone)}, got {config.n_speakers}")
    return everyone[len(everyone) - config.n_speakers:][::-1]


def synthesize_pairs(out_dir: str | Path, config: PairConfig | None = None, *,
                     overwrite: bool = False) -> PairSet:
    """Write the pairs of ``config`` into ``out_dir`` (see the module docstring); a folder
    that already holds pairs made with the same config is read back instead."""
    from ..audio import resample, save_audio
    from .espeak import Espeak
    from .synth_text import LEXICON, WORDS

    config = config or PairConfig()
    out = Path(out_dir)
    stamp = json.dumps(asdict(config), sort_keys=True)
    if (out / PAIRS_FILE).is_file():
        made = (out / CONFIG_FILE).read_text() if (out / CONFIG_FILE).is_file() else ""
        if made == stamp:
            return read_pairs(out)
        if not overwrite:
            raise FileExistsError(f"{out}: holds pairs made with other settings; choose "
                                  "another folder or pass overwrite=True (--overwrite)")
        for old in (out / "wavs").glob("*.wav"):
            old.unlink()
    (out / "wavs").mkdir(parents=True, exist_ok=True)
    engine = Espeak()
    items: list[ManifestItem] = []
    pairs: list[MinimalPair] = []
    for speaker in _speakers(config):
        voice = speaker.espeak_voice
        with engine as tts:
            lexicon = {_plain(tts.phonemes(w, voice)) for w in LEXICON}
            spelled = {w: tts.phonemes(w, voice) for w in (config.words or WORDS)}
        for k, (word, phones) in enumerate(spelled.items()):
            if len([p for p in phones if _core(p)[1]]) < config.min_phones:
                continue
            other = pseudo_word(phones, np.random.default_rng((config.seed, k)), lexicon)
            if other is None:
                continue
            pair_id = f"{speaker.name}_{word}"
            ids = []
            for kind, seq in (("word", phones), ("nonword", other)):
                with engine as tts:
                    utt = tts.synthesize("[[" + "".join(seq) + "]]", voice, rate=config.rate,
                                         pitch=speaker.base_pitch, phonemes=True)
                samples = resample(utt.samples.astype(np.float32) / 32768.0, utt.sample_rate,
                                   config.sample_rate)
                item_id = f"{pair_id}_{kind}"
                save_audio(out / "wavs" / f"{item_id}.wav", samples, config.sample_rate)
                items.append(ManifestItem(
                    id=item_id, path=f"wavs/{item_id}.wav",
                    duration=len(samples) / config.sample_rate,
                    text=word if kind == "word" else " ".join(seq), speaker=speaker.name,
                    label=kind, split="test"))
                ids.append(item_id)
            pairs.append(MinimalPair(pair_id, ids[0], ids[1], speaker.name, word,
                                     " ".join(phones), " ".join(other)))
    if not pairs:
        raise ValueError(f"no word has >= {config.min_phones} phonemes and a pseudo-word")
    write_manifest(items, out / PAIRS_MANIFEST)
    lines = "".join(json.dumps(asdict(p)) + "\n" for p in pairs)
    (out / PAIRS_FILE).write_text(lines, encoding="utf-8")
    (out / CONFIG_FILE).write_text(stamp)
    return read_pairs(out)


def read_pairs(folder: str | Path) -> PairSet:
    """Read a pairs folder written by :func:`synthesize_pairs`; every pair's items must be
    in its manifest."""
    folder = Path(folder)
    path = folder / PAIRS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: no {PAIRS_FILE} (make one with `audiotokens data "
                                "minimal-pairs`)")
    items = read_manifest(folder / PAIRS_MANIFEST)
    known = {it.id for it in items}
    pairs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            pair = MinimalPair(**json.loads(line))
        except (ValueError, TypeError) as err:
            raise ValueError(f"{path}:{n}: not a minimal pair ({err})") from None
        if pair.word not in known or pair.nonword not in known:
            raise ValueError(f"{path}:{n}: pair {pair.id!r} names items missing from "
                             f"{PAIRS_MANIFEST}")
        pairs.append(pair)
    return PairSet(folder, items, pairs)
