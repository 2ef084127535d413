"""Any folder of audio files -> manifest items, with a report of what was skipped and why.

Choice: a file with an audio suffix that fails :func:`~audiotokens.audio.probe_audio`
(empty, truncated, not audio, too long, ...) is *not* listed, since every later step would
fail on it, but it is never dropped silently either: :func:`scan_folder` returns it in
``skipped`` with its one-line reason, :func:`folder_manifest` warns with the count, and the
CLI prints the reasons and writes them next to the manifest. Files without an audio suffix
are ignored.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..audio import DEFAULT_MAX_SECONDS, AudioError, probe_audio
from .manifest import ManifestError, ManifestItem

__all__ = ["AUDIO_SUFFIXES", "FolderScan", "SkippedFile", "folder_manifest", "scan_folder"]

AUDIO_SUFFIXES = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff",
                  ".aifc", ".au", ".snd", ".caf", ".w64", ".rf64", ".sph", ".nist")


@dataclass(frozen=True)
class SkippedFile:
    """An audio-suffixed file left out of the manifest; ``reason`` is one line."""

    path: str
    reason: str


@dataclass
class FolderScan:
    """Result of :func:`scan_folder`: listed ``items`` (sorted by id) and ``skipped`` files."""

    root: Path
    items: list[ManifestItem] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


def _audio_files(root: Path, recursive: bool) -> list[Path]:
    candidates = root.rglob("*") if recursive else root.iterdir()
    return sorted(p for p in candidates
                  if p.suffix.lower() in AUDIO_SUFFIXES and not p.is_dir())


def scan_folder(root: str | Path, *, recursive: bool = True,
                max_seconds: float = DEFAULT_MAX_SECONDS) -> FolderScan:
    """Vet every audio file under ``root`` from its header (no decoding).

    Item ids are the path relative to ``root`` in POSIX form, suffix included (unique and
    stable: ``a.wav`` and ``a.flac`` stay two items); paths are absolute; duration in seconds.
    """
    root = Path(root)
    if not root.is_dir():
        raise ManifestError(f"{root}: not a folder (expected a folder of audio files)")
    root = root.resolve()
    scan = FolderScan(root=root)
    for path in _audio_files(root, recursive):
        try:
            info = probe_audio(path, max_seconds=max_seconds)
        except AudioError as err:
            scan.skipped.append(SkippedFile(path=str(path), reason=err.reason))
            continue
        scan.items.append(ManifestItem(id=path.relative_to(root).as_posix(), path=str(path),
                                       duration=info.duration))
    return scan


def folder_manifest(root: str | Path, *, recursive: bool = True) -> list[ManifestItem]:
    """Items for every usable audio file under ``root`` (see :func:`scan_folder`).

    Warns (``UserWarning``) with the count and first reason when files were skipped; raises
    :class:`ManifestError` if the folder holds no usable audio at all.
    """
    scan = scan_folder(root, recursive=recursive)
    if scan.skipped:
        first = scan.skipped[0]
        warnings.warn(f"{root}: skipped {len(scan.skipped)} unreadable audio file(s), e.g. "
                      f"{first.path}: {first.reason}", UserWarning, stacklevel=2)
    if not scan.items:
        raise ManifestError(f"{root}: no readable audio files (looked for "
                            f"{', '.join(AUDIO_SUFFIXES)}; {len(scan.skipped)} skipped)")
    return scan.items
