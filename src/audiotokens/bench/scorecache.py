"""Scores and models that several benchmark cells share, computed once per run, kept on disk.

Some of what a generative cell scores does not depend on its seed or even its tokenizer: the
ASR judge of TTS, the judge and DNSMOS on the real recordings, the metrics of enhancement's
noisy input. Others depend on the tokenizer only (its own tokens decoded unchanged). A
:class:`ScoreCache` keeps such values as small JSON files under the run's output folder
(``out/cache/scoring``), each named by a hash of everything it depends on (see
:mod:`.keys`) plus the versions of the packages that compute scores, so worker processes and
resumed runs read them instead of recomputing, and a changed setting computes a new entry.
:func:`cached_module` does the same for a small torch model trained once per run (the judge,
the duration model), under :func:`file_lock`, so two processes never train it both.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .keys import digest

__all__ = ["ScoreCache", "SCORER_PACKAGES", "scorer_versions", "file_lock", "cached_module"]

T = TypeVar("T")
_MISSING = object()

# packages whose version can change a cached score (resampling, metrics, models, the judge)
SCORER_PACKAGES = ("audiotokens", "numpy", "scipy", "soxr", "torch", "pesq", "pystoi",
                   "speechmos", "onnxruntime", "librosa", "jiwer", "resemblyzer")


def scorer_versions() -> dict[str, str]:
    """Installed version of each of :data:`SCORER_PACKAGES` ("" when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in SCORER_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = ""
    return out


class ScoreCache:
    """JSON-able values by (``kind``, ``parts``), computed once: in memory for this object's
    life and, with a ``folder``, in ``folder/<kind>-<hash>.json`` for every later process.

    ``parts`` must name everything the value depends on (files by :func:`.keys.path_stamp`,
    models by their checksum, settings as dataclasses); the scorer packages' versions are
    added to every key. Values are returned as read back from JSON (tuples become lists,
    NaN stays NaN), whether computed now or loaded.
    """

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = None if folder is None else Path(folder)
        self._versions: dict[str, str] | None = None
        self._memory: dict[str, Any] = {}

    @property
    def versions(self) -> dict[str, str]:
        """:func:`scorer_versions`, looked up on first use."""
        if self._versions is None:
            self._versions = scorer_versions()
        return self._versions

    def key(self, kind: str, parts: Any) -> str:
        """``<kind>-<hash of parts and the scorer versions>`` (also the file's stem)."""
        return f"{kind}-{digest(kind, parts, self.versions)}"

    def path(self, name: str) -> Path | None:
        """``folder/name`` (None for an in-memory cache): where a shared artifact lives."""
        return None if self.folder is None else self.folder / name

    def get(self, kind: str, parts: Any, compute: Callable[[], T]) -> T:
        """The value stored under (``kind``, ``parts``), else ``compute()`` stored there.
        An unreadable entry (e.g. a run killed mid-write elsewhere) is recomputed."""
        key = self.key(kind, parts)
        if key in self._memory:
            return self._memory[key]
        path = self.path(f"{key}.json")
        value: Any = _MISSING
        if path is not None and path.is_file():
            try:
                value = json.loads(path.read_text())["value"]
            except (OSError, ValueError, KeyError, TypeError):
                value = _MISSING
        if value is _MISSING:
            text = json.dumps({"kind": kind, "value": compute()})
            value = json.loads(text)["value"]
            if path is not None:
                from ..tokenizers.persist import atomic_write_bytes

                atomic_write_bytes(path, text.encode())
        self._memory[key] = value
        return value


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block, so
    processes sharing an output folder do one piece of work one at a time (POSIX ``flock``;
    a no-op where ``fcntl`` is missing)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the work may be done twice
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def cached_module(folder: Path | None, name: str, train: Callable[[], Any],
                  build: Callable[[], Any], header: dict[str, Any] | None = None) -> Any:
    """The torch module saved in ``folder/name/`` (``weights.safetensors`` + ``config.json``),
    else ``train()``'s, saved there; ``build()`` makes an untrained one to load weights into.
    ``name`` must hold the hash of everything that changes the module. Processes sharing
    ``folder`` train it once: the others wait on the lock, then load. Without ``folder``:
    ``train()``. ``header`` (JSON-able) is written to ``config.json`` for the reader."""
    if folder is None:
        return train()
    from safetensors.torch import load_file, save

    from ..tokenizers.persist import atomic_write_bytes

    saved = Path(folder) / name
    with file_lock(Path(folder) / f"{name}.lock"):
        if (saved / "config.json").is_file():
            module = build()
            module.load_state_dict(load_file(str(saved / "weights.safetensors")))
            return module.eval()
        module = train()
        state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
        atomic_write_bytes(saved / "weights.safetensors", save(state))
        text = json.dumps({"name": name, **(header or {})}, indent=2) + "\n"
        atomic_write_bytes(saved / "config.json", text.encode())  # last: present = complete
        return module
