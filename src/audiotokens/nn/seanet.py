"""SEANet-style 1-D convolutional encoder/decoder (SoundStream / EnCodec family).

Encoder: conv -> [residual units -> ELU -> strided conv (x2 channels)] per ratio -> conv to
``latent_dim``. Decoder mirrors it with transposed convs. Lengths are exact: the encoder maps
N samples (a multiple of ``hop_length``) to N / hop frames, the decoder maps T frames to
T * hop samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "SEANetConfig",
    "SEANetEncoder",
    "SEANetDecoder",
    "ResidualUnit",
    "DownsampleConv",
    "UpsampleConv",
    "conv1d",
]


@dataclass(frozen=True)
class SEANetConfig:
    """Architecture. ``ratios`` are the encoder's strides (decoder uses them reversed);
    ``hop_length`` = prod(ratios). Channels double after each stride from ``channels``."""

    channels: int = 16
    ratios: tuple[int, ...] = (2, 4, 5, 8)
    latent_dim: int = 64
    n_residual: int = 1
    dilation_base: int = 3
    kernel_size: int = 7
    residual_kernel_size: int = 3
    weight_norm: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "ratios", tuple(int(r) for r in self.ratios))
        if not self.ratios or any(r < 1 for r in self.ratios):
            raise ValueError(f"ratios must be positive ints, got {self.ratios}")
        for name in ("channels", "latent_dim", "kernel_size", "residual_kernel_size",
                     "dilation_base"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_residual < 0:
            raise ValueError(f"n_residual must be >= 0, got {self.n_residual}")
        if self.kernel_size % 2 == 0 or self.residual_kernel_size % 2 == 0:
            raise ValueError("kernel_size and residual_kernel_size must be odd")

    @property
    def hop_length(self) -> int:
        """Samples per latent frame."""
        return math.prod(self.ratios)


def conv1d(in_ch: int, out_ch: int, kernel_size: int, *, stride: int = 1, dilation: int = 1,
           padding: int = 0, weight_norm: bool = True) -> nn.Conv1d:
    """A Conv1d, optionally weight-normalised (torch parametrization, state_dict-friendly)."""
    conv = nn.Conv1d(in_ch, out_ch, kernel_size, stride=stride, dilation=dilation,
                     padding=padding)
    return nn.utils.parametrizations.weight_norm(conv) if weight_norm else conv


class ResidualUnit(nn.Module):
    """x + conv1(ELU(conv_k,d(ELU(x)))): [B, C, L] -> [B, C, L], length-preserving."""

    def __init__(self, channels: int, dilation: int, kernel_size: int = 3,
                 weight_norm: bool = True) -> None:
        super().__init__()
        hidden = max(1, channels // 2)
        pad = (kernel_size - 1) * dilation // 2
        self.block = nn.Sequential(
            nn.ELU(),
            conv1d(channels, hidden, kernel_size, dilation=dilation, padding=pad,
                   weight_norm=weight_norm),
            nn.ELU(),
            conv1d(hidden, channels, 1, weight_norm=weight_norm),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, L] -> [B, C, L]."""
        return x + self.block(x)


class DownsampleConv(nn.Module):
    """Strided conv (kernel 2*stride): [B, C_in, L] -> [B, C_out, L / stride] exactly
    when ``L`` is a multiple of ``stride``."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, weight_norm: bool = True) -> None:
        super().__init__()
        self.stride = stride
        self.conv = conv1d(in_ch, out_ch, 2 * stride, stride=stride, weight_norm=weight_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C_in, L] -> [B, C_out, L // stride]."""
        s = self.stride
        return self.conv(F.pad(x, ((s + 1) // 2, s // 2)))


class UpsampleConv(nn.Module):
    """Transposed conv (kernel 2*stride): [B, C_in, T] -> [B, C_out, T * stride]."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, weight_norm: bool = True) -> None:
        super().__init__()
        self.stride = stride
        conv = nn.ConvTranspose1d(in_ch, out_ch, 2 * stride, stride=stride)
        self.conv = nn.utils.parametrizations.weight_norm(conv) if weight_norm else conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C_in, T] -> [B, C_out, T * stride]."""
        s = self.stride
        y = self.conv(x)  # length T * s + s
        left = (s + 1) // 2
        return y[..., left: left + x.shape[-1] * s]


def _residual_stack(channels: int, cfg: SEANetConfig) -> list[nn.Module]:
    return [ResidualUnit(channels, cfg.dilation_base ** j, cfg.residual_kernel_size,
                         cfg.weight_norm) for j in range(cfg.n_residual)]


class SEANetEncoder(nn.Module):
    """Waveform [B, 1, N] -> latent [B, latent_dim, N / hop_length] (N a multiple of hop)."""

    def __init__(self, cfg: SEANetConfig) -> None:
        super().__init__()
        k, wn = cfg.kernel_size, cfg.weight_norm
        ch = cfg.channels
        layers: list[nn.Module] = [conv1d(1, ch, k, padding=k // 2, weight_norm=wn)]
        for ratio in cfg.ratios:
            layers += _residual_stack(ch, cfg)
            layers += [nn.ELU(), DownsampleConv(ch, ch * 2, ratio, wn)]
            ch *= 2
        layers += [nn.ELU(), conv1d(ch, cfg.latent_dim, k, padding=k // 2, weight_norm=wn)]
        self.model = nn.Sequential(*layers)
        self.hop_length = cfg.hop_length

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """[B, 1, N] float -> [B, latent_dim, N // hop_length]."""
        if wav.shape[-1] % self.hop_length:
            raise ValueError(f"length {wav.shape[-1]} is not a multiple of hop {self.hop_length}")
        return self.model(wav)


class SEANetDecoder(nn.Module):
    """Latent [B, latent_dim, T] -> waveform [B, 1, T * hop_length] (no output squashing)."""

    def __init__(self, cfg: SEANetConfig, in_dim: int | None = None) -> None:
        super().__init__()
        k, wn = cfg.kernel_size, cfg.weight_norm
        ch = cfg.channels * 2 ** len(cfg.ratios)
        layers: list[nn.Module] = [
            conv1d(in_dim or cfg.latent_dim, ch, k, padding=k // 2, weight_norm=wn)
        ]
        for ratio in reversed(cfg.ratios):
            layers += [nn.ELU(), UpsampleConv(ch, ch // 2, ratio, wn)]
            ch //= 2
            layers += _residual_stack(ch, cfg)
        layers += [nn.ELU(), conv1d(ch, 1, k, padding=k // 2, weight_norm=wn)]
        self.model = nn.Sequential(*layers)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """[B, D, T] -> [B, 1, T * hop_length]."""
        return self.model(latent)
