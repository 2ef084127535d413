"""Classical (non-neural) compression tokens: Codec2 frames and 8-bit mu-law samples.

**Codec2** (8 kHz, via pycodec2). Each codec frame is a packed bit string of
``bits_per_frame`` bits (MSB first). Those bits are cut, in order, into
``ceil(bits_per_frame / max_bits)`` fields whose widths differ by at most one bit; field
``c`` of width ``w_c`` is codebook ``c`` with ``2 ** w_c`` ids. Widths sum to
``bits_per_frame``, so ``info.bitrate_bps`` is exactly the nominal bitrate. With the default
``max_bits=8``:

=====  =========  ===========  =====================================  ===========
mode   frame      bits/frame   codebook widths (bits)                 frames/s
=====  =========  ===========  =====================================  ===========
3200   20 ms      64           8 x 8                                  50
2400   20 ms      48           6 x 8                                  50
1600   40 ms      64           8 x 8                                  25
1400   40 ms      56           7 x 8                                  25
1300   40 ms      52           8, 8, 8, 7, 7, 7, 7                    25
1200   40 ms      48           6 x 8                                  25
700C   40 ms      28           7, 7, 7, 7                             25
=====  =========  ===========  =====================================  ===========

**mu-law**: one token per sample, 256 ids (ITU-style companding with mu = 255, ids
``round((F(x) + 1) / 2 * 255)``), one codebook, at a configurable ``sample_rate`` (default
16000 Hz -> 16000 frames/s x 8 bits = 128 kbps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..audio import resample
from .base import Tokenizer, TokenizerError, TokenizerInfo, Tokens
from .hf_codecs import check_signal

__all__ = [
    "CODEC2_MODES",
    "Codec2Config",
    "Codec2Tokenizer",
    "MuLawConfig",
    "MuLawTokenizer",
    "field_widths",
    "mulaw_encode",
    "mulaw_decode",
]

CODEC2_MODES = ("700C", "1200", "1300", "1400", "1600", "2400", "3200")
CODEC2_SAMPLE_RATE = 8000


def field_widths(n_bits: int, max_bits: int) -> tuple[int, ...]:
    """Split ``n_bits`` into ceil(n_bits / max_bits) widths differing by at most one."""
    n_fields = math.ceil(n_bits / max_bits)
    base, extra = divmod(n_bits, n_fields)
    return tuple(base + 1 if i < extra else base for i in range(n_fields))


@dataclass
class Codec2Config:
    """``mode``: one of CODEC2_MODES (bits/s; ints like 3200 or 700 are accepted);
    ``max_bits``: widest codebook in bits (1..16)."""

    mode: str = "3200"
    max_bits: int = 8

    def __post_init__(self) -> None:
        mode = str(self.mode).upper()
        mode = "700C" if mode == "700" else mode
        if mode not in CODEC2_MODES:
            raise ValueError(f"codec2 mode must be one of {CODEC2_MODES}, got {self.mode!r}")
        self.mode = mode
        if isinstance(self.max_bits, bool) or not isinstance(self.max_bits, int) or not (
            1 <= self.max_bits <= 16
        ):
            raise ValueError(f"max_bits must be an int in [1, 16], got {self.max_bits!r}")


class Codec2Tokenizer(Tokenizer):
    """Codec2 frames as tokens (8 kHz speech codec, 700-3200 bps); decodes back to audio."""

    name = "codec2"
    Config: ClassVar[type] = Codec2Config

    def _codec(self):  # a fresh codec per call: Codec2 keeps state between frames
        from ..extras import missing

        if (message := missing("codec2", "is unavailable")) is not None:
            raise TokenizerError(message)
        import pycodec2

        return pycodec2.Codec2(700 if self.config.mode == "700C" else int(self.config.mode))

    @property
    def _geometry(self) -> tuple[int, int, int]:
        """(samples per frame, bits per frame, bytes per frame)."""
        c = self._codec()
        return c.samples_per_frame(), c.bits_per_frame(), c.bytes_per_frame()

    @property
    def widths(self) -> tuple[int, ...]:
        """Bit width of each codebook, in frame bit order."""
        return field_widths(self._geometry[1], self.config.max_bits)

    @property
    def info(self) -> TokenizerInfo:
        spf, _, _ = self._geometry
        return TokenizerInfo(
            name=self.name, kind="codec", sample_rate=CODEC2_SAMPLE_RATE,
            frame_rate=CODEC2_SAMPLE_RATE / spf, vocab_sizes=tuple(2**w for w in self.widths),
            codebook_names=tuple(f"f{i}" for i in range(len(self.widths))),
            source=f"codec2 {self.config.mode}", has_decoder=True,
        )

    def encode(self, samples: np.ndarray, sample_rate: int) -> Tokens:
        """Mono float32 [N] -> Tokens [ceil(N_8k / samples_per_frame), C] int64."""
        x = resample(check_signal(samples), sample_rate, CODEC2_SAMPLE_RATE)
        spf, n_bits, _ = self._geometry
        n_frames = math.ceil(len(x) / spf)
        pcm = np.zeros(n_frames * spf, dtype=np.int16)
        pcm[: len(x)] = np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)
        codec = self._codec()
        packed = b"".join(codec.encode(frame) for frame in pcm.reshape(n_frames, spf))
        bits = np.unpackbits(np.frombuffer(packed, dtype=np.uint8)).reshape(n_frames, -1)
        return Tokens(_bits_to_fields(bits[:, :n_bits], self.widths), self.info)

    def decode(self, tokens: Tokens) -> np.ndarray:
        """Tokens [T, C] -> float32 samples [T * samples_per_frame] at 8 kHz."""
        spf, n_bits, n_bytes = self._geometry
        _check_tokens(tokens, self.info)
        bits = np.zeros((tokens.n_frames, n_bytes * 8), dtype=np.uint8)
        bits[:, :n_bits] = _fields_to_bits(tokens.codes, self.widths)
        packed = np.packbits(bits, axis=1)
        codec = self._codec()
        pcm = [codec.decode(row.tobytes()) for row in packed]
        out = np.concatenate(pcm) if pcm else np.zeros(0, dtype=np.int16)
        return (out.astype(np.float32) / 32768.0)[: tokens.n_frames * spf]


def _bits_to_fields(bits: np.ndarray, widths: tuple[int, ...]) -> np.ndarray:
    """[T, sum(widths)] 0/1 -> [T, len(widths)] int64, MSB first within each field."""
    out = np.zeros((bits.shape[0], len(widths)), dtype=np.int64)
    start = 0
    for c, w in enumerate(widths):
        weights = 1 << np.arange(w - 1, -1, -1, dtype=np.int64)
        out[:, c] = bits[:, start : start + w].astype(np.int64) @ weights
        start += w
    return out


def _fields_to_bits(codes: np.ndarray, widths: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`_bits_to_fields`: [T, C] ids -> [T, sum(widths)] uint8 bits."""
    cols = []
    for c, w in enumerate(widths):
        shifts = np.arange(w - 1, -1, -1, dtype=np.int64)
        cols.append(((codes[:, c : c + 1] >> shifts) & 1).astype(np.uint8))
    return np.concatenate(cols, axis=1)


