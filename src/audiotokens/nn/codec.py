"""The convolutional RVQ codec model: conv encoder -> residual VQ -> conv decoder.

Two interchangeable encoders and decoders, picked by name in :class:`CodecConfig`:
``"waveform"`` (SEANet strided convs, :mod:`.seanet`) and ``"spectral"`` / ``"istft"``
(STFT-frame convs, :mod:`.spectral`). Either pair maps N samples (a multiple of the hop) to
N / hop latent frames and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .quantizer import ResidualVQ, VQConfig, VQOutput
from .seanet import SEANetConfig, SEANetDecoder, SEANetEncoder
from .spectral import ISTFTDecoder, SpectralConfig, SpectralEncoder

__all__ = ["ENCODERS", "DECODERS", "CodecConfig", "CodecOutput", "ConvCodec"]

ENCODERS = ("waveform", "spectral")
DECODERS = ("waveform", "istft")


@dataclass(frozen=True)
class CodecConfig:
    """Which ``encoder`` (one of :data:`ENCODERS`) and ``decoder`` (:data:`DECODERS`), the
    architecture each needs (``seanet`` for the waveform ones, ``spectral`` for the others;
    the default when left None) and the quantizer. Both sides must agree on the hop and on
    the latent dimension ``vq.dim``."""

    vq: VQConfig = field(default_factory=VQConfig)
    encoder: str = "waveform"
    decoder: str = "waveform"
    seanet: SEANetConfig | None = None
    spectral: SpectralConfig | None = None

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {list(ENCODERS)}, got {self.encoder!r}")
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {list(DECODERS)}, got {self.decoder!r}")
        for side in (self.encoder_net, self.decoder_net):
            if side.latent_dim != self.vq.dim:
                raise ValueError(f"quantizer dim {self.vq.dim} != latent_dim {side.latent_dim}")
        if self.encoder_net.hop_length != self.decoder_net.hop_length:
            raise ValueError(f"encoder hop {self.encoder_net.hop_length} != decoder hop "
                             f"{self.decoder_net.hop_length}")

    def _net(self, waveform: bool) -> SEANetConfig | SpectralConfig:
        if waveform:
            return self.seanet or SEANetConfig(latent_dim=self.vq.dim)
        return self.spectral or SpectralConfig(latent_dim=self.vq.dim)

    @property
    def encoder_net(self) -> SEANetConfig | SpectralConfig:
        """The encoder's architecture config."""
        return self._net(self.encoder == "waveform")

    @property
    def decoder_net(self) -> SEANetConfig | SpectralConfig:
        """The decoder's architecture config."""
        return self._net(self.decoder == "waveform")

    @property
    def hop_length(self) -> int:
        """Samples per latent frame."""
        return self.encoder_net.hop_length


@dataclass
class CodecOutput:
    """``audio`` [B, 1, N] reconstruction, the quantizer's :class:`VQOutput` (None when
    quantization was bypassed) and the continuous encoder ``latents`` [B, D, N / hop]."""

    audio: torch.Tensor
    vq: VQOutput | None
    latents: torch.Tensor


class ConvCodec(nn.Module):
    """Waveform [B, 1, N] (N a multiple of ``hop_length``) <-> codes [B, N / hop, C]."""

    def __init__(self, cfg: CodecConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.hop_length = cfg.hop_length
        enc, dec = cfg.encoder_net, cfg.decoder_net
        self.encoder: nn.Module = (SEANetEncoder(enc) if isinstance(enc, SEANetConfig)
                                   else SpectralEncoder(enc))
        self.quantizer = ResidualVQ(cfg.vq)
        self.decoder: nn.Module = (SEANetDecoder(dec) if isinstance(dec, SEANetConfig)
                                   else ISTFTDecoder(dec))

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
