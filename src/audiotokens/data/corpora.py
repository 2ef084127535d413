"""Adapters for known corpus layouts -> ``list[ManifestItem]`` with absolute paths.

Durations come from file headers (:func:`~audiotokens.audio.probe_audio`, no decoding); a
broken file in a curated corpus raises its one-line :class:`~audiotokens.audio.AudioError`
(fix or remove it), a root without the expected layout raises :class:`ManifestError`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Collection
from pathlib import Path

from ..audio import probe_audio
from .manifest import ManifestError, ManifestItem
from .splits import assign_splits

__all__ = ["DIGIT_WORDS", "TRANSCRIPTS_FILE", "fsdd_manifest", "librispeech_manifest",
           "ljspeech_manifest", "transcribed_manifest"]

TRANSCRIPTS_FILE = "transcripts.tsv"
HEADERLESS = (".raw", ".pcm")  # no sample rate in the file: skipped by transcribed_manifest

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")
_LIBRI_NAME = re.compile(r"^(\d+)-(\d+)-(\d+)\.flac$")
_LIBRI_SUBSETS = {"train-clean-100": "train", "train-clean-360": "train",
                  "train-other-500": "train", "dev-clean": "valid", "dev-other": "valid",
                  "test-clean": "test", "test-other": "test"}


def _need_dir(root: str | Path, what: str) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise ManifestError(f"{root}: not a folder (expected the {what} root)")
    return root.resolve()


def fsdd_manifest(root: str | Path, *, valid_takes: Collection[int] = range(5, 10)
                  ) -> list[ManifestItem]:
    """Free Spoken Digit Dataset: ``root/recordings/{digit}_{speaker}_{take}.wav``.

    label = digit ("0".."9"), text = digit word, speaker from the name; the official split
    (takes 0-4 test, the rest train) with ``valid_takes`` (default 5-9) carved out of train.
    ``root`` may also be the ``recordings`` folder itself.
    """
    root = _need_dir(root, "FSDD")
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    items = []
    for path in sorted(folder.glob("*.wav")):
        m = _FSDD_NAME.match(path.name)
        if m is None:
            continue
        digit, speaker, take = m.group(1), m.group(2), int(m.group(3))
        split = "test" if take < 5 else "valid" if take in valid_takes else "train"
        items.append(ManifestItem(id=path.stem, path=str(path),
                                  duration=probe_audio(path).duration, text=DIGIT_WORDS[int(digit)],
                                  speaker=speaker, label=digit, split=split))
    if not items:
        raise ManifestError(f"{root}: no FSDD recordings found (expected "
                            "recordings/{digit}_{speaker}_{take}.wav)")
    return items


def _libri_transcripts(root: Path) -> dict[str, str]:
    """utt id -> text from every ``*.trans.txt`` (lines ``ID TEXT``) under ``root``."""
    texts: dict[str, str] = {}
    for trans in sorted(root.rglob("*.trans.txt")):
        for line in trans.read_text(encoding="utf-8").splitlines():
            utt, _, text = line.strip().partition(" ")
            if utt and text:
                texts[utt] = text
    return texts


def _libri_official_split(path: Path) -> str | None:
    return next((_LIBRI_SUBSETS[p] for p in path.parts if p in _LIBRI_SUBSETS), None)


def librispeech_manifest(root: str | Path, *, held_out_speakers: Collection[str] | None = None,
                         valid_fraction: float = 0.1, test_fraction: float = 0.1,
                         seed: int = 0) -> list[ManifestItem]:
    """LibriSpeech: ``{speaker}/{chapter}/{speaker}-{chapter}-{utt}.flac``, found recursively.

    speaker from the file name; text from ``*.trans.txt`` when present (else None). Split:
    ``held_out_speakers`` -> test (others train/valid by hash); otherwise the official subset
    folder (train-*, dev-* -> valid, test-*) when every file lies in one; otherwise by hash of
    id (``valid_fraction`` / ``test_fraction``).
    """
    root = _need_dir(root, "LibriSpeech")
    texts = _libri_transcripts(root)
    items = []
    for path in sorted(root.rglob("*.flac")):
        m = _LIBRI_NAME.match(path.name)
        if m is None:
            continue
        items.append(ManifestItem(id=path.stem, path=str(path),
                                  duration=probe_audio(path).duration,
                                  text=texts.get(path.stem), speaker=m.group(1),
                                  split=_libri_official_split(path.relative_to(root))))
    if not items:
        raise ManifestError(f"{root}: no LibriSpeech files found (expected "
                            "{speaker}/{chapter}/{speaker}-{chapter}-{utt}.flac)")
    if held_out_speakers is not None or any(it.split is None for it in items):
        items = assign_splits(items, held_out_speakers=held_out_speakers,
                              valid_fraction=valid_fraction, test_fraction=test_fraction,
                              seed=seed)
    return items


def _lj_texts(root: Path) -> tuple[dict[str, str], dict[str, Path]]:
    """(id -> text, id -> wav path): from the shared copy's ``transcripts.tsv`` if present,
    else from LJSpeech's ``metadata.csv`` (id|raw|normalized) next to ``wavs/``."""
    texts: dict[str, str] = {}
    wavs: dict[str, Path] = {}
    tsv = root / "transcripts.tsv"
    if tsv.is_file():
        with tsv.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                if row.get("utt_id") and row.get("path"):
                    texts[row["utt_id"]] = row.get("text_normalized") or ""
                    wavs[row["utt_id"]] = root / row["path"]
    metas = [root / "metadata.csv"] if (root / "metadata.csv").is_file() else sorted(
        m for m in root.rglob("metadata.csv") if (m.parent / "wavs").is_dir())
    for meta in metas:
        for line in meta.read_text(encoding="utf-8").splitlines():
            cols = line.split("|")
            if len(cols) >= 2 and cols[0] and cols[0] not in texts:
                texts[cols[0]] = (cols[2] if len(cols) > 2 and cols[2] else cols[1]).strip()
        for wav in sorted((meta.parent / "wavs").glob("*.wav")):
            wavs.setdefault(wav.stem, wav)
    return texts, wavs


