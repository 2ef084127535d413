"""Spectral encoder / iSTFT decoder for the RVQ codec (Vocos-style).

:class:`SpectralEncoder`: log-magnitude STFT frames -> strided conv down to the token rate ->
ConvNeXt blocks -> ``latent_dim``. :class:`ISTFTDecoder`: latents -> ConvNeXt blocks at the
token rate -> transposed conv up to the STFT frame rate -> per-frame log-magnitude and phase
-> inverse STFT. Neither side upsamples a waveform with convolutions, so both are cheap per
step and converge far faster than the SEANet pair. Lengths are exact: N samples (a multiple
of ``hop_length``) <-> N / hop_length frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "SpectralConfig",
    "ConvNeXtBlock",
    "ISTFT",
    "SpectralEncoder",
    "ISTFTDecoder",
    "stft_frames",
]


@dataclass(frozen=True)
class SpectralConfig:
    """Architecture of the spectral pair.

    ``hop_length``: samples per token frame; ``stft_hop``: samples per STFT frame (divides
    ``hop_length``; the STFT uses ``n_fft = 4 * stft_hop`` and a Hann window of that length);
    ``dim``: ConvNeXt width; ``n_blocks``: ConvNeXt blocks on each side.
    """

    hop_length: int = 320
    stft_hop: int = 160
    dim: int = 256
    n_blocks: int = 4
    latent_dim: int = 64
    kernel_size: int = 7

    def __post_init__(self) -> None:
        for name in ("hop_length", "stft_hop", "dim", "latent_dim", "kernel_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_blocks < 0:
            raise ValueError(f"n_blocks must be >= 0, got {self.n_blocks}")
        if self.hop_length % self.stft_hop:
            raise ValueError(f"stft_hop {self.stft_hop} must divide hop_length {self.hop_length}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {self.kernel_size}")

    @property
    def n_fft(self) -> int:
        """FFT size (and window length) of the STFT frames."""
        return 4 * self.stft_hop

    @property
    def upsample(self) -> int:
        """STFT frames per token frame."""
        return self.hop_length // self.stft_hop


class ConvNeXtBlock(nn.Module):
    """x + scale * MLP(LayerNorm(depthwise conv(x))): [B, C, T] -> [B, C, T]."""

    def __init__(self, dim: int, kernel_size: int = 7, layer_scale: float = 0.1) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, 3 * dim), nn.GELU(), nn.Linear(3 * dim, dim))
        self.scale = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, T] -> [B, C, T]."""
        h = self.norm(self.dwconv(x).transpose(1, 2))
        return x + (self.scale * self.mlp(h)).transpose(1, 2)


def _window(n_fft: int, like: torch.Tensor) -> torch.Tensor:
    return torch.hann_window(n_fft, periodic=True, device=like.device, dtype=like.dtype)


def stft_frames(wav: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """Complex STFT with "same" framing: [B, N] (N a multiple of hop) -> [B, n_fft/2+1, N/hop].

    Frame t is centred on samples [t * hop, (t + 1) * hop) (reflect padding at the ends).
    """
    pad = (n_fft - hop) // 2
    mode = "reflect" if wav.shape[-1] > pad else "constant"
    padded = F.pad(wav[:, None], (pad, n_fft - hop - pad), mode=mode)[:, 0]
    return torch.stft(padded, n_fft, hop, window=_window(n_fft, wav), center=False,
                      return_complex=True)


class ISTFT(nn.Module):
    """Inverse of :func:`stft_frames`: complex [B, n_fft/2+1, T] -> waveform [B, T * hop].

    Windowed overlap-add with "same" trimming (Vocos), normalised by the squared-window
    envelope, so ``ISTFT(stft_frames(x)) == x`` up to float error away from the edges.
    """

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.pad = (n_fft - hop) // 2

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        """complex [B, n_fft/2+1, T] -> float [B, T * hop]."""
        n_fft, hop, t = self.n_fft, self.hop, spec.shape[-1]
        window = _window(n_fft, spec.real)
        frames = torch.fft.irfft(spec, n_fft, dim=1) * window[None, :, None]
        size = (t - 1) * hop + n_fft
        y = F.fold(frames, (1, size), (1, n_fft), stride=(1, hop))[:, 0, 0]
        env = F.fold(window.square()[None, :, None].expand(1, n_fft, t), (1, size),
                     (1, n_fft), stride=(1, hop))[0, 0, 0]
        start = self.pad
        stop = start + t * hop
        return y[:, start:stop] / env[start:stop].clamp_min(1e-8)


class SpectralEncoder(nn.Module):
    """Waveform [B, 1, N] -> latent [B, latent_dim, N / hop_length] via log-|STFT| frames."""

    def __init__(self, cfg: SpectralConfig) -> None:
        super().__init__()
        self.cfg = cfg
        bins = cfg.n_fft // 2 + 1
        self.down = nn.Conv1d(bins, cfg.dim, cfg.upsample, stride=cfg.upsample)
        self.blocks = nn.Sequential(*(ConvNeXtBlock(cfg.dim, cfg.kernel_size)
                                      for _ in range(cfg.n_blocks)))
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.out = nn.Linear(cfg.dim, cfg.latent_dim)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """[B, 1, N] float -> [B, latent_dim, N // hop_length]."""
        cfg = self.cfg
        if wav.shape[-1] % cfg.hop_length:
            raise ValueError(f"length {wav.shape[-1]} is not a multiple of hop {cfg.hop_length}")
        spec = stft_frames(wav[:, 0], cfg.n_fft, cfg.stft_hop)
        feats = spec.abs().clamp_min(1e-5).log()
        h = self.blocks(self.down(feats))
        return self.out(self.norm(h.transpose(1, 2))).transpose(1, 2)


class ISTFTDecoder(nn.Module):
    """Latent [B, latent_dim, T] -> waveform [B, 1, T * hop_length] through an inverse STFT."""

    def __init__(self, cfg: SpectralConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.inp = nn.Conv1d(cfg.latent_dim, cfg.dim, cfg.kernel_size,
                             padding=cfg.kernel_size // 2)
        self.blocks = nn.Sequential(*(ConvNeXtBlock(cfg.dim, cfg.kernel_size)
                                      for _ in range(cfg.n_blocks)))
        self.up = nn.ConvTranspose1d(cfg.dim, cfg.dim, cfg.upsample, stride=cfg.upsample)
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.head = nn.Linear(cfg.dim, cfg.n_fft + 2)
        self.istft = ISTFT(cfg.n_fft, cfg.stft_hop)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """[B, D, T] -> [B, 1, T * hop_length]."""
        h = self.up(self.blocks(self.inp(latent)))
        log_mag, phase = self.head(self.norm(h.transpose(1, 2))).transpose(1, 2).chunk(2, dim=1)
        mag = log_mag.clamp(max=10.0).exp()
        spec = torch.polar(mag, phase)
        return self.istft(spec)[:, None]
