"""Audio I/O: read any soundfile format, downmix to mono, resample with soxr, validate.

Every problem with an input file is raised as one :class:`AudioError` that names the file and
the cause, so callers (CLI, corpus encoders) can report it in one line and move on.
:func:`probe_audio` does every check that needs only the header (and, for compressed formats,
one seek to the last frames), so corpus scans can vet thousands of files without decoding.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "Audio",
    "AudioError",
    "AudioInfo",
    "load_audio",
    "probe_audio",
    "resample",
    "to_mono",
    "save_audio",
]

MAX_CHANNELS = 8
DEFAULT_MAX_SECONDS = 3600.0
_UNKNOWN_DATA_SIZES = (0, 0xFFFFFFFF)  # streaming writers leave the RIFF data size unset
_PCM_BYTES = {"PCM_U8": 1, "PCM_S8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4,
              "DOUBLE": 8, "ULAW": 1, "ALAW": 1}  # bytes per sample of uncompressed subtypes
_MP3_FRAME = 1152  # samples per MPEG layer III frame: frame counts of mp3 may be off by one


class AudioError(ValueError):
    """A file could not be used as audio. ``str(err)`` is one line: ``<path>: <reason>``."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class Audio:
    """Mono float32 samples in [-1, 1]; ``samples`` has shape [N]."""

    samples: np.ndarray
    sample_rate: int
    path: str = ""

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class AudioInfo:
    """What the header of a vetted audio file says; ``frames`` per channel, ``duration`` in s."""

    path: str
    sample_rate: int
    frames: int
    channels: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average channels: [N] or [N, channels] -> [N] float32."""
    if samples.ndim == 1:
        return samples.astype(np.float32, copy=False)
    return samples.mean(axis=1, dtype=np.float64).astype(np.float32)


def resample(samples: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """Resample a mono [N] signal with soxr (high quality); a no-op when the rates match."""
    if sample_rate <= 0 or target_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {sample_rate} -> {target_rate}")
    if sample_rate == target_rate or len(samples) == 0:
        return samples.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(samples.astype(np.float32, copy=False), sample_rate, target_rate, "HQ")


def _peak_safe(samples: np.ndarray) -> np.ndarray:
    """Scale down only if the signal clips (float files may exceed 1.0); never amplify."""
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    if peak > 1.0:
        samples = samples / peak
    return samples.astype(np.float32, copy=False)


def _wav_data_bytes(path: Path) -> tuple[int, int] | None:
    """(declared, present) bytes of a RIFF/RIFX WAVE ``data`` chunk, or None if unknown.

    None for other containers (RF64, W64, non-WAV), a missing ``data`` chunk (libsndfile then
    decides) or a size left unset by a streaming writer.
    """
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return None
        order = "<" if head[:4] == b"RIFF" else ">"
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            (chunk_size,) = struct.unpack(order + "I", chunk[4:8])
            if chunk[:4] == b"data":
                if chunk_size in _UNKNOWN_DATA_SIZES:
                    return None
                return chunk_size, size - pos - 8
            pos += 8 + chunk_size + (chunk_size & 1)
    return None


def _check_tail(path: Path, info_frames: int) -> None:
    """Seek to the last frames and read them: a truncated FLAC/MP3 fails or comes back short."""
    import soundfile as sf

    want = min(info_frames, 64)
    try:
        with sf.SoundFile(str(path)) as f:
            f.seek(info_frames - want)
            got = len(f.read(want, dtype="float32", always_2d=True))
    except Exception as err:
        raise AudioError(path, f"truncated or corrupt: cannot read its last frames "
                               f"({_short(err)})") from None
    if got < want:
        raise AudioError(path, f"truncated: header says {info_frames} frames, data ends earlier")


def probe_audio(path: str | Path, *, max_seconds: float = DEFAULT_MAX_SECONDS) -> AudioInfo:
    """Vet a file from its header without decoding it; returns its :class:`AudioInfo`.

    Raises :class:`AudioError` (naming the file) when it is missing, a directory, 0 bytes,
    not audio, has 0 frames, more than ``MAX_CHANNELS`` channels, a length over
    ``max_seconds`` or a WAV ``data`` chunk / compressed stream shorter than its header says.
    """
    import soundfile as sf

    p = Path(path)
    if not p.exists():
        raise AudioError(p, "file not found")
    if p.is_dir():
        raise AudioError(p, "is a directory, not an audio file")
    if p.stat().st_size == 0:
        raise AudioError(p, "file is empty (0 bytes)")
    try:
        info = sf.info(str(p))
    except Exception as err:  # soundfile raises LibsndfileError / RuntimeError variants
        raise AudioError(p, f"not a readable audio file ({_short(err)})") from None
    if info.channels < 1 or info.channels > MAX_CHANNELS:
        raise AudioError(p, f"unsupported channel count {info.channels} (1..{MAX_CHANNELS})")
    if info.samplerate <= 0:
        raise AudioError(p, f"invalid sample rate {info.samplerate}")
    frames = int(info.frames)
    data = _wav_data_bytes(p) if info.format in ("WAV", "WAVEX") else None
    declared_frames = frames
    sample_bytes = _PCM_BYTES.get(str(info.subtype))
    if data is not None and sample_bytes is not None:
        declared_frames = max(frames, data[0] // (sample_bytes * info.channels))
    if declared_frames / info.samplerate > max_seconds:
        seconds = declared_frames / info.samplerate
        raise AudioError(p, f"too long: {seconds:.0f} s > max {max_seconds:.0f} s")
    if data is not None and data[1] < data[0]:
        raise AudioError(p, f"truncated: header declares {data[0]} bytes of audio data, "
                            f"only {data[1]} present ({100 * data[1] / data[0]:.0f}%)")
    if frames <= 0:
        raise AudioError(p, "no audio samples (header is valid but holds 0 frames)")
    if data is None and info.format not in ("WAV", "WAVEX", "RAW"):
        _check_tail(p, frames)
    return AudioInfo(path=str(p), sample_rate=int(info.samplerate), frames=frames,
                     channels=int(info.channels), format=str(info.format),
                     subtype=str(info.subtype))


def load_audio(
    path: str | Path,
    sample_rate: int | None = None,
    *,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    min_samples: int = 1,
) -> Audio:
    """Read an audio file as mono float32 [N], resampled to ``sample_rate`` (Hz) when given.

    Raises :class:`AudioError` (naming the file) for a missing, empty, truncated or non-audio
    file, NaN/inf samples, no samples, too many channels or a length over ``max_seconds``
    (checked from the header before any decoding, see :func:`probe_audio`).
    """
    import soundfile as sf

    p = Path(path)
    info = probe_audio(p, max_seconds=max_seconds)
    try:
        data, file_rate = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as err:
        raise AudioError(p, f"truncated or corrupt audio data ({_short(err)})") from None
    slack = 2 * _MP3_FRAME if info.format == "MP3" else 0
    if data.shape[0] + slack < info.frames:
        raise AudioError(p, f"truncated: header says {info.frames} frames, read {data.shape[0]}")
    if data.shape[0] < min_samples:
        raise AudioError(p, f"no audio samples (need at least {min_samples})")
    if data.shape[0] / file_rate > max_seconds:
        seconds = data.shape[0] / file_rate
        raise AudioError(p, f"too long: {seconds:.0f} s > max {max_seconds:.0f} s")
    if not np.isfinite(data).all():
        raise AudioError(p, "contains NaN or infinite samples")
    samples = _peak_safe(to_mono(data))
    if sample_rate is not None:
        samples = resample(samples, int(file_rate), sample_rate)
        file_rate = sample_rate
    return Audio(samples=samples, sample_rate=int(file_rate), path=str(p))


def save_audio(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write mono [N] float samples as 16-bit PCM (wav/flac by suffix), clipping to [-1, 1]."""
    import soundfile as sf

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(p), np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0), sample_rate,
             subtype="PCM_16")
    return p


def _short(err: BaseException) -> str:
    """First line of an exception message, trimmed, for one-line reports."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:160]
