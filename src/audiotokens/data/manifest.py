"""The one manifest schema: JSONL, one :class:`ManifestItem` per line.

Fields: ``id``, ``path``, ``duration`` (seconds), optional ``text``, ``speaker``, ``label``,
``split``, ``clean_path`` and ``alignment`` (list of [phone, start_s, end_s]). Relative paths
are resolved against the manifest's folder, so a corpus folder can be moved as a whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

__all__ = ["ManifestItem", "ManifestError", "read_manifest", "iter_manifest", "write_manifest"]

SPLITS = ("train", "valid", "test")


class ManifestError(ValueError):
    """A manifest line is malformed; the message names file, line and problem."""


@dataclass
class ManifestItem:
    """One audio item. ``path`` is absolute once read through :func:`read_manifest`."""

    id: str
    path: str
    duration: float
    text: str | None = None
    speaker: str | None = None
    label: str | None = None
    split: str | None = None
    clean_path: str | None = None
    alignment: list[tuple[str, float, float]] | None = None

    def __post_init__(self) -> None:
        if not self.id or not isinstance(self.id, str):
            raise ValueError(f"id must be a non-empty string, got {self.id!r}")
        if not self.path:
            raise ValueError(f"item {self.id}: path is empty")
        self.duration = float(self.duration)
        if not self.duration >= 0:
            raise ValueError(f"item {self.id}: duration must be >= 0, got {self.duration}")
        if self.split is not None and self.split not in SPLITS:
            raise ValueError(f"item {self.id}: split must be one of {SPLITS}, got {self.split!r}")
        if self.alignment is not None:
            self.alignment = [(str(p), float(s), float(e)) for p, s, e in self.alignment]

    def to_json(self) -> str:
        """One JSON line, omitting fields that are None."""
        d = {k: v for k, v in asdict(self).items() if v is not None}
        if self.alignment is not None:
            d["alignment"] = [[p, round(s, 4), round(e, 4)] for p, s, e in self.alignment]
        return json.dumps(d, ensure_ascii=False)


_FIELDS = {f.name for f in fields(ManifestItem)}


def _resolve(base: Path, value: str | None) -> str | None:
    if value is None:
        return None
    p = Path(value)
    return str(p if p.is_absolute() else (base / p))


def iter_manifest(path: str | Path) -> Iterator[ManifestItem]:
    """Stream items from a JSONL manifest (blank lines skipped), paths made absolute."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: manifest not found")
    base = path.resolve().parent
    seen: set[str] = set()
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                raw: Any = json.loads(line)
                if not isinstance(raw, dict):
                    raise ValueError("line is not a JSON object")
                unknown = sorted(set(raw) - _FIELDS)
                if unknown:
                    raise ValueError(f"unknown field(s) {unknown}; allowed: {sorted(_FIELDS)}")
                missing = [k for k in ("id", "path", "duration") if k not in raw]
                if missing:
                    raise ValueError(f"missing field(s) {missing}")
                item = ManifestItem(**raw)
            except (ValueError, TypeError) as err:
                raise ManifestError(f"{path}:{lineno}: {err}") from None
            if item.id in seen:
                raise ManifestError(f"{path}:{lineno}: duplicate id {item.id!r}")
            seen.add(item.id)
            item.path = _resolve(base, item.path) or item.path
            item.clean_path = _resolve(base, item.clean_path)
            yield item


def read_manifest(path: str | Path, split: str | None = None) -> list[ManifestItem]:
    """All items of a manifest (optionally only one split)."""
    return [it for it in iter_manifest(path) if split is None or it.split == split]


def write_manifest(items: Iterable[ManifestItem], path: str | Path) -> Path:
    """Write items as JSONL atomically (temp file + rename); returns the path."""
    from ..tokenizers.persist import atomic_write_bytes

    path = Path(path)
    text = "".join(item.to_json() + "\n" for item in items)
    atomic_write_bytes(path, text.encode("utf-8"))
    return path
