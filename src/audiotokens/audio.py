"""Audio I/O: read any soundfile format, downmix to mono, resample with soxr, validate.

Every problem with an input file is raised as one :class:`AudioError` that names the file and
the cause, so callers (CLI, corpus encoders) can report it in one line and move on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Audio", "AudioError", "load_audio", "resample", "to_mono", "save_audio"]

MAX_CHANNELS = 8
DEFAULT_MAX_SECONDS = 3600.0


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


def load_audio(
    path: str | Path,
    sample_rate: int | None = None,
    *,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    min_samples: int = 1,
) -> Audio:
    """Read an audio file as mono float32, resampled to ``sample_rate`` when given.

    Raises :class:`AudioError` (naming the file) for a missing, empty, truncated or non-audio
    file, NaN/inf samples, no samples, too many channels or a length over ``max_seconds``.
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
    if info.frames > 0 and info.frames / info.samplerate > max_seconds:
        seconds = info.frames / info.samplerate
        raise AudioError(p, f"too long: {seconds:.0f} s > max {max_seconds:.0f} s")
    try:
        data, file_rate = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as err:
        raise AudioError(p, f"truncated or corrupt audio data ({_short(err)})") from None
    if info.frames > 0 and data.shape[0] < info.frames:
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
