"""Find and read the corpora that tasks need: the synthetic corpus, FSDD, LibriSpeech-layout
folders (via :mod:`audiotokens.data`), emotion folders (RAVDESS, CREMA-D, IEMOCAP), folders of
transcribed clips (``transcripts.tsv``; several such folders under one root are read together)
and noisy corpora (a folder with ``noisy.jsonl``: items with a ``clean_path``, see
:mod:`audiotokens.data.noise`). ``tts`` corpora (one synthetic voice, with alignments) are read
like the synthetic one but never detected: the runner synthesizes them.

Emotion items get ``label`` = emotion name and ``speaker`` = actor; IEMOCAP keeps the usual
four classes (neutral, happy + excited, angry, sad).
"""

from __future__ import annotations

import re
from pathlib import Path

from ...data.corpora import TRANSCRIPTS_FILE
from ...data.manifest import ManifestError, ManifestItem, read_manifest

__all__ = ["CORPUS_KINDS", "find_corpora", "load_corpus", "emotion_manifest"]

CORPUS_KINDS = ("synthetic", "fsdd", "librispeech", "emotion", "noisy", "tts", "transcribed")
_FSDD = re.compile(r"^\d_[A-Za-z]+_\d+\.wav$")
_LIBRI = re.compile(r"^\d+-\d+-\d+\.flac$")
_RAVDESS = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.wav$")
_CREMA = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})\.wav$")
RAVDESS_EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
                    "06": "fearful", "07": "disgust", "08": "surprised"}
CREMA_EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fearful", "HAP": "happy",
                  "NEU": "neutral", "SAD": "sad"}
IEMOCAP_EMOTIONS = {"neu": "neutral", "hap": "happy", "exc": "happy", "ang": "angry",
                    "sad": "sad"}
_IEMOCAP_LINE = re.compile(r"^\[[\d.]+ - [\d.]+\]\t(\S+)\t(\w+)\t")


def _kind_of(folder: Path) -> str | None:
    from ...data.noise import NOISY_MANIFEST

    if (folder / "all.jsonl").is_file():
        return "synthetic"
    if (folder / NOISY_MANIFEST).is_file():
        return "noisy"
    rec = folder / "recordings" if (folder / "recordings").is_dir() else folder
    if any(_FSDD.match(p.name) for p in rec.glob("*.wav")):
        return "fsdd"
    if any(_LIBRI.match(p.name) for p in folder.rglob("*.flac")):
        return "librispeech"
    if (folder / TRANSCRIPTS_FILE).is_file():
        return "transcribed"
    if any(_RAVDESS.match(p.name) or _CREMA.match(p.name) for p in folder.rglob("*.wav")) or \
            any(folder.glob("Session*/dialog/EmoEvaluation")):
        return "emotion"
    return None


def find_corpora(root: str | Path) -> dict[str, Path]:
    """Corpus kind -> folder, for ``root`` itself and its direct sub-folders (first found wins).

    Raises ManifestError when ``root`` is not a folder or holds no known corpus layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise ManifestError(f"{root}: not a folder (expected a corpus or a folder of corpora)")
    found: dict[str, Path] = {}
    transcribed = 0
    for folder in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        kind = _kind_of(folder)
        transcribed += kind == "transcribed"
        if kind is not None:
            found.setdefault(kind, folder.resolve())
    if transcribed > 1 and found["transcribed"] != root.resolve():
        found["transcribed"] = root.resolve()  # several sets of transcribed clips: all of them
    if not found:
        raise ManifestError(f"{root}: no known corpus found (kinds: {', '.join(CORPUS_KINDS)}: "
                            "all.jsonl, FSDD recordings/, LibriSpeech .flac tree, emotion wavs, "
                            "noisy.jsonl)")
    return found


def load_corpus(kind: str, root: str | Path) -> list[ManifestItem]:
    """Items of the corpus ``kind`` (one of :data:`CORPUS_KINDS`) at ``root``."""
    from ... import data

    root = Path(root)
    if kind == "synthetic":
        return read_manifest(root / "all.jsonl")
    if kind == "fsdd":
        return data.fsdd_manifest(root)
    if kind == "librispeech":
        return data.librispeech_manifest(root)
    if kind == "emotion":
        return emotion_manifest(root)
    if kind == "noisy":
        from ...data.noise import NOISY_MANIFEST

        return read_manifest(root / NOISY_MANIFEST)
    if kind == "tts":  # a single-voice synthetic corpus (the benchmark runner makes it)
        return read_manifest(root / "all.jsonl")
    if kind == "transcribed":
        return data.transcribed_manifest(root)
    raise ValueError(f"corpus kind must be one of {CORPUS_KINDS}, got {kind!r}")


def _iemocap_labels(root: Path) -> dict[str, str]:
    labels: dict[str, str] = {}
    for txt in sorted(root.glob("Session*/dialog/EmoEvaluation/*.txt")):
        for line in txt.read_text(encoding="utf-8", errors="replace").splitlines():
            m = _IEMOCAP_LINE.match(line)
            if m and m.group(2) in IEMOCAP_EMOTIONS:
                labels[m.group(1)] = IEMOCAP_EMOTIONS[m.group(2)]
    return labels


def _emotion_item(path: Path, labels: dict[str, str]) -> ManifestItem | None:
    if m := _RAVDESS.match(path.name):
        emotion, speaker = RAVDESS_EMOTIONS.get(m.group(3)), f"actor{m.group(7)}"
    elif m := _CREMA.match(path.name):
        emotion, speaker = CREMA_EMOTIONS.get(m.group(3)), m.group(1)
    elif path.stem in labels:  # IEMOCAP: Ses01F_impro01_M003 -> speaker Ses01M
        emotion, speaker = labels[path.stem], path.stem[:5] + path.stem.rsplit("_", 1)[-1][0]
    else:
        return None
    if emotion is None:
        return None
    from ...audio import probe_audio

    return ManifestItem(id=path.stem, path=str(path), duration=probe_audio(path).duration,
                        speaker=speaker, label=emotion)


def emotion_manifest(root: str | Path) -> list[ManifestItem]:
    """RAVDESS (``03-01-05-01-02-01-12.wav``), CREMA-D (``1001_DFA_ANG_XX.wav``) or IEMOCAP
    (``Session*/sentences/wav/**.wav`` + ``Session*/dialog/EmoEvaluation/*.txt``) under
    ``root``, found recursively. Files of other names or emotions are skipped."""
    root = Path(root)
    if not root.is_dir():
        raise ManifestError(f"{root}: not a folder (expected an emotion corpus)")
    labels = _iemocap_labels(root)
    items = [it for p in sorted(root.rglob("*.wav")) if (it := _emotion_item(p, labels))]
    if not items:
        raise ManifestError(f"{root}: no RAVDESS, CREMA-D or IEMOCAP emotion files found")
    return items
