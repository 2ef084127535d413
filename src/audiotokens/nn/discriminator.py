"""A light multi-scale STFT discriminator (EnCodec's MS-STFTD, slimmed) and GAN losses.

Optional for the codec (``adversarial=True``), reusable by the vocoder. Each scale looks at the
complex STFT (real and imaginary parts as two channels) through a small 2-D conv stack.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "DiscriminatorOutput",
    "STFTDiscriminator",
    "MultiScaleSTFTDiscriminator",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "feature_matching_loss",
]


@dataclass
class DiscriminatorOutput:
    """Per scale: ``logits`` [B, 1, F', T'] and the intermediate ``features`` of each layer."""

    logits: list[torch.Tensor]
    features: list[list[torch.Tensor]]


class STFTDiscriminator(nn.Module):
    """One scale: waveform [B, 1, N] -> (logits [B, 1, F', T'], feature maps)."""

    def __init__(self, n_fft: int, channels: int = 16, n_layers: int = 3) -> None:
        super().__init__()
        self.n_fft = n_fft
        wn = nn.utils.parametrizations.weight_norm
        convs = [wn(nn.Conv2d(2, channels, (3, 9), padding=(1, 4)))]
        for _ in range(n_layers):
            convs.append(wn(nn.Conv2d(channels, channels, (3, 9), stride=(2, 1),
                                      padding=(1, 4))))
        self.convs = nn.ModuleList(convs)
        self.out = wn(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """[B, 1, N] -> logits [B, 1, F', T'] and a list of feature maps."""
        x = wav.reshape(-1, wav.shape[-1])
        window = torch.hann_window(self.n_fft, device=x.device, dtype=x.dtype)
        spec = torch.stft(x, self.n_fft, self.n_fft // 4, self.n_fft, window,
                          return_complex=True)
        h = torch.stack([spec.real, spec.imag], dim=1)  # [B, 2, F, T]
        feats = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.2)
            feats.append(h)
        return self.out(h), feats


class MultiScaleSTFTDiscriminator(nn.Module):
    """Several :class:`STFTDiscriminator` at different FFT sizes."""

    def __init__(self, n_ffts: tuple[int, ...] = (1024, 512, 256), channels: int = 16) -> None:
        super().__init__()
        self.scales = nn.ModuleList(STFTDiscriminator(n, channels) for n in n_ffts)

    def forward(self, wav: torch.Tensor) -> DiscriminatorOutput:
        """[B, 1, N] -> logits and features of every scale."""
        logits, features = [], []
        for d in self.scales:
            lg, ft = d(wav)
            logits.append(lg)
            features.append(ft)
        return DiscriminatorOutput(logits=logits, features=features)


def hinge_discriminator_loss(real: DiscriminatorOutput, fake: DiscriminatorOutput
                             ) -> torch.Tensor:
    """Mean over scales of relu(1 - D(real)) + relu(1 + D(fake))."""
    terms = [F.relu(1 - r).mean() + F.relu(1 + f).mean()
             for r, f in zip(real.logits, fake.logits, strict=True)]
    return torch.stack(terms).mean()


def hinge_generator_loss(fake: DiscriminatorOutput) -> torch.Tensor:
    """Mean over scales of relu(1 - D(fake))."""
    return torch.stack([F.relu(1 - f).mean() for f in fake.logits]).mean()


def feature_matching_loss(real: DiscriminatorOutput, fake: DiscriminatorOutput) -> torch.Tensor:
    """Mean relative L1 between real (detached) and fake feature maps over scales and layers."""
    terms = []
    for rs, fs in zip(real.features, fake.features, strict=True):
        for r, f in zip(rs, fs, strict=True):
            r = r.detach()
            terms.append((r - f).abs().mean() / r.abs().mean().clamp_min(1e-5))
    return torch.stack(terms).mean()
