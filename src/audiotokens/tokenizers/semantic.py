"""Semantic tokens: a feature backbone's layers, each quantised by its own k-means codebook.

``SemanticTokenizer`` = backbone (log-mel, MFCC or an SSL model, see ``features.py``) ->
selected layers -> nearest k-means centroid per layer -> tokens [T, C] with C = len(layers)
and T = backbone frames (50 frames/s for every built-in backbone).

Saving writes the config (backbone, model hub id or folder path, layers, k, ...) and the
centroids (``centroids.layer{i}``: float32 [k, D]). The SSL model itself is NOT saved: the
saved tokenizer refers to it by ``model``, so that hub id or folder must still be available
when the tokenizer is loaded.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .base import Tokenizer, TokenizerError, TokenizerInfo, Tokens
from .features import (
    BACKBONES,
    SSL_BACKBONES,
    Backbone,
    build_backbone,
    pad_batch,
    ssl_frame_rate,
)

__all__ = ["SemanticConfig", "SemanticTokenizer", "FitReport", "FrameSample", "dedup_frames"]

SAMPLE_RATE = 16000


@dataclass
class SemanticConfig:
    """Settings of a semantic tokenizer (saved as JSON beside the centroids).

    backbone: one of mel, mfcc, hubert, wavlm, wav2vec2, data2vec.
    model: hub id or local folder of the SSL model (required for SSL, unused otherwise).
    layers: backbone layers to quantise; [0] for mel/mfcc; for SSL 0 = CNN/projection output,
        i = transformer layer i. Required for SSL.
    k: centroids per layer (vocab size of each codebook).
    seed: seeds the frame sampler and k-means.
    max_vectors: reservoir cap on training frames per layer (memory: max_vectors * D floats).
    kmeans_iterations / kmeans_redo: at most this many Lloyd iterations (k-means stops earlier
    at :class:`~.kmeans.KMeansConfig`'s convergence tolerance) / restarts (best inertia kept).
    dedup: collapse runs of identical consecutive frames in ``encode`` output (shorter
        sequences for LLMs; tokens then no longer sit at ``frame_rate``, so durations and
        alignments are lost).
    batch_size: utterances per backbone forward (fit and encode_batch).
    n_mfcc / deltas: MFCC coefficients and whether to append deltas + delta-deltas.
    exact_batches: for SSL models that cannot batch padded items exactly (group norm,
        data2vec), forward equal-length groups separately so batched tokens equal per-item
        tokens (default); False pads them into one forward (faster on a GPU, tokens then
        depend on what else is in the batch).
    """

    backbone: str = "mel"
    model: str | None = None
    layers: list[int] | None = None
    k: int = 500
    seed: int = 0
    max_vectors: int = 200_000
    kmeans_iterations: int = 50
    kmeans_redo: int = 1
    dedup: bool = False
    batch_size: int = 8
    n_mfcc: int = 13
    deltas: bool = True
    exact_batches: bool = True

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {list(BACKBONES)}, got {self.backbone!r}")
        ssl = self.backbone in SSL_BACKBONES
        if ssl and not self.model:
            raise ValueError(f"backbone '{self.backbone}' needs model= (a hub id or a folder)")
        if not ssl and self.model:
            raise ValueError(f"model= is only for SSL backbones {list(SSL_BACKBONES)}")
        if self.layers is None:
            if ssl:
                raise ValueError(f"backbone '{self.backbone}' needs layers=, e.g. [6] or [7, 18]")
            self.layers = [0]
        self.layers = [int(i) for i in self.layers]
        if not ssl and self.layers != [0]:
            raise ValueError(f"backbone '{self.backbone}' has one layer: layers must be [0]")
        if not self.layers or min(self.layers) < 0 or len(set(self.layers)) != len(self.layers):
            raise ValueError(f"layers must be distinct ints >= 0, got {self.layers}")
        for name in ("k", "batch_size", "kmeans_redo"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.kmeans_iterations < 0:
            raise ValueError(f"kmeans_iterations must be >= 0, got {self.kmeans_iterations}")
        if self.max_vectors < self.k:
            raise ValueError(f"max_vectors ({self.max_vectors}) must be >= k ({self.k})")
        if not 1 <= self.n_mfcc <= 80:
            raise ValueError(f"n_mfcc must be in 1..80, got {self.n_mfcc}")
        if self.model is not None:
            self.model = str(self.model)


@dataclass
class FitReport:
    """What :meth:`SemanticTokenizer.fit` saw: items used/skipped, their audio (seconds),
    frames, vectors clustered and k-means inertia per layer."""

    items: int = 0
    skipped: int = 0
    audio_seconds: float = 0.0
    frames: int = 0
    vectors: dict[int, int] = field(default_factory=dict)
    inertia: dict[int, float] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class FrameSample:
    """What :meth:`SemanticTokenizer.sample_frames` kept: ``vectors`` layer -> float32
    [n, D] reservoir sample, the ``report`` of the pass (items, frames, seconds) and the
    ``manifest`` it read."""

    manifest: str
    vectors: dict[int, np.ndarray]
    report: FitReport


def dedup_frames(codes: np.ndarray) -> np.ndarray:
    """Drop frames equal to the previous frame (all codebooks): [T, C] -> [T', C], T' <= T."""
    if len(codes) < 2:
        return codes
    keep = np.ones(len(codes), dtype=bool)
    keep[1:] = (codes[1:] != codes[:-1]).any(axis=1)
    return codes[keep]


class SemanticTokenizer(Tokenizer):
    """Backbone layers + one k-means codebook per layer. Call :meth:`fit` before encoding."""

    name = "semantic"
    Config = SemanticConfig

    def __init__(self, config: SemanticConfig, name: str | None = None) -> None:
        super().__init__(config, name)
        self.config: SemanticConfig = config
        self._backbone: Backbone | None = None
        self._centroids: dict[int, torch.Tensor] = {}
        self.last_fit: FitReport | None = None

    # -- pieces ---------------------------------------------------------------------------
    @property
    def layers(self) -> list[int]:
        """The quantised layers, in codebook order."""
        assert self.config.layers is not None
        return self.config.layers

    @property
    def backbone(self) -> Backbone:
        """The feature backbone, built (SSL: loaded) on first use, on ``self.device``."""
        if self._backbone is None:
            c = self.config
            bb = build_backbone(c.backbone, c.model, max_layer=max(self.layers),
                                n_mfcc=c.n_mfcc, deltas=c.deltas,
                                exact_batches=c.exact_batches)
            bb.check_layers(self.layers)
            self._backbone = bb.to(self.device)
        return self._backbone

    @property
    def fitted(self) -> bool:
        """True once every layer has centroids."""
        return all(i in self._centroids for i in self.layers)

    @property
    def info(self) -> TokenizerInfo:
        c = self.config
        source = c.backbone if c.model is None else f"{c.backbone}:{c.model}"
        return TokenizerInfo(
            name=self.name, kind="semantic", sample_rate=SAMPLE_RATE,
            frame_rate=self._frame_rate(), vocab_sizes=(c.k,) * len(self.layers),
            codebook_names=tuple(f"layer{i}" for i in self.layers), source=source,
            has_decoder=self.vocoder is not None, fitted=self.fitted,
        )

    def _frame_rate(self) -> float:
        if self._backbone is not None:
            return self._backbone.frame_rate
        if self.config.backbone in SSL_BACKBONES:  # read only the model's config.json
            return ssl_frame_rate(str(self.config.model))
        return self.backbone.frame_rate

    def to(self, device: str) -> SemanticTokenizer:
        super().to(device)
        if self._backbone is not None:
            self._backbone.to(device)
        self._centroids = {i: c.to(device) for i, c in self._centroids.items()}
        return self

    # -- training -------------------------------------------------------------------------
    def fit(self, manifest: str | Path, *, max_items: int | None = None,
            minutes: float | None = None, progress: bool = False) -> None:
        """Learn one k-means codebook per layer from the audio listed in a JSONL manifest.

        Streams the manifest, keeps a uniform reservoir sample of at most ``max_vectors``
        frames per layer, then clusters it (:meth:`sample_frames` then :meth:`fit_sample`).
        Unreadable files are skipped with a warning and counted (``self.last_fit.skipped``).
        ``max_items``: use only the first N items; ``minutes``: stop reading once this many
        minutes of audio are loaded (the audio to fit on, not a time budget); ``progress``:
        show a progress bar.
        """
        self.fit_sample(self.sample_frames(manifest, max_items=max_items, minutes=minutes,
                                           progress=progress))

    def sample_frames(self, manifest: str | Path, *, max_items: int | None = None,
                      minutes: float | None = None, progress: bool = False) -> FrameSample:
        """The reservoir sample :meth:`fit` clusters: per layer of ``self.layers`` at most
        ``max_vectors`` backbone frames, float32 [n, D], from one pass over the manifest
        (options as in :meth:`fit`). Layer i's sample depends only on the backbone, the items,
        ``max_vectors`` and ``seed`` (its sampler is seeded ``seed + i``), not on ``k`` or the
        other layers: tokenizers that differ in those can share it (:meth:`fit_sample`)."""
        from .kmeans import ReservoirSampler

        if max_items is not None and max_items < 1:
            raise TokenizerError(f"max_items must be >= 1, got {max_items}")
        if minutes is not None and not minutes > 0:
            raise TokenizerError(f"minutes must be > 0, got {minutes}")
        options = {"max_items": max_items, "minutes": minutes, "progress": progress}
        c, t0 = self.config, time.perf_counter()
        samplers = {i: ReservoirSampler(c.max_vectors, c.seed + i) for i in self.layers}
        report = FitReport()
        for wavs in self._audio_batches(Path(manifest), report, options):
            out = self._forward(wavs)
            report.frames += int(out.lengths.sum())
            for i in self.layers:
                feats = out.items(i)
                if feats:
                    samplers[i].add(torch.cat(feats).cpu())
        vectors = {i: s.sample() for i, s in samplers.items() if len(s)}
        report.seconds = time.perf_counter() - t0
        return FrameSample(str(manifest), vectors, report)

    def fit_sample(self, sample: FrameSample) -> None:
        """One k-means codebook per layer from ``sample`` (made by :meth:`sample_frames` of a
        tokenizer with the same backbone, ``max_vectors`` and ``seed``, over these layers or
        more): the same centroids as :meth:`fit` on the sample's manifest.
        ``self.last_fit.seconds`` counts the sampling pass once plus this clustering."""
        from .kmeans import KMeansConfig, fit_kmeans

        c, t0 = self.config, time.perf_counter()
        report = replace(sample.report, vectors={}, inertia={})
        if report.frames < c.k:
            raise TokenizerError(
                f"{sample.manifest}: only {report.frames} frames from {report.items} readable "
                f"items ({report.skipped} skipped); k-means with k={c.k} needs at least {c.k}"
            )
        missing = [i for i in self.layers if i not in sample.vectors]
        if missing:
            raise TokenizerError(f"{sample.manifest}: the frame sample holds layers "
                                 f"{sorted(sample.vectors)}, not {missing}")
        cfg = KMeansConfig(k=c.k, iterations=c.kmeans_iterations, seed=c.seed,
                           redo=c.kmeans_redo)
        for i in self.layers:
            result = fit_kmeans(sample.vectors[i], cfg)
            self._centroids[i] = torch.from_numpy(result.centroids).to(self.device)
            report.vectors[i], report.inertia[i] = result.n_vectors, result.inertia
        report.seconds = sample.report.seconds + time.perf_counter() - t0
        self.last_fit = report

    def _audio_batches(self, manifest: Path, report: FitReport,
                       options: dict[str, Any]) -> Iterator[list[np.ndarray]]:
        """Readable manifest audio at 16 kHz, in lists of ``batch_size`` [N] arrays."""
        from rich.progress import Progress

        from ..audio import AudioError, load_audio
        from ..data.manifest import iter_manifest

        max_items, minutes = options.get("max_items"), options.get("minutes")
        max_samples = math.inf if minutes is None else minutes * 60.0 * SAMPLE_RATE
        loaded = 0
        batch: list[np.ndarray] = []
        with Progress(disable=not options.get("progress", False), transient=True) as bar:
            task = bar.add_task(f"fit {self.name}", total=max_items)
            for n, item in enumerate(iter_manifest(manifest)):
                if (max_items is not None and n >= max_items) or loaded >= max_samples:
                    break
                bar.advance(task)
                try:
                    batch.append(load_audio(item.path, SAMPLE_RATE).samples)
                except AudioError as err:
                    report.skipped += 1
                    warnings.warn(f"skipping unreadable audio: {err}", stacklevel=3)
                    continue
                report.items += 1
                loaded += len(batch[-1])
                report.audio_seconds = loaded / SAMPLE_RATE
                if len(batch) == self.config.batch_size:
                    yield batch
                    batch = []
            if batch:
                yield batch

    # -- encoding -------------------------------------------------------------------------
    def _forward(self, wavs: list[np.ndarray]) -> Any:
        """Padded backbone forward of 16 kHz signals (padded to at least one frame's input)."""
        bb = self.backbone
        wav, lengths = pad_batch([torch.from_numpy(np.ascontiguousarray(w)) for w in wavs])
        if wav.shape[1] < bb.min_samples:
            wav = torch.nn.functional.pad(wav, (0, bb.min_samples - wav.shape[1]))
        return bb.forward(wav, lengths, self.layers)

    def _check_ready(self) -> None:
        if not self.fitted:
            raise TokenizerError(
                f"tokenizer '{self.name}' is not fitted: call fit(manifest) first "
                "(or load a saved tokenizer folder)"
            )
        dim = self.backbone.dim
        for i, cent in self._centroids.items():
            if cent.shape[1] != dim:
                raise TokenizerError(
                    f"centroids for layer {i} have D={cent.shape[1]} but backbone "
                    f"'{self.backbone.source}' gives D={dim}; refit or use the matching model"
                )

    def encode(self, samples: np.ndarray, sample_rate: int) -> Tokens:
        """Mono samples [N] at ``sample_rate`` -> Tokens [T, C] int64 (T = backbone frames,
        C = len(layers); 0 frames for audio shorter than one frame; fewer if ``dedup``)."""
        return self.encode_batch([samples], sample_rate).items()[0]

    def encode_batch(self, batch: list[np.ndarray], sample_rate: int) -> Tokens:
        """Mono signals -> Tokens [B, T_max, C] with per-item ``lengths`` (padding id 0).

        Runs the backbone on padded chunks of ``batch_size`` items (sorted by length). The
        result equals per-item :meth:`encode` for every backbone unless
        ``exact_batches=False`` (see ``SSLBackbone``).
        """
        from ..audio import resample

        if not batch:
            raise ValueError("encode_batch needs at least one signal")
        self._check_ready()
        wavs = [resample(_check_samples(x, n), sample_rate, SAMPLE_RATE)
                for n, x in enumerate(batch)]
        order = sorted(range(len(wavs)), key=lambda j: -len(wavs[j]))
        codes: list[np.ndarray] = [np.zeros(0)] * len(wavs)
        size = self.config.batch_size
        for start in range(0, len(order), size):
            chunk = order[start: start + size]
            for j, item_codes in zip(chunk, self._codes([wavs[j] for j in chunk]), strict=True):
                codes[j] = dedup_frames(item_codes) if self.config.dedup else item_codes
        info = self.info
        return Tokens.stack([Tokens(c, info) for c in codes])

    def _codes(self, wavs: list[np.ndarray]) -> list[np.ndarray]:
        """Token ids [T_i, C] for each 16 kHz signal of one padded forward."""
        from .kmeans import assign

        out = self._forward(wavs)
        lengths = out.lengths.tolist()
        per_layer = []
        for i in self.layers:
            feats = out.items(i)
            ids = assign(torch.cat(feats), self._centroids[i])
            ids = ids.cpu().numpy() if isinstance(ids, torch.Tensor) else ids
            per_layer.append(ids)
        stacked = np.stack(per_layer, axis=1).astype(np.int64)  # [sum T_i, C]
        bounds = np.cumsum([0, *lengths])
        return [stacked[bounds[b]: bounds[b + 1]] for b in range(len(lengths))]

    def codebook_vectors(self) -> list[np.ndarray] | None:
        """The k-means centroids, float32 [k, D] per layer in codebook order (None unfitted)."""
        if not self.fitted:
            return None
        return [self._centroids[i].detach().cpu().numpy() for i in self.layers]

    # -- persistence ----------------------------------------------------------------------
    def state_tensors(self) -> dict[str, Any]:
        """``centroids.layer{i}``: float32 [k, D] per layer (the SSL model is not included)."""
        return {f"centroids.layer{i}": c.detach().cpu() for i, c in self._centroids.items()}

    def load_state_tensors(self, tensors: dict[str, np.ndarray]) -> None:
        expected = {f"centroids.layer{i}" for i in self.layers}
        if set(tensors) != expected:
            raise TokenizerError(
                f"weights hold {sorted(tensors)}, expected {sorted(expected)} for layers "
                f"{self.layers}"
            )
        centroids = {}
        for i in self.layers:
            arr = np.asarray(tensors[f"centroids.layer{i}"], dtype=np.float32)
            if arr.ndim != 2 or arr.shape[0] != self.config.k:
                raise TokenizerError(
                    f"centroids.layer{i} has shape {arr.shape}, expected [k={self.config.k}, D]"
                )
            centroids[i] = torch.from_numpy(arr.copy()).to(self.device)
        self._centroids = centroids


def _check_samples(samples: np.ndarray, index: int) -> np.ndarray:
    """Validate one mono signal -> float32 [N]; ValueError naming the item otherwise."""
    arr = np.asarray(samples.detach().cpu() if hasattr(samples, "detach") else samples)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(f"signal {index}: expected mono samples [N], got shape {arr.shape}")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"signal {index}: contains NaN or infinite samples")
    return arr
