"""What a benchmark head reads: token ids or continuous features per item, cached on disk.

A :class:`TokenizerSource` wraps any :class:`~audiotokens.tokenizers.base.Tokenizer`
([T, C] int64 ids); the continuous baselines are :class:`ContinuousMel` ("continuous-mel",
[T, 80] float32 log-mel at 50 frames/s) and :class:`ContinuousSSL` ("continuous-hubert" etc.:
the hidden states of chosen layers of an SSL model, concatenated). :func:`encode_items`
encodes a list of manifest items into a store (:mod:`audiotokens.store`: a token store for a
tokenizer, the same kind of store with float16 features for a continuous source) through
the corpus encoder (:func:`audiotokens.encode.encode_to_store`), once per source and corpus:
a resumed benchmark encodes only the items the store lacks. Heads then read the items
lazily from the shards (:class:`~audiotokens.bench.arrays.StoreArrays`). A store made
elsewhere (``audiotokens encode`` on a cluster) can be given instead; it is checked against
the source's checksum and the items the tasks need.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..audio import load_audio
from ..data.manifest import ManifestItem
from ..tokenizers.base import Tokenizer
from .arrays import DEFAULT_CACHE_MB, StoreArrays

if TYPE_CHECKING:
    from ..encode import Encoder
    from ..store import TokenStore

__all__ = ["INPUT_KINDS", "CONTINUOUS_MEL", "CONTINUOUS_PREFIX", "InputSpec", "FeatureSource",
           "TokenizerSource", "ContinuousMel", "ContinuousSSL", "EncodedItems", "encode_items",
           "source_encoder", "source_store", "store_folder"]

INPUT_KINDS = ("tokens", "features")
CONTINUOUS_PREFIX = "continuous-"
CONTINUOUS_MEL = CONTINUOUS_PREFIX + "mel"


@dataclass(frozen=True)
class InputSpec:
    """``kind`` "tokens" ([T, C] int64 ids, ``vocab_sizes`` per codebook) or "features"
    ([T, F] float32, ``n_features`` = F); ``frame_rate`` in frames per second."""

    kind: str
    frame_rate: float
    vocab_sizes: tuple[int, ...] = ()
    codebook_names: tuple[str, ...] = ()
    n_features: int = 0

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            raise ValueError(f"kind must be one of {INPUT_KINDS}, got {self.kind!r}")
        if self.kind == "tokens" and not self.vocab_sizes:
            raise ValueError("token inputs need vocab_sizes")
        if self.kind == "features" and self.n_features < 1:
            raise ValueError("feature inputs need n_features >= 1")


class FeatureSource(Protocol):
    """Anything that turns mono audio into per-frame arrays for a head."""

    name: str

    @property
    def spec(self) -> InputSpec: ...

    @property
    def sample_rate(self) -> int: ...

    def key(self) -> str: ...

    def encode(self, samples: np.ndarray, sample_rate: int) -> np.ndarray: ...


class TokenizerSource:
    """A tokenizer as a feature source: ``encode`` -> [T, C] int64 ids."""

    def __init__(self, tokenizer: Tokenizer, name: str | None = None) -> None:
        self.tokenizer = tokenizer
        self.name = name or tokenizer.name

    @property
    def spec(self) -> InputSpec:
        """Token spec from the tokenizer's info."""
        i = self.tokenizer.info
        return InputSpec("tokens", i.frame_rate, i.vocab_sizes, i.codebook_names)

    @property
    def sample_rate(self) -> int:
        """The tokenizer's input sample rate (audio is resampled to it on load)."""
        return self.tokenizer.info.sample_rate

    def key(self) -> str:
        """The tokenizer's checksum (config + weights)."""
        return self.tokenizer.checksum()

    def encode(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mono float32 [N] -> int64 ids [T, C]."""
        return self.tokenizer.encode(samples, sample_rate).codes


class ContinuousMel:
    """The continuous baseline: 80-band log-mel at 16 kHz, 50 frames/s -> float32 [T, 80]."""

    name = CONTINUOUS_MEL

    def __init__(self, device: str = "cpu") -> None:
        from ..dsp import MelConfig

        self.cfg = MelConfig()
        self.device = device

    @property
    def spec(self) -> InputSpec:
        """Feature spec: n_features = n_mels."""
        return InputSpec("features", self.cfg.frame_rate, n_features=self.cfg.n_mels)

    @property
    def sample_rate(self) -> int:
        """16000 Hz."""
        return self.cfg.sample_rate

    def key(self) -> str:
        """A hash of the mel settings."""
        return hashlib.sha256(repr(self.cfg).encode()).hexdigest()

    def encode(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mono float32 [N] at ``sample_rate`` (must be 16000) -> float32 log-mel [T, 80]."""
        import torch

        from ..dsp import log_mel

        if sample_rate != self.cfg.sample_rate:
            raise ValueError(f"{self.name} needs {self.cfg.sample_rate} Hz, got {sample_rate}")
        wav = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)).to(self.device)
        return log_mel(wav, self.cfg).cpu().numpy()