def _check_tokens(tokens: Tokens, info: TokenizerInfo) -> None:
    """One item whose codebooks and vocab sizes match ``info``, ids in range."""
    if tokens.is_batch:
        raise ValueError("decode takes one item [T, C]; decode tokens.items() one by one")
    if tokens.info.vocab_sizes != info.vocab_sizes:
        raise ValueError(f"tokens have vocab sizes {tokens.info.vocab_sizes}; this "
                         f"{info.name} tokenizer ({info.source}) expects {info.vocab_sizes}")
    tokens.validate()


# -- mu-law -------------------------------------------------------------------------------
MU = 255


def mulaw_encode(x: np.ndarray) -> np.ndarray:
    """Float samples [N] in [-1, 1] (clipped) -> int64 ids [N] in [0, 255]."""
    x = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)
    return np.floor((y + 1.0) / 2.0 * MU + 0.5).astype(np.int64)


def mulaw_decode(ids: np.ndarray) -> np.ndarray:
    """int ids [N] in [0, 255] -> float32 samples [N] in [-1, 1]."""
    y = 2.0 * np.asarray(ids, dtype=np.float64) / MU - 1.0
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(MU)) / MU).astype(np.float32)


@dataclass
class MuLawConfig:
    """``sample_rate``: rate the audio is resampled to before companding (Hz, 1000..192000)."""

    sample_rate: int = 16000

    def __post_init__(self) -> None:
        if isinstance(self.sample_rate, bool) or not isinstance(self.sample_rate, int) or not (
            1000 <= self.sample_rate <= 192000
        ):
            raise ValueError(f"sample_rate must be an int in [1000, 192000], got "
                             f"{self.sample_rate!r}")


class MuLawTokenizer(Tokenizer):
    """8-bit mu-law: one token per sample, 256 ids, 1 codebook (8 * sample_rate bits/s)."""

    name = "mulaw"
    Config: ClassVar[type] = MuLawConfig

    @property
    def info(self) -> TokenizerInfo:
        sr = self.config.sample_rate
        return TokenizerInfo(name=self.name, kind="sample", sample_rate=sr, frame_rate=float(sr),
                             vocab_sizes=(MU + 1,), codebook_names=("mulaw",),
                             source=f"mu-law mu={MU}", has_decoder=True)

    def encode(self, samples: np.ndarray, sample_rate: int) -> Tokens:
        """Mono float32 [N] -> Tokens [N_resampled, 1] int64 ids in [0, 255]."""
        x = resample(check_signal(samples), sample_rate, self.config.sample_rate)
        return Tokens(mulaw_encode(x)[:, None], self.info)

    def decode(self, tokens: Tokens) -> np.ndarray:
        """Tokens [T, 1] -> float32 samples [T] at ``sample_rate``."""
        _check_tokens(tokens, self.info)
        return mulaw_decode(tokens.codes[:, 0])
