"""Neural codec tokens through transformers: EnCodec, DAC and Mimi (hub id or local folder).

One tokenizer class drives three small backends (how to read the model's geometry, encode
and decode). Tokens are the codec's RVQ codes, ``[T, C]`` with ``C`` the number of
quantizers in use; ``T = ceil(N / hop)`` where ``N`` is the input length at the codec's
sample rate (the input is zero-padded to a whole number of frames), and ``decode`` returns
``T * hop`` samples, so decoded audio is at most one hop longer than the input.

Bitrate tiers (DASB-style) are derived from each model's own geometry, with
``bits_per_codebook = frame_rate * log2(codebook_size)``:

- ``low``: as many codebooks as fit in 1.5 kbps (at least the model's minimum);
- ``medium``: as many as fit in 6 kbps, but at most half the model's codebooks;
- ``high``: all of the model's codebooks.

For ``facebook/encodec_24khz`` (75 Hz, 1024 codes) that is 2 / 8 / 32 codebooks = 1.5 / 6 /
24 kbps; for ``descript/dac_16khz`` (50 Hz, 12 codebooks) 3 / 6 / 12 = 1.5 / 3 / 6 kbps; for
``kyutai/mimi`` (12.5 Hz, 2048 codes, 32 codebooks) 10 / 16 / 32 = 1.375 / 2.2 / 4.4 kbps.
``n_codebooks`` overrides the tier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..audio import resample
from ..tiers import BITRATE_TIERS, LOW_MAX_BPS
from .base import Tokenizer, TokenizerError, TokenizerInfo, Tokens

__all__ = [
    "BITRATE_TIERS",
    "CodecGeometry",
    "HFCodecConfig",
    "HFCodecTokenizer",
    "EncodecTokenizer",
    "DacTokenizer",
    "MimiTokenizer",
    "check_signal",
    "codebooks_for_tier",
]

LOW_BPS = LOW_MAX_BPS
MEDIUM_BPS = 6000.0  # the medium tier's target: the top of DASB's 3-6 kbps


@dataclass(frozen=True)
class CodecGeometry:
    """What the tokenizer needs from a codec model's config (hop in samples per frame)."""

    sample_rate: int
    hop_length: int
    codebook_size: int
    max_codebooks: int
    min_codebooks: int = 1

    @property
    def frame_rate(self) -> float:
        """Token frames per second."""
        return self.sample_rate / self.hop_length

    @property
    def bits_per_codebook(self) -> float:
        """Bits per second carried by one codebook."""
        return self.frame_rate * math.log2(self.codebook_size)


