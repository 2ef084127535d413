"""Long recordings: streaming, chunked encode with overlap and bounded memory.

The file is read block by block (soundfile), downmixed and resampled as a stream (soxr), and
encoded in chunks of ``chunk_seconds`` on the tokenizer's frame grid. Each chunk is encoded
with ``overlap_seconds`` of audio context on both sides and only its core frames are kept,
so a tokenizer whose receptive field fits in the overlap gives the whole-file tokens; larger
receptive fields (SSL attention, normalisation over the item) differ near chunk edges only.
Memory holds one chunk of audio plus the tokens, whatever the file's length.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .audio import _MP3_FRAME, AudioError, probe_audio, to_mono

if TYPE_CHECKING:
    from .audio import AudioInfo
    from .tokenizers.base import Tokenizer, TokenizerInfo, Tokens

__all__ = ["ChunkConfig", "hop_samples", "stream_audio", "encode_chunked", "encode_file"]

BLOCK_SECONDS = 10.0
_FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")  # may exceed 1.0: need a peak pass, as load_audio does


@dataclass(frozen=True)
class ChunkConfig:
    """Chunks of ``chunk_seconds`` (core audio per encode call) with ``overlap_seconds`` of
    context on each side; items longer than ``chunk_seconds`` are encoded this way."""

    chunk_seconds: float = 60.0
    overlap_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not self.chunk_seconds > 0 or not self.overlap_seconds >= 0:
            raise ValueError(f"chunk_seconds must be > 0 and overlap_seconds >= 0, got "
                             f"{self.chunk_seconds}, {self.overlap_seconds}")


def hop_samples(info: TokenizerInfo) -> int:
    """Samples per token frame (``sample_rate / frame_rate``); chunking needs an integer."""
    hop = info.sample_rate / info.frame_rate
    if abs(hop - round(hop)) > 1e-6:
        raise ValueError(f"tokenizer '{info.name}' has {hop:.3f} samples per frame; chunked "
                         "encode needs a whole number (raise --chunk-seconds to encode it whole)")
    return int(round(hop))


def stream_audio(path: str | Path, sample_rate: int, *, max_seconds: float,
                 block_seconds: float = BLOCK_SECONDS) -> Iterator[np.ndarray]:
    """Mono float32 blocks [n] at ``sample_rate`` from an audio file, read as a stream.

    The same checks as :func:`~audiotokens.audio.load_audio` raise :class:`AudioError`:
    header problems, a length over ``max_seconds``, NaN/inf samples, truncation. Float files
    get a first pass for their peak so loud ones are scaled down exactly like a whole load.
    """
    info = probe_audio(path, max_seconds=max_seconds)
    block = max(1, int(block_seconds * info.sample_rate))
    scale = 1.0
    if info.subtype in _FLOAT_SUBTYPES:
        peak = max((float(np.abs(to_mono(x)).max()) for x in _blocks(path, block, info)),
                   default=0.0)
        scale = 1.0 / peak if peak > 1.0 else 1.0
    resampler = None
    if info.sample_rate != sample_rate:
        import soxr

        resampler = soxr.ResampleStream(info.sample_rate, sample_rate, 1, dtype="float32",
                                        quality="HQ")
    for x in _blocks(path, block, info):
        mono = to_mono(x) if scale == 1.0 else (to_mono(x) * scale).astype(np.float32)
        yield mono if resampler is None else resampler.resample_chunk(mono, last=False)
    if resampler is not None:
        yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)


def _blocks(path: str | Path, block: int, info: AudioInfo) -> Iterator[np.ndarray]:
    """[n, channels] float32 blocks; NaN/inf and a stream shorter than its header raise."""
    import soundfile as sf

    read = 0
    try:
        with sf.SoundFile(str(path)) as f:
            while True:
                x = f.read(block, dtype="float32", always_2d=True)
                if not len(x):
                    break
                if not np.isfinite(x).all():
                    raise AudioError(path, "contains NaN or infinite samples")
                read += len(x)
                yield x
    except AudioError:
        raise
    except Exception as err:
        raise AudioError(path, f"truncated or corrupt audio data ({str(err)[:160]})") from None
    slack = 2 * _MP3_FRAME if info.format == "MP3" else 0  # mp3 frame counts are approximate
    if read + slack < info.frames:
        raise AudioError(path, f"truncated: header says {info.frames} frames, read {read}")


def encode_chunked(tok: Tokenizer, blocks: Iterable[np.ndarray],
                   config: ChunkConfig | None = None) -> Tokens:
    """Encode a mono signal at ``tok.info.sample_rate`` given as consecutive blocks [n];
    returns Tokens [T, C] stitched from chunks (see the module docstring)."""
    from .tokenizers.base import Tokens

    config = config or ChunkConfig()
    info = tok.info
    hop = hop_samples(info)
    core = max(1, round(config.chunk_seconds * info.frame_rate))
    context = math.ceil(config.overlap_seconds * info.frame_rate)
    parts: list[np.ndarray] = []
    window_samples = (core + 2 * context) * hop
    buffer = _Buffer(window_samples + int(BLOCK_SECONDS * info.sample_rate) + hop)
    frame = 0  # first frame of the next chunk's core
    for block in blocks:
        buffer.append(np.asarray(block, dtype=np.float32))
        while buffer.end >= (frame + core + context) * hop:
            first = max(frame - context, 0)
            window = buffer.view(first * hop, (frame + core + context) * hop)
            parts.append(_core(tok, window, frame - first, core))
            frame += core
            buffer.drop_before(max(frame - context, 0) * hop)
    first = max(frame - context, 0)
    tail = buffer.view(first * hop, buffer.end)
    if len(tail) or not parts:  # the rest, up to whatever frames the file ends with
        parts.append(_core(tok, tail, frame - first, None))
    return Tokens(np.concatenate(parts), info)


class _Buffer:
    """Samples ``[start, end)`` of a stream in one preallocated float32 array (grown only if
    a block is larger than planned), so a long file does not churn the allocator."""

    def __init__(self, capacity: int) -> None:
        self.data = np.zeros(capacity, np.float32)
        self.start = 0
        self.fill = 0

    @property
    def end(self) -> int:
        """Stream index one past the last buffered sample."""
        return self.start + self.fill

    def append(self, block: np.ndarray) -> None:
        if self.fill + len(block) > len(self.data):
            grown = np.zeros(self.fill + len(block), np.float32)
            grown[: self.fill] = self.data[: self.fill]
            self.data = grown
        self.data[self.fill: self.fill + len(block)] = block
        self.fill += len(block)

    def view(self, start: int, stop: int) -> np.ndarray:
        """Stream samples [start, stop) (a view; valid until the next append/drop)."""
        return self.data[start - self.start: stop - self.start]

    def drop_before(self, index: int) -> None:
        """Forget samples before stream index ``index``."""
        drop = index - self.start
        self.data[: self.fill - drop] = self.data[drop: self.fill]
        self.fill -= drop
        self.start = index


def _core(tok: Tokenizer, window: np.ndarray, skip: int, keep: int | None) -> np.ndarray:
    """Encode one window; its frames [skip, skip + keep) (to the end when keep is None)."""
    codes = tok.encode(window, tok.info.sample_rate).codes
    if keep is not None and len(codes) < skip + keep:
        raise ValueError(f"tokenizer '{tok.name}' gave {len(codes)} frames for a chunk that "
                         f"needs {skip + keep}; its frames are not on a fixed hop grid")
    return codes[skip: None if keep is None else skip + keep]


def encode_file(tok: Tokenizer, path: str | Path, config: ChunkConfig | None = None, *,
                max_seconds: float) -> Tokens:
    """Stream-encode the audio file ``path`` in chunks: Tokens [T, C] with bounded memory."""
    blocks = stream_audio(path, tok.info.sample_rate, max_seconds=max_seconds)
    return encode_chunked(tok, blocks, config)
