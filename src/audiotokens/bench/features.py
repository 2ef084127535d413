"""What a benchmark head reads: token ids or continuous features per item, cached on disk.

A :class:`TokenizerSource` wraps any :class:`~audiotokens.tokenizers.base.Tokenizer`
([T, C] int64 ids); the continuous baselines are :class:`ContinuousMel` ("continuous-mel",
[T, 80] float32 log-mel at 50 frames/s) and :class:`ContinuousSSL` ("continuous-hubert" etc.:
the hidden states of chosen layers of an SSL model, concatenated). :func:`encode_items`
encodes a list of manifest items once per source and corpus and keeps the result in a
safetensors file keyed by the source's checksum and the item list, so a resumed benchmark
never re-encodes.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ..audio import load_audio
from ..data.manifest import ManifestItem
from ..tokenizers.base import Tokenizer

__all__ = ["INPUT_KINDS", "CONTINUOUS_MEL", "CONTINUOUS_PREFIX", "InputSpec", "FeatureSource",
           "TokenizerSource", "ContinuousMel", "ContinuousSSL", "EncodedItems", "encode_items"]

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

        return digest(self.backbone.source, self.layers, path_stamp(self.model))

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
    """``arrays``: item id -> [T, C] int64 or [T, F] float32 (T >= 1); ``n_encoded``: items
    encoded in this call (0 when read from the cache); ``seconds``: wall time spent;
    ``skipped``: item id -> why it has no array (audio shorter than one frame), never given
    made-up frames."""

    arrays: dict[str, np.ndarray]
    n_encoded: int
    seconds: float
    cache_path: Path | None = None
    skipped: dict[str, str] = field(default_factory=dict)


# v2: items shorter than one frame are listed as skipped, not given a made-up zero frame
_CACHE_VERSION = b"encoded-items v2\n"


def _cache_path(source: FeatureSource, items: list[ManifestItem], cache_dir: Path) -> Path:
    h = hashlib.sha256(source.key().encode())
    h.update(_CACHE_VERSION)
    for it in sorted(items, key=lambda it: it.id):
        h.update(f"{it.id}\t{it.path}\n".encode())
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", source.name)[:60]
    return cache_dir / f"{safe}-{h.hexdigest()[:16]}.safetensors"


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


def encode_items(source: FeatureSource, items: list[ManifestItem],
                 cache_dir: Path | None = None) -> EncodedItems:
    """Encode every item's audio with ``source`` (resampled to its rate), or read the cache.

    Audio problems raise :class:`~audiotokens.audio.AudioError` naming the file; items
    shorter than one frame are left out of ``arrays`` and listed in ``skipped`` (the cache
    keeps that list in its metadata).
    """
    from safetensors import safe_open
    from safetensors.numpy import load_file, save

    t0 = time.monotonic()
    path = None if cache_dir is None else _cache_path(source, items, cache_dir)
    if path is not None and path.is_file():
        with safe_open(str(path), "np") as f:
            meta = f.metadata() or {}
        skipped = json.loads(meta.get("skipped", "{}"))
        return EncodedItems(load_file(str(path)), 0, time.monotonic() - t0, path, skipped)
    encoded = {it.id: _encode_one(source, it) for it in items}
    arrays = {k: v for k, v in encoded.items() if not isinstance(v, str)}
    skipped = {k: v for k, v in encoded.items() if isinstance(v, str)}
    if path is not None:
        from ..tokenizers.persist import atomic_write_bytes

        blob = save({k: np.ascontiguousarray(v) for k, v in arrays.items()},
                    metadata={"skipped": json.dumps(skipped)})
        atomic_write_bytes(path, blob)
    return EncodedItems(arrays, len(items), time.monotonic() - t0, path, skipped)