class ContinuousSSL:
    """The continuous SSL baseline: hidden states of ``layers`` of an SSL backbone (hub id or
    local folder, as the semantic tokenizers load it), concatenated -> float32 [T, L * D]."""

    def __init__(self, family: str, model: str, layers: list[int] | tuple[int, ...],
                 device: str = "cpu") -> None:
        from ..tokenizers.features import build_backbone

        self.layers = tuple(int(x) for x in layers)
        if not self.layers:
            raise ValueError(f"{CONTINUOUS_PREFIX}{family} needs layers=[...] (one or more)")
        self.backbone = build_backbone(family, model, max_layer=max(self.layers)).to(device)
        self.backbone.check_layers(self.layers)
        self.model = str(model)
        self.name = f"{CONTINUOUS_PREFIX}{family}"

    @property
    def spec(self) -> InputSpec:
        """Feature spec: n_features = layers x hidden size, at the model's frame rate."""
        return InputSpec("features", self.backbone.frame_rate,
                         n_features=self.backbone.dim * len(self.layers))

    @property
    def sample_rate(self) -> int:
        """16000 Hz."""
        return self.backbone.sample_rate

    def key(self) -> str:
        """A hash of the backbone, the layers and (for a local folder) its files' sizes and
        modification times, so changed weights are never served from the cache."""
        from .keys import digest, path_stamp

        return digest(self.backbone.source, self.layers, path_stamp(self.backbone.path))

    def encode(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mono float32 [N] at 16 kHz -> float32 [T, L * D]."""
        import torch

        if sample_rate != self.sample_rate:
            raise ValueError(f"{self.name} needs {self.sample_rate} Hz, got {sample_rate}")
        wav = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None]
        with torch.no_grad():
            out = self.backbone.forward(wav.to(self.backbone.device),
                                        torch.tensor([wav.shape[1]]), self.layers)
        return torch.cat([f[0] for f in out.features], -1).cpu().numpy()


@dataclass
class EncodedItems:
    """``arrays``: item id -> [T, C] int64 or [T, F] float32 (T >= 1), read lazily from the
    store at ``cache_path`` (a plain dict when nothing is stored); ``n_encoded``: items
    encoded in this call (0 when all were in the store); ``seconds``: wall time spent;
    ``skipped``: item id -> why it has no array (e.g. audio shorter than one frame), never
    given made-up frames."""

    arrays: Mapping[str, np.ndarray]
    n_encoded: int
    seconds: float
    cache_path: Path | None = None
    skipped: dict[str, str] = field(default_factory=dict)


SHARD_MB = 16.0  # decoded size of the items an encode holds before committing a shard


def shard_items(source: FeatureSource, items: list[ManifestItem]) -> int:
    """Items per shard so that a shard's decoded arrays (int64 ids or float32 features, at
    the items' mean manifest duration) take about :data:`SHARD_MB` MiB; 16 to 4096."""
    spec = source.spec
    width = len(spec.vocab_sizes) * 8 if spec.kind == "tokens" else spec.n_features * 4
    mean_seconds = sum(it.duration for it in items) / max(1, len(items))
    per_item = max(1.0, mean_seconds * spec.frame_rate * width)
    return int(min(4096, max(16, SHARD_MB * 2 ** 20 / per_item)))


def store_folder(cache_dir: Path, source: FeatureSource, corpus: str = "") -> Path:
    """``cache_dir/<source name>-<source key>[/<corpus>]``: where ``source``'s items live."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", source.name)[:60]
    key = hashlib.sha256(source.key().encode()).hexdigest()[:16]
    folder = cache_dir / f"{safe}-{key}"
    return folder / re.sub(r"[^A-Za-z0-9_.-]+", "_", corpus)[:80] if corpus else folder


def source_store(source: FeatureSource, folder: Path) -> TokenStore:
    """Open (or create) ``source``'s store in ``folder``: a token store for a tokenizer, a
    features store for a continuous source; one of another source raises StoreError."""
    from ..store import TokenStore

    if isinstance(source, TokenizerSource):
        return TokenStore.create(folder, source.tokenizer)
    spec = source.spec
    return TokenStore.create_features(folder, source.name, source.key(), spec.n_features,
                                      spec.frame_rate, source.sample_rate)


def source_encoder(source: FeatureSource) -> Encoder:
    """``source`` as an :class:`~audiotokens.encode.Encoder`: a tokenizer's batched encoder,
    or a continuous source's per-signal ``encode`` (checked to give [T, F])."""
    from ..encode import Encoder, tokenizer_encoder

    if isinstance(source, TokenizerSource):
        return tokenizer_encoder(source.tokenizer)
    rate = source.sample_rate

    def batch(signals: list[np.ndarray]) -> list[np.ndarray]:
        out = [np.asarray(source.encode(x, rate)) for x in signals]
        for arr in out:
            if arr.ndim != 2:
                raise ValueError(f"{source.name} returned shape {arr.shape}, want [T, F]")
        return out  # type: ignore[return-value]

    return Encoder(rate, source.spec.frame_rate, batch)  # type: ignore[arg-type]


def _encode_one(source: FeatureSource, item: ManifestItem) -> np.ndarray | str:
    """The item's [T, C] array (T >= 1), or why it has none (shorter than one frame)."""
    audio = load_audio(item.path, sample_rate=source.sample_rate)
    arr = np.asarray(source.encode(audio.samples, audio.sample_rate))
    if arr.ndim != 2:
        raise ValueError(f"{item.path}: {source.name} returned shape {arr.shape}, want [T, C]")
    if arr.shape[0] == 0:
        return (f"{item.path}: {audio.duration:.3f} s is shorter than one {source.name} frame "
                f"({source.spec.frame_rate:g} frames/s): no tokens")
    return arr


def _recorded_failures(store: TokenStore) -> dict[str, str]:
    """Item id -> ``"<path>: <reason>"`` from the store's ``errors.jsonl``."""
    return {e["id"]: f"{e.get('path', '')}: {e.get('reason', 'failed')}"
            for e in store.errors()}


def _given_store(source: FeatureSource, folder: Path, items: list[ManifestItem]) -> TokenStore:
    """The store made elsewhere at ``folder``, checked: made by ``source`` (same checksum)
    and holding (or listing as failed) every item; else a one-line StoreError."""
    from ..store import StoreError, TokenStore

    store = TokenStore.open(folder)
    if store.checksum != source.key():
        raise StoreError(f"{folder}: tokens of '{store.name}' (checksum {store.checksum[:12]}), "
                         f"not of the benchmarked '{source.name}' (checksum "
                         f"{source.key()[:12]}); encode with that tokenizer's saved folder")
    failed = _recorded_failures(store)
    missing = [it.id for it in items if it.id not in store and it.id not in failed]
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise StoreError(f"{folder}: lacks {len(missing)} of the {len(items)} items the tasks "
                         f"need ({shown}); encode them into it with `audiotokens encode`")
    return store


def encode_items(source: FeatureSource, items: list[ManifestItem],
                 cache_dir: Path | None = None, *, corpus: str = "",
                 tokens: Path | None = None,
                 cache_mb: float = DEFAULT_CACHE_MB) -> EncodedItems:
    """Every item's array from ``source``'s store, encoding only the items it lacks.

    The store is :func:`store_folder` (``cache_dir``, ``corpus``), or ``tokens``: a store
    made elsewhere, read as it is (checked by checksum and items, never written). Without
    either, items are encoded into a plain dict in memory. Items that failed (shorter than
    one frame, unreadable audio: recorded in the store's ``errors.jsonl`` and not retried)
    are left out of ``arrays`` and listed in ``skipped``. ``cache_mb`` bounds the decoded
    row groups the lazy mapping keeps.
    """
    from ..encode import encode_to_store

    t0 = time.monotonic()
    if tokens is None and cache_dir is None:
        encoded = {it.id: _encode_one(source, it) for it in items}
        arrays = {k: v for k, v in encoded.items() if not isinstance(v, str)}
        skipped = {k: v for k, v in encoded.items() if isinstance(v, str)}
        return EncodedItems(arrays, len(items), time.monotonic() - t0, None, skipped)
    n_encoded = 0
    if tokens is not None:
        store = _given_store(source, Path(tokens), items)
    else:
        assert cache_dir is not None
        store = source_store(source, store_folder(Path(cache_dir), source, corpus))
        failed = _recorded_failures(store)
        done = store.done_ids()
        todo = [it for it in items if it.id not in done and it.id not in failed]
        if todo:
            summary = encode_to_store(source_encoder(source), todo, store, progress=False,
                                      shard_items=shard_items(source, todo), workers=2)
            n_encoded = summary.encoded + len(summary.failed)
    wanted = {it.id for it in items}
    skipped = {k: v for k, v in _recorded_failures(store).items() if k in wanted}
    arrays = StoreArrays(store, wanted, cache_mb)
    return EncodedItems(arrays, n_encoded, time.monotonic() - t0, store.folder, skipped)