def codebooks_for_tier(tier: str, geometry: CodecGeometry) -> int:
    """Number of codebooks for a bitrate tier ("low" | "medium" | "high"), see module doc."""
    g = geometry
    low = min(g.max_codebooks, max(g.min_codebooks, math.floor(LOW_BPS / g.bits_per_codebook)))
    match tier:
        case "low":
            return low
        case "medium":
            fit = math.floor(MEDIUM_BPS / g.bits_per_codebook)
            return max(low, min(fit, g.max_codebooks // 2))
        case "high":
            return g.max_codebooks
        case _:
            raise ValueError(f"bitrate must be one of {BITRATE_TIERS}, got {tier!r}")


@dataclass
class HFCodecConfig:
    """``model``: hub id or local folder; ``bitrate`` tier, or an explicit ``n_codebooks``."""

    model: str = ""
    bitrate: str = "medium"
    n_codebooks: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"model must be a hub id or a local folder, got {self.model!r}")
        if self.bitrate not in BITRATE_TIERS:
            raise ValueError(f"bitrate must be one of {BITRATE_TIERS}, got {self.bitrate!r}")
        if self.n_codebooks is not None and (
            isinstance(self.n_codebooks, bool) or int(self.n_codebooks) != self.n_codebooks
            or self.n_codebooks < 1
        ):
            raise ValueError(
                f"n_codebooks must be a positive int or None, got {self.n_codebooks!r}"
            )


# -- backends: geometry, encode [B, 1, N] -> [B, C, T], decode [B, C, T] -> [B, N] ----------
class _Encodec:
    model_type = "encodec"
    model_class = "EncodecModel"

    @staticmethod
    def geometry(cfg: Any) -> CodecGeometry:
        if cfg.chunk_length_s is not None or cfg.normalize or cfg.audio_channels != 1:
            raise TokenizerError(
                "only mono, unchunked, unnormalised EnCodec models (the 24 kHz class) are "
                "supported: chunked/normalised ones need per-chunk scales that tokens do not carry"
            )
        return CodecGeometry(cfg.sampling_rate, cfg.hop_length, cfg.codebook_size,
                             cfg.num_quantizers)

    @staticmethod
    def encode(model: Any, x: Any, mask: Any, n: int, g: CodecGeometry) -> Any:
        # the model's public encode only takes bandwidths from config.target_bandwidths; the
        # quantizer takes any bandwidth and keeps floor(bandwidth / bits_per_codebook) books
        embeddings = model.encoder(x * mask[:, None])
        bandwidth = (n + 0.5) * g.bits_per_codebook / 1000.0
        return model.quantizer.encode(embeddings, bandwidth).transpose(0, 1)

    @staticmethod
    def decode(model: Any, codes: Any) -> Any:
        return model.decode(codes[None], [None], return_dict=True).audio_values[:, 0]


class _Dac:
    model_type = "dac"
    model_class = "DacModel"

    @staticmethod
    def geometry(cfg: Any) -> CodecGeometry:
        return CodecGeometry(cfg.sampling_rate, cfg.hop_length, cfg.codebook_size,
                             cfg.n_codebooks)

    @staticmethod
    def encode(model: Any, x: Any, mask: Any, n: int, g: CodecGeometry) -> Any:
        return model.encode(x, n_quantizers=n, return_dict=True).audio_codes

    @staticmethod
    def decode(model: Any, codes: Any) -> Any:
        return model.decode(audio_codes=codes, return_dict=True).audio_values


class _Mimi:
    model_type = "mimi"
    model_class = "MimiModel"

    @staticmethod
    def geometry(cfg: Any) -> CodecGeometry:
        return CodecGeometry(cfg.sampling_rate, cfg.frame_size, cfg.codebook_size,
                             cfg.num_quantizers, max(1, cfg.num_semantic_quantizers))

    @staticmethod
    def encode(model: Any, x: Any, mask: Any, n: int, g: CodecGeometry) -> Any:
        return model.encode(x, padding_mask=mask[:, None], num_quantizers=n).audio_codes

    @staticmethod
    def decode(model: Any, codes: Any) -> Any:
        return model.decode(codes).audio_values[:, 0]


class HFCodecTokenizer(Tokenizer):
    """RVQ codes of a transformers codec model; the model loads lazily on first use."""

    Config: ClassVar[type] = HFCodecConfig
    backend: ClassVar[Any] = None

    def __init__(self, config: HFCodecConfig, name: str | None = None) -> None:
        super().__init__(config, name)
        self._hf_config: Any = None
        self._model: Any = None

    # -- loading ---------------------------------------------------------------------------
    def _load_config(self) -> Any:
        if self._hf_config is None:
            from transformers import AutoConfig

            try:
                cfg = AutoConfig.from_pretrained(self.config.model)
            except (OSError, ValueError) as err:
                raise TokenizerError(
                    f"{self.config.model}: cannot load the {self.backend.model_type} model config "
                    f"(not a local model folder, and not downloadable: {_first_line(err)})"
                ) from None
            if cfg.model_type != self.backend.model_type:
                raise TokenizerError(
                    f"{self.config.model}: is a '{cfg.model_type}' model, not "
                    f"'{self.backend.model_type}'; load it with its own tokenizer name"
                )
            self._hf_config = cfg
        return self._hf_config

    @property
    def geometry(self) -> CodecGeometry:
        """Sample rate, hop, codebook size and codebook count of the model."""
        return self.backend.geometry(self._load_config())

    @property
    def n_codebooks(self) -> int:
        """Codebooks in use: ``n_codebooks`` if set, else the bitrate tier's count."""
        g = self.geometry
        n = self.config.n_codebooks
        if n is None:
            return codebooks_for_tier(self.config.bitrate, g)
        if not g.min_codebooks <= n <= g.max_codebooks:
            raise ValueError(f"n_codebooks must be in [{g.min_codebooks}, {g.max_codebooks}] "
                             f"for {self.config.model}, got {n}")
        return int(n)

    def _load_model(self) -> Any:
        if self._model is None:
            import transformers

            model_cls = getattr(transformers, self.backend.model_class)
            try:
                model = model_cls.from_pretrained(self.config.model, config=self._load_config())
            except (OSError, ValueError) as err:
                raise TokenizerError(
                    f"{self.config.model}: cannot load {self.backend.model_class} weights "
                    f"({_first_line(err)})"
                ) from None
            self._model = model.eval().to(self.device)
        return self._model

    def to(self, device: str) -> HFCodecTokenizer:
        """Move the model (now, or when it loads) to ``device``."""
        self.device = device
        if self._model is not None:
            self._model.to(device)
        return self

    # -- contract --------------------------------------------------------------------------
    @property
    def info(self) -> TokenizerInfo:
        g = self.geometry
        n = self.n_codebooks
        return TokenizerInfo(
            name=self.name, kind="codec", sample_rate=g.sample_rate, frame_rate=g.frame_rate,
            vocab_sizes=(g.codebook_size,) * n, codebook_names=tuple(f"q{i}" for i in range(n)),
            source=self.config.model, has_decoder=True, fitted=True,
        )

    def encode(self, samples: np.ndarray, sample_rate: int) -> Tokens:
        """Mono float32 [N] at ``sample_rate`` -> Tokens [ceil(N' / hop), C] int64, where N'
        is the length at the codec's rate."""
        return self.encode_batch([samples], sample_rate).items()[0]

    def encode_batch(self, batch: list[np.ndarray], sample_rate: int) -> Tokens:
        """Mono signals -> Tokens [B, T, C] with lengths; one padded forward for the batch."""
        import torch

        if not batch:
            raise ValueError("encode_batch needs at least one signal")
        g = self.geometry
        signals = [resample(check_signal(x), sample_rate, g.sample_rate) for x in batch]
        frames = [max(1, math.ceil(len(s) / g.hop_length)) for s in signals]
        width = max(frames) * g.hop_length
        x = torch.zeros(len(signals), 1, width)
        mask = torch.zeros(len(signals), width, dtype=torch.bool)
        for i, s in enumerate(signals):
            x[i, 0, : len(s)] = torch.from_numpy(s)
            mask[i, : len(s)] = True
        model = self._load_model()
        with torch.no_grad():
            codes = self.backend.encode(model, x.to(self.device), mask.to(self.device),
                                        self.n_codebooks, g)
        codes = codes.transpose(1, 2).cpu().numpy()[:, : max(frames)]
        for i, n in enumerate(frames):
            codes[i, n:] = 0
        return Tokens(codes, self.info, np.asarray(frames))

    def decode(self, tokens: Tokens) -> np.ndarray:
        """Tokens [T, C] -> float32 samples [T * hop] at ``info.sample_rate``."""
        import torch

        if tokens.is_batch:
            raise ValueError("decode takes one item [T, C]; decode tokens.items() one by one")
        info = self.info
        if tokens.info.n_codebooks != info.n_codebooks or tokens.n_frames == 0:
            raise ValueError(f"tokens have shape {tokens.codes.shape}; this {self.name} "
                             f"tokenizer decodes [T >= 1, {info.n_codebooks}]")
        tokens.validate()
        codes = torch.from_numpy(tokens.codes.T.copy())[None].to(self.device)
        model = self._load_model()
        with torch.no_grad():
            audio = self.backend.decode(model, codes)
        out = audio[0].float().cpu().numpy()
        return out[: tokens.n_frames * self.geometry.hop_length].astype(np.float32)


@dataclass
class EncodecConfig(HFCodecConfig):
    """EnCodec options (default model: facebook/encodec_24khz)."""

    model: str = "facebook/encodec_24khz"


@dataclass
class DacConfig(HFCodecConfig):
    """DAC options (default model: descript/dac_16khz)."""

    model: str = "descript/dac_16khz"


@dataclass
class MimiConfig(HFCodecConfig):
    """Mimi options (default model: kyutai/mimi)."""

    model: str = "kyutai/mimi"


class EncodecTokenizer(HFCodecTokenizer):
    """EnCodec RVQ codes (transformers ``EncodecModel``)."""

    name = "encodec"
    Config = EncodecConfig
    backend = _Encodec


class DacTokenizer(HFCodecTokenizer):
    """Descript Audio Codec RVQ codes (transformers ``DacModel``)."""

    name = "dac"
    Config = DacConfig
    backend = _Dac


class MimiTokenizer(HFCodecTokenizer):
    """Kyutai Mimi codes, semantic codebook first (transformers ``MimiModel``)."""

    name = "mimi"
    Config = MimiConfig
    backend = _Mimi


def check_signal(samples: np.ndarray) -> np.ndarray:
    """Validate a mono signal: 1-D, non-empty, finite -> float32 [N]."""
    x = np.asarray(samples)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"expected mono samples [N] with N >= 1, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("samples contain NaN or infinite values")
    return x.astype(np.float32, copy=False)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:200]