def ljspeech_manifest(root: str | Path, *, valid_fraction: float = 0.05,
                      test_fraction: float = 0.05, seed: int = 0) -> list[ManifestItem]:
    """LJSpeech: ``metadata.csv`` (id|raw|normalized) + ``wavs/`` (also nested below root),
    or the shared copy's ``transcripts.tsv`` (path, utt_id, speaker, text_normalized).

    Every wav found is listed (text None if no transcript names it); speaker "LJ"; split by
    hash of id.
    """
    root = _need_dir(root, "LJSpeech")
    texts, wavs = _lj_texts(root)
    if not wavs:
        raise ManifestError(f"{root}: no LJSpeech layout found (expected metadata.csv + wavs/, "
                            "or transcripts.tsv)")
    items = []
    for utt in sorted(wavs):
        path = wavs[utt]
        items.append(ManifestItem(id=utt, path=str(path), duration=probe_audio(path).duration,
                                  text=texts.get(utt) or None, speaker="LJ"))
    return assign_splits(items, valid_fraction=valid_fraction, test_fraction=test_fraction,
                         seed=seed)


def _transcribed_rows(tsv: Path) -> list[ManifestItem]:
    items = []
    with tsv.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        if not {"path"} <= set(reader.fieldnames or ()) or not \
                {"text", "text_normalized"} & set(reader.fieldnames or ()):
            raise ManifestError(f"{tsv}: needs tab-separated columns 'path' and 'text' (or "
                                f"'text_normalized'); got {reader.fieldnames}")
        for row in reader:
            path = tsv.parent / row["path"]
            if path.suffix.lower() in HEADERLESS:
                continue
            text = (row.get("text_normalized") or row.get("text") or "").strip()
            items.append(ManifestItem(
                id=row.get("utt_id") or path.stem, path=str(path),
                duration=probe_audio(path).duration, text=text or None,
                speaker=row.get("speaker") or row.get("source") or tsv.parent.name))
    return items


def transcribed_manifest(root: str | Path, *, valid_fraction: float = 0.15,
                         test_fraction: float = 0.25, seed: int = 0) -> list[ManifestItem]:
    """Transcribed recordings: ``transcripts.tsv`` (tab-separated: ``path`` relative to it,
    ``text`` or ``text_normalized``; optional ``utt_id``, ``speaker`` or ``source``) in
    ``root`` or, when root has none, in each of its direct sub-folders (joined).

    Made for small sets of real speech (the shared LJSpeech and LibriVox clips): split by
    hash of id with larger held-out fractions than a big corpus would use. Rows naming
    headerless audio (:data:`HEADERLESS`: no sample rate to read) are skipped.
    """
    root = _need_dir(root, "transcribed recordings")
    files = [root / TRANSCRIPTS_FILE] if (root / TRANSCRIPTS_FILE).is_file() else sorted(
        p / TRANSCRIPTS_FILE for p in root.iterdir() if (p / TRANSCRIPTS_FILE).is_file())
    if not files:
        raise ManifestError(f"{root}: no {TRANSCRIPTS_FILE} here or in a sub-folder")
    items = [it for tsv in files for it in _transcribed_rows(tsv)]
    return assign_splits(items, valid_fraction=valid_fraction, test_fraction=test_fraction,
                         seed=seed)
