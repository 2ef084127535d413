"""Training data for the vocoder: clips encoded once and kept in memory, random aligned
(tokens, waveform) segments, and random codebook subsets (layer dropout)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..audio import load_audio
from ..data.manifest import ManifestError, iter_manifest
from ..tokenizers.base import Tokenizer
from .config import VocoderConfig
from .features import continuous_features, speaker_vector

__all__ = ["VocoderClip", "VocoderBatch", "load_clips", "SegmentSampler", "MIN_CLIP_FRAMES"]

MIN_CLIP_FRAMES = 4  # clips with fewer token frames are skipped


@dataclass
class VocoderClip:
    """One utterance: ``codes`` int64 [T, C], ``audio`` float32 [T * hop_length], optional
    ``speaker`` float32 [speaker_dim] and oracle ``features`` float32 [T, D]."""

    id: str
    codes: np.ndarray
    audio: np.ndarray
    speaker: np.ndarray | None = None
    features: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        """T."""
        return int(self.codes.shape[0])


@dataclass
class VocoderBatch:
    """Aligned segments: ``inputs`` [B, T, C] int64 (oracle: [B, T, D] float), ``audio``
    [B, T * hop_length] float32, ``mask`` bool [C], ``speaker`` [B, S] float32 or None."""

    inputs: torch.Tensor
    audio: torch.Tensor
    mask: torch.Tensor
    speaker: torch.Tensor | None

    def to(self, device: str | torch.device) -> VocoderBatch:
        """The same batch on ``device``."""
        spk = None if self.speaker is None else self.speaker.to(device)
        return VocoderBatch(self.inputs.to(device), self.audio.to(device),
                            self.mask.to(device), spk)


def load_clips(tokenizer: Tokenizer, manifest_path: str | Path,
               config: VocoderConfig) -> list[VocoderClip]:
    """Read every manifest item at the tokenizer's rate and encode it once.

    Tokens and audio are cut to the common length T = min(frames, N // hop_length); items
    shorter than ``MIN_CLIP_FRAMES`` frames are skipped. Raises AudioError naming a bad file
    and ManifestError when no usable item is left.
    """
    rate, hop = tokenizer.info.sample_rate, config.hop_length
    clips: list[VocoderClip] = []
    for item in iter_manifest(manifest_path):
        audio = load_audio(item.path, rate).samples
        codes = tokenizer.encode(audio, rate).codes
        n = min(codes.shape[0], len(audio) // hop)
        if n < MIN_CLIP_FRAMES:
            continue
        audio = np.ascontiguousarray(audio[: n * hop], dtype=np.float32)
        clip = VocoderClip(item.id, np.ascontiguousarray(codes[:n], dtype=np.int64), audio)
        if config.speaker_dim > 0:
            clip.speaker = speaker_vector(audio, rate, config.speaker_dim, hop)
        if config.continuous_input_dim > 0:
            feats = continuous_features(audio, rate, hop, config.continuous_input_dim)
            clip.features = feats[:n]
        clips.append(clip)
    if not clips:
        raise ManifestError(f"{manifest_path}: no item with at least {MIN_CLIP_FRAMES} token "
                            f"frames ({MIN_CLIP_FRAMES * hop / rate:.2f} s) to train on")
    return clips


class SegmentSampler:
    """Random aligned segments of ``segment_frames`` frames, and a random codebook mask.

    The segment is cut to the longest clip when all clips are shorter; clips shorter than the
    segment are not drawn. Batch ``step`` of stream ``stream`` is a pure function of
    (seed, stream, step), so a resumed run sees the same data as an uninterrupted one.
    ``keep`` (bool [C]): train on these codebooks only, every batch (a vocoder for one layer
    set; no layer dropout).
    """

    def __init__(self, clips: list[VocoderClip], config: VocoderConfig, segment_frames: int,
                 seed: int = 0, keep: np.ndarray | None = None) -> None:
        if not clips:
            raise ValueError("no clips to sample training segments from")
        if keep is not None and (keep.shape != (config.n_codebooks,) or not keep.any()):
            raise ValueError(f"keep must be a bool [{config.n_codebooks}] mask keeping at "
                             f"least one codebook, got {keep.tolist()}")
        self.config = config
        self.seed = seed
        self.keep = None if keep is None else keep.astype(bool)
        self.frames = min(segment_frames, max(c.n_frames for c in clips))
        self.clips = [c for c in clips if c.n_frames >= self.frames]
        sizes = np.array([c.n_frames for c in self.clips], dtype=np.float64)
        self.weights = sizes / sizes.sum()

    def mask(self, rng: np.random.Generator) -> np.ndarray:
        """bool [C]: ``keep``, else each codebook dropped with prob ``layer_dropout``, at
        least one kept."""
        if self.keep is not None:
            return self.keep.copy()
        n = self.config.n_codebooks
        keep = rng.random(n) >= self.config.layer_dropout
        if not keep.any():
            keep[int(rng.integers(0, n))] = True
        return keep

    def batch(self, step: int, batch_size: int, stream: int = 0,
              full_mask: bool = False) -> VocoderBatch:
        """Batch ``step`` (>= 0) of stream ``stream`` (0 = training, others for evaluation);
        ``full_mask`` keeps every codebook (of ``keep``, when set)."""
        rng = np.random.default_rng([self.seed, stream, step])
        hop, t = self.config.hop_length, self.frames
        oracle = self.config.continuous_input_dim > 0
        inputs, audio, speakers = [], [], []
        for i in rng.choice(len(self.clips), size=batch_size, p=self.weights):
            clip = self.clips[int(i)]
            start = int(rng.integers(0, clip.n_frames - t + 1))
            source = clip.features if oracle else clip.codes
            assert source is not None
            inputs.append(source[start: start + t])
            audio.append(clip.audio[start * hop: (start + t) * hop])
            if clip.speaker is not None:
                speakers.append(clip.speaker)
        mask = (self.mask(rng) if not full_mask or self.keep is not None
                else np.ones(self.config.n_codebooks, dtype=bool))
        return VocoderBatch(
            inputs=torch.from_numpy(np.stack(inputs)),
            audio=torch.from_numpy(np.stack(audio)),
            mask=torch.from_numpy(mask),
            speaker=torch.from_numpy(np.stack(speakers)) if speakers else None,
        )
