"""The unit vocoder's architecture as one frozen, JSON-serialisable dataclass."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..nn.spectral import SpectralConfig

__all__ = ["GENERATORS", "VocoderConfig", "default_upsample_rates", "default_stft_hop"]

GENERATORS = ("istft", "hifigan")

# Preferred stage strides, largest first (HiFi-GAN uses 8, 8, 2, 2 for hop 256).
_FACTORS = (8, 5, 4, 3, 2)


def default_upsample_rates(hop_length: int) -> tuple[int, ...]:
    """Split ``hop_length`` into upsampling strides, largest first: 320 -> (8, 5, 4, 2).

    Greedy over 8, 5, 4, 3, 2; a prime factor above 8 becomes its own stage.
    """
    if hop_length < 1:
        raise ValueError(f"hop_length must be >= 1, got {hop_length}")
    rates: list[int] = []
    rest = hop_length
    while rest > 1:
        factor = next((f for f in _FACTORS if rest % f == 0), None)
        if factor is None:  # smallest prime factor > 8
            factor = next(p for p in range(9, rest + 1) if rest % p == 0)
        rates.append(factor)
        rest //= factor
    return tuple(sorted(rates, reverse=True)) or (1,)


def default_stft_hop(hop_length: int) -> int:
    """STFT frame hop of the iSTFT generator: half the token hop when it is even (two STFT
    frames per token, FFT of 2 token frames: 320 -> 160, 640-point FFT), else the hop."""
    if hop_length < 1:
        raise ValueError(f"hop_length must be >= 1, got {hop_length}")
    return hop_length // 2 if hop_length % 2 == 0 else hop_length


@dataclass(frozen=True)
class VocoderConfig:
    """Architecture of :class:`~audiotokens.vocoder.model.UnitVocoder`.

    Tokens: ``vocab_sizes`` / ``codebook_names`` (one per codebook, e.g. ``layer7``) at
    ``sample_rate`` Hz with ``hop_length`` samples per token frame. ``embed_dim``: size of each
    codebook's embedding table. Generator (HiFi-GAN style): ``channels`` after the pre-net,
    halved after each of the ``upsample_rates`` stages (product must equal ``hop_length``;
    empty = derived by :func:`default_upsample_rates`), each stage followed by one
    multi-receptive-field block of ``resblock_kernels`` x ``resblock_dilations``.
    ``layer_dropout``: probability per codebook of being dropped for a training batch (at
    least one is always kept). ``speaker_dim`` > 0 adds a speaker vector input (see
    :func:`~audiotokens.vocoder.features.speaker_vector`). ``adversarial`` trains with the
    multi-scale STFT discriminator. ``continuous_input_dim`` > 0 turns the model into the
    continuous oracle: it takes float log-mel frames [B, T, continuous_input_dim] instead of
    token ids (same generator, same training).
    """

    vocab_sizes: tuple[int, ...]
    codebook_names: tuple[str, ...]
    sample_rate: int
    hop_length: int
    embed_dim: int = 128
    generator: str = "istft"
    backbone_blocks: int = 2
    stft_hop: int = 0
    upsample_rates: tuple[int, ...] = ()
    channels: int = 128
    resblock_kernels: tuple[int, ...] = (3, 7)
    resblock_dilations: tuple[int, ...] = (1, 3)
    layer_dropout: float = 0.3
    speaker_dim: int = 0
    adversarial: bool = False
    continuous_input_dim: int = 0

    def __post_init__(self) -> None:
        def fix(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        fix("vocab_sizes", tuple(int(v) for v in self.vocab_sizes))
        fix("codebook_names", tuple(str(n) for n in self.codebook_names))
        fix("resblock_kernels", tuple(int(k) for k in self.resblock_kernels))
        fix("resblock_dilations", tuple(int(d) for d in self.resblock_dilations))
        if not self.vocab_sizes or any(v < 1 for v in self.vocab_sizes):
            raise ValueError(f"vocab_sizes must be non-empty positive ints, got {self.vocab_sizes}")
        if not self.codebook_names:
            fix("codebook_names", tuple(f"q{i}" for i in range(len(self.vocab_sizes))))
        if len(self.codebook_names) != len(self.vocab_sizes):
            raise ValueError(f"codebook_names {self.codebook_names} and vocab_sizes "
                             f"{self.vocab_sizes} must have the same length")
        if len(set(self.codebook_names)) != len(self.codebook_names):
            raise ValueError(f"codebook_names must be unique, got {self.codebook_names}")
        if self.sample_rate <= 0 or self.hop_length <= 0:
            raise ValueError(f"sample_rate and hop_length must be positive, got "
                             f"{self.sample_rate} and {self.hop_length}")
        if not self.upsample_rates:
            fix("upsample_rates", default_upsample_rates(self.hop_length))
        fix("upsample_rates", tuple(int(r) for r in self.upsample_rates))
        if self.generator not in GENERATORS:
            raise ValueError(f"generator must be one of {list(GENERATORS)}, "
                             f"got {self.generator!r}")
        if not self.stft_hop:
            fix("stft_hop", default_stft_hop(self.hop_length))
        if self.stft_hop < 1 or self.hop_length % self.stft_hop:
            raise ValueError(f"stft_hop {self.stft_hop} must be a positive divisor of "
                             f"hop_length {self.hop_length}, e.g. "
                             f"{default_stft_hop(self.hop_length)}")
        if self.backbone_blocks < 0:
            raise ValueError(f"backbone_blocks must be >= 0, got {self.backbone_blocks}")
        if any(r < 1 for r in self.upsample_rates) or math.prod(self.upsample_rates) != (
            self.hop_length
        ):
            raise ValueError(
                f"upsample_rates {self.upsample_rates} must be positive ints whose product "
                f"equals hop_length {self.hop_length}, e.g. "
                f"{default_upsample_rates(self.hop_length)}"
            )
        for name in ("embed_dim", "channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.generator == "hifigan" and self.channels < 2 ** len(self.upsample_rates):
            raise ValueError(f"channels {self.channels} is halved {len(self.upsample_rates)} "
                             f"times; use at least {2 ** len(self.upsample_rates)}")
        if not self.resblock_kernels or any(k < 1 or k % 2 == 0 for k in self.resblock_kernels):
            raise ValueError(f"resblock_kernels must be odd ints >= 1, got "
                             f"{self.resblock_kernels}, e.g. (3, 7, 11)")
        if not self.resblock_dilations or any(d < 1 for d in self.resblock_dilations):
            raise ValueError(f"resblock_dilations must be ints >= 1, got "
                             f"{self.resblock_dilations}, e.g. (1, 3, 5)")
        if not 0.0 <= self.layer_dropout < 1.0:
            raise ValueError(f"layer_dropout must be in [0, 1), got {self.layer_dropout}")
        if self.speaker_dim < 0 or self.continuous_input_dim < 0:
            raise ValueError("speaker_dim and continuous_input_dim must be >= 0 (0 = off)")

    @property
    def n_codebooks(self) -> int:
        """Number of codebooks C."""
        return len(self.vocab_sizes)

    @property
    def default_lr(self) -> float:
        """Adam learning rate of training unless told: 2e-4 for HiFi-GAN (its original
        setting), 6e-3 for the iSTFT generator (the best of 2e-4..1e-2 in 600-1500-step CPU
        runs on mel-kmeans tokens, ``benchmarks/vocoder.py``; 1e-3 left it at STOI 0.63
        where 6e-3 reached 0.68 after 1500 steps of the default size)."""
        return 2e-4 if self.generator == "hifigan" else 6e-3

    @property
    def frame_rate(self) -> float:
        """Token frames per second."""
        return self.sample_rate / self.hop_length

    def spectral(self) -> SpectralConfig:
        """The iSTFT generator's architecture (:class:`~audiotokens.nn.spectral.SpectralConfig`,
        whose ``latent_dim`` is the frame vector size ``embed_dim``)."""
        from ..nn.spectral import SpectralConfig

        return SpectralConfig(hop_length=self.hop_length, stft_hop=self.stft_hop,
                              dim=self.channels, n_blocks=self.backbone_blocks,
                              latent_dim=self.embed_dim)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VocoderConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise listing the allowed ones."""
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"unknown vocoder option(s) {unknown}; allowed: {sorted(allowed)}")
        return cls(**data)
