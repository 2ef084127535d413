"""Reconstruction losses for codecs and vocoders: multi-resolution STFT and mel L1.

Both use :mod:`audiotokens.dsp` so "log-mel" means the same thing here as in the features and
the mel-distance metric. Inputs are waveforms [B, N] or [B, 1, N] float; outputs are scalar
tensors (mean over the batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..dsp import MelConfig, log_mel, mel_filterbank, stft_magnitude

__all__ = [
    "STFTResolution",
    "ReconstructionLossConfig",
    "ReconstructionLoss",
    "LossTerms",
    "multi_resolution_stft_loss",
    "mel_l1_loss",
]


@dataclass(frozen=True)
class STFTResolution:
    """One STFT analysis: FFT size, hop and window length in samples."""

    n_fft: int
    hop_length: int
    win_length: int

    def __post_init__(self) -> None:
        if not 0 < self.win_length <= self.n_fft or self.hop_length <= 0:
            raise ValueError(f"need 0 < win_length <= n_fft and hop_length > 0: {self}")


DEFAULT_RESOLUTIONS = (
    STFTResolution(512, 128, 512),
    STFTResolution(1024, 256, 1024),
    STFTResolution(256, 64, 256),
)


@dataclass(frozen=True)
class ReconstructionLossConfig:
    """Weights and analyses of :class:`ReconstructionLoss` (defaults for 16 kHz speech)."""

    sample_rate: int = 16000
    resolutions: tuple[STFTResolution, ...] = DEFAULT_RESOLUTIONS
    n_mels: int = 64
    mel_n_fft: int = 1024
    mel_hop_length: int = 256
    stft_weight: float = 1.0
    mel_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.n_mels <= 0:
            raise ValueError("sample_rate and n_mels must be positive")
        if not self.resolutions and self.stft_weight > 0:
            raise ValueError("stft_weight > 0 needs at least one STFT resolution")

    @property
    def mel(self) -> MelConfig:
        """The mel analysis used by the mel term."""
        return MelConfig(sample_rate=self.sample_rate, n_fft=self.mel_n_fft,
                         win_length=self.mel_n_fft, hop_length=self.mel_hop_length,
                         n_mels=self.n_mels)


@dataclass
class LossTerms:
    """``total`` = stft_weight * (spectral_convergence + log_magnitude) + mel_weight * mel."""

    total: torch.Tensor
    spectral_convergence: torch.Tensor
    log_magnitude: torch.Tensor
    mel: torch.Tensor


def _flat(wav: torch.Tensor) -> torch.Tensor:
    return wav.reshape(-1, wav.shape[-1])


def multi_resolution_stft_loss(
    pred: torch.Tensor, target: torch.Tensor,
    resolutions: tuple[STFTResolution, ...] = DEFAULT_RESOLUTIONS, floor: float = 1e-5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(spectral convergence, log-magnitude L1), each averaged over resolutions.

    Spectral convergence = ||S_t - S_p||_F / ||S_t||_F per item; log-magnitude = mean
    |log S_t - log S_p| (Yamamoto et al., Parallel WaveGAN). pred/target: [B, (1,) N].
    """
    pred, target = _flat(pred), _flat(target)
    sc = pred.new_zeros(())
    mag = pred.new_zeros(())
    for r in resolutions:
        sp = stft_magnitude(pred, r.n_fft, r.hop_length, r.win_length).clamp_min(floor)
        st = stft_magnitude(target, r.n_fft, r.hop_length, r.win_length).clamp_min(floor)
        num = torch.linalg.vector_norm(st - sp, dim=(-2, -1))
        den = torch.linalg.vector_norm(st, dim=(-2, -1)).clamp_min(floor)
        sc = sc + (num / den).mean()
        mag = mag + (st.log() - sp.log()).abs().mean()
    n = max(len(resolutions), 1)
    return sc / n, mag / n


def mel_l1_loss(pred: torch.Tensor, target: torch.Tensor, cfg: MelConfig,
                filterbank: torch.Tensor | None = None) -> torch.Tensor:
    """Mean |log-mel(pred) - log-mel(target)| (natural log), pred/target [B, (1,) N]."""
    fb = mel_filterbank(cfg) if filterbank is None else filterbank
    return (log_mel(_flat(pred), cfg, fb) - log_mel(_flat(target), cfg, fb)).abs().mean()


class ReconstructionLoss(nn.Module):
    """Multi-resolution STFT + mel L1 between a reconstruction and its target waveform."""

    def __init__(self, cfg: ReconstructionLossConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or ReconstructionLossConfig()
        self.register_buffer("filterbank", mel_filterbank(self.cfg.mel), persistent=False)
        self.filterbank: torch.Tensor

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> LossTerms:
        """pred/target [B, (1,) N] float on the same device -> :class:`LossTerms`."""
        if pred.shape != target.shape:
            raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
        cfg = self.cfg
        sc, mag = multi_resolution_stft_loss(pred, target, cfg.resolutions)
        mel = mel_l1_loss(pred, target, cfg.mel, self.filterbank)
        total = cfg.stft_weight * (sc + mag) + cfg.mel_weight * mel
        return LossTerms(total=total, spectral_convergence=sc, log_magnitude=mag, mel=mel)
