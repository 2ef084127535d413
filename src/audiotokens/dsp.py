"""Shared signal processing in torch: STFT magnitudes, mel filterbanks, log-mel spectrograms.

Used by the log-mel/MFCC backbones, the codec and vocoder losses, and the mel-distance metric,
so every part of the project means the same thing by "log-mel".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["MelConfig", "mel_filterbank", "stft_magnitude", "log_mel", "dct_matrix"]


@dataclass(frozen=True)
class MelConfig:
    """Log-mel analysis settings. Defaults: 16 kHz, 25 ms window, 20 ms hop (50 frames/s)."""

    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 320
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float | None = None
    floor: float = 1e-5

    def __post_init__(self) -> None:
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length {self.win_length} > n_fft {self.n_fft}")
        if self.hop_length <= 0 or self.n_mels <= 0:
            raise ValueError("hop_length and n_mels must be positive")

    @property
    def frame_rate(self) -> float:
        """Frames per second."""
        return self.sample_rate / self.hop_length


def _hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    return 2595.0 * torch.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(cfg: MelConfig) -> torch.Tensor:
    """Triangular HTK-mel filters, area-normalised: [n_mels, n_fft // 2 + 1] float32."""
    f_max = cfg.f_max or cfg.sample_rate / 2
    n_freqs = cfg.n_fft // 2 + 1
    freqs = torch.linspace(0, cfg.sample_rate / 2, n_freqs, dtype=torch.float64)
    mel_pts = torch.linspace(_hz_to_mel(torch.tensor(cfg.f_min, dtype=torch.float64)),
                             _hz_to_mel(torch.tensor(f_max, dtype=torch.float64)), cfg.n_mels + 2)
    hz = _mel_to_hz(mel_pts)
    lower, center, upper = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    up = (freqs[None] - lower) / (center - lower)
    down = (upper - freqs[None]) / (upper - center)
    fb = torch.clamp(torch.minimum(up, down), min=0.0)
    fb = fb * (2.0 / (upper - lower))  # Slaney-style area normalisation
    return fb.float()


def stft_magnitude(wav: torch.Tensor, n_fft: int, hop_length: int, win_length: int) -> torch.Tensor:
    """|STFT| of [..., N] audio -> [..., n_fft // 2 + 1, frames], centred, Hann window.

    Frames = N // hop_length + 1 (torch's centred convention).
    """
    shape = wav.shape
    flat = wav.reshape(-1, shape[-1])
    window = torch.hann_window(win_length, device=wav.device, dtype=wav.dtype)
    spec = torch.stft(flat, n_fft, hop_length, win_length, window, center=True,
                      pad_mode="reflect" if shape[-1] > n_fft // 2 else "constant",
                      return_complex=True)
    mag = spec.abs()
    return mag.reshape(*shape[:-1], *mag.shape[-2:])


def log_mel(
    wav: torch.Tensor, cfg: MelConfig, filterbank: torch.Tensor | None = None
) -> torch.Tensor:
    """[..., N] audio -> natural-log mel spectrogram [..., frames, n_mels] (frames = N // hop).

    The centred STFT's extra last frame is dropped so ``frames == N // hop_length``, which
    keeps tokens aligned to ``duration * frame_rate``.
    """
    fb = mel_filterbank(cfg) if filterbank is None else filterbank
    fb = fb.to(device=wav.device, dtype=wav.dtype)
    mag = stft_magnitude(wav, cfg.n_fft, cfg.hop_length, cfg.win_length)
    mel = torch.matmul(fb, mag).clamp_min(cfg.floor).log()
    n_frames = wav.shape[-1] // cfg.hop_length
    return mel[..., :n_frames].transpose(-1, -2)


def dct_matrix(n_mels: int, n_coeffs: int) -> torch.Tensor:
    """Orthonormal DCT-II basis [n_mels, n_coeffs], for MFCC = log_mel @ dct."""
    n = torch.arange(n_mels, dtype=torch.float64)
    k = torch.arange(n_coeffs, dtype=torch.float64)
    basis = torch.cos(math.pi / n_mels * (n[:, None] + 0.5) * k[None, :])
    basis[:, 0] *= 1.0 / math.sqrt(2.0)
    return (basis * math.sqrt(2.0 / n_mels)).float()
