"""The convolutional RVQ codec model: SEANet encoder -> residual VQ -> SEANet decoder."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .quantizer import ResidualVQ, VQConfig, VQOutput
from .seanet import SEANetConfig, SEANetDecoder, SEANetEncoder

__all__ = ["CodecOutput", "ConvCodec"]


@dataclass
class CodecOutput:
    """``audio`` [B, 1, N] reconstruction, the quantizer's :class:`VQOutput` (None when
    quantization was bypassed) and the continuous encoder ``latents`` [B, D, N / hop]."""

    audio: torch.Tensor
    vq: VQOutput | None
    latents: torch.Tensor


class ConvCodec(nn.Module):
    """Waveform [B, 1, N] (N a multiple of ``hop_length``) <-> codes [B, N / hop, C]."""

    def __init__(self, net: SEANetConfig, vq: VQConfig) -> None:
        super().__init__()
        if vq.dim != net.latent_dim:
            raise ValueError(f"quantizer dim {vq.dim} != latent_dim {net.latent_dim}")
        self.hop_length = net.hop_length
        self.encoder = SEANetEncoder(net)
        self.quantizer = ResidualVQ(vq)
        self.decoder = SEANetDecoder(net)

    def forward(self, wav: torch.Tensor, n_q: int | None = None,
                quantize: bool = True) -> CodecOutput:
        """[B, 1, N] -> reconstruction [B, 1, N] through ``n_q`` codebooks (training-aware).

        ``quantize=False`` bypasses the quantizer (plain autoencoder: the decoder sees the
        continuous latents and the codebooks are neither initialised nor updated); used for
        the quantizer warm-up at the start of training.
        """
        latents = self.encoder(wav)
        if not quantize:
            return CodecOutput(audio=self.decoder(latents), vq=None, latents=latents)
        vq = self.quantizer(latents, n_q)
        return CodecOutput(audio=self.decoder(vq.quantized), vq=vq, latents=latents)

    @torch.no_grad()
    def latents(self, wav: torch.Tensor) -> torch.Tensor:
        """[B, 1, N] -> continuous latents [B, D, N / hop] (for k-means init)."""
        return self.encoder(wav)

    @torch.no_grad()
    def encode(self, wav: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """[B, 1, N] -> int64 codes [B, N / hop, n_q]."""
        return self.quantizer.encode(self.encoder(wav), n_q)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, indices: list[int] | None = None) -> torch.Tensor:
        """int64 codes [B, T, C] of codebooks ``indices`` -> waveform [B, 1, T * hop]."""
        return self.decoder(self.quantizer.decode(codes, indices))
