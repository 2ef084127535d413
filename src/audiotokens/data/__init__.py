"""Manifests (one JSONL schema) and corpus adapters."""

from .corpora import fsdd_manifest, librispeech_manifest, ljspeech_manifest, transcribed_manifest
from .folder import FolderScan, SkippedFile, folder_manifest, scan_folder
from .manifest import ManifestError, ManifestItem, iter_manifest, read_manifest, write_manifest
from .splits import assign_splits, hash_split
from .summary import ManifestSummary, summarize
from .synth import PROSODY_LABELS, SynthConfig, SynthResult, synthesize_corpus

__all__ = [
    "PROSODY_LABELS",
    "FolderScan",
    "ManifestError",
    "ManifestItem",
    "ManifestSummary",
    "SkippedFile",
    "SynthConfig",
    "SynthResult",
    "assign_splits",
    "folder_manifest",
    "fsdd_manifest",
    "hash_split",
    "iter_manifest",
    "librispeech_manifest",
    "ljspeech_manifest",
    "read_manifest",
    "scan_folder",
    "summarize",
    "synthesize_corpus",
    "transcribed_manifest",
    "write_manifest",
]
