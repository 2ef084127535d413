"""Keys of the benchmark's caches and resume: a short hash of every setting behind a result.

A cell is "already done" only when its key matches: the tokenizer (its checksum, or for one
the runner fits, the recipe: spec, fit budget and fitting items), the task and its items, the
head settings and seed. Changing ``--max-items``, ``--full``, the head's steps or the
corpus therefore recomputes instead of showing old numbers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from ..data.manifest import ManifestItem

__all__ = ["digest", "items_digest", "path_stamp"]


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot key a {type(value).__name__}")


def digest(*parts: Any) -> str:
    """16 hex digits of the SHA-256 of ``parts`` as canonical JSON (dataclasses as dicts)."""
    text = json.dumps(parts, sort_keys=True, default=_plain, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def items_digest(items: Iterable[ManifestItem]) -> str:
    """A hash of the items' ids, paths, durations and labels, in order."""
    return digest([(it.id, it.path, it.duration, it.text, it.speaker, it.label, it.split,
                    it.clean_path) for it in items])


def path_stamp(path: str | Path) -> list[tuple[str, int, int]]:
    """(relative name, size, modification time in ns) of a file or of every file under a
    folder, sorted; [] when ``path`` does not exist (e.g. a hub id) or is empty (no model:
    ``Path("")`` would be the working directory)."""
    if not str(path):
        return []
    root = Path(path)
    if root.is_file():
        st = root.stat()
        return [(root.name, st.st_size, st.st_mtime_ns)]
    if not root.is_dir():
        return []
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in root.rglob("*") if p.is_file())
