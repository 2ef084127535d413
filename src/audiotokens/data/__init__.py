"""Manifests (one JSONL schema) and corpus adapters."""

from .manifest import ManifestError, ManifestItem, iter_manifest, read_manifest, write_manifest

__all__ = ["ManifestError", "ManifestItem", "iter_manifest", "read_manifest", "write_manifest"]
