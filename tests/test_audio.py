"""audio.py: every bad input is one AudioError naming the file; good formats read right."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiotokens.audio import (
    MAX_CHANNELS,
    AudioError,
    load_audio,
    probe_audio,
    resample,
    save_audio,
    to_mono,
)


def _tone(seconds: float = 1.0, sample_rate: int = 16000, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _write(path: Path, data: np.ndarray, sample_rate: int = 16000, **kw) -> Path:
    sf.write(str(path), data, sample_rate, **kw)
    return path


def _raises_naming(path: Path, match: str) -> None:
    with pytest.raises(AudioError, match=match) as info:
        load_audio(path)
    assert path.name in str(info.value)
    assert "\n" not in str(info.value)


# --- bad input ------------------------------------------------------------------------------

def test_missing_file(tmp_path: Path) -> None:
    _raises_naming(tmp_path / "nope.wav", "not found")


def test_zero_byte_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    _raises_naming(p, "0 bytes")


def test_text_renamed_wav(tmp_path: Path) -> None:
    p = tmp_path / "notes.wav"
    p.write_text("this is a shopping list, not audio\n" * 20)
    _raises_naming(p, "not a readable audio file")


def test_wav_cut_in_half(tmp_path: Path) -> None:
    full = _write(tmp_path / "full.wav", _tone(1.0))
    data = full.read_bytes()
    cut = tmp_path / "cut half.wav"
    cut.write_bytes(data[: len(data) // 2])
    assert sf.info(str(cut)).frames > 0  # libsndfile alone would accept it silently
    _raises_naming(cut, "truncated")


@pytest.mark.parametrize("suffix", [".flac", ".ogg", ".mp3"])
def test_compressed_cut_in_half(tmp_path: Path, suffix: str) -> None:
    full = tmp_path / f"full{suffix}"
    try:
        _write(full, _tone(1.0))
    except Exception as err:  # libsndfile built without that encoder
        pytest.skip(f"soundfile cannot write {suffix} here: {err}")
    data = full.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    _raises_naming(cut, "truncated|corrupt|not a readable")


def test_nan_and_inf_samples(tmp_path: Path) -> None:
    for bad in (np.nan, np.inf):
        x = _tone(0.1)
        x[100] = bad
        p = _write(tmp_path / f"bad_{bad}.wav", x, subtype="FLOAT")
        _raises_naming(p, "NaN or infinite")


def test_header_ok_zero_frames(tmp_path: Path) -> None:
    p = _write(tmp_path / "silent.wav", np.zeros(0, dtype=np.float32))
    _raises_naming(p, "0 frames")


def test_too_many_channels(tmp_path: Path) -> None:
    x = np.zeros((1000, MAX_CHANNELS + 1), dtype=np.float32)
    p = _write(tmp_path / "many.wav", x)
    _raises_naming(p, "channel count")


def test_too_long_checked_from_header_before_reading(tmp_path: Path, monkeypatch) -> None:
    p = _write(tmp_path / "long.wav", _tone(2.0))

    def no_read(*args, **kwargs):
        raise AssertionError("the file was decoded before its length was checked")

    monkeypatch.setattr(sf, "read", no_read)
    with pytest.raises(AudioError, match="too long") as info:
        load_audio(p, max_seconds=1.0)
    assert "long.wav" in str(info.value)


def test_absurd_header_length(tmp_path: Path) -> None:
    """A WAV header claiming ~18 h of audio is refused from the header alone."""
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 0xFFFFFFF0, b"WAVE", b"fmt ", 16, 1, 1,
                         16000, 32000, 2, 16, b"data", 0x7FFFFFF0)
    p = tmp_path / "absurd.wav"
    p.write_bytes(header + b"\x00" * 3200)
    _raises_naming(p, "too long")


def test_directory(tmp_path: Path) -> None:
    d = tmp_path / "folder.wav"
    d.mkdir()
    _raises_naming(d, "directory")


# --- good input -----------------------------------------------------------------------------

@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_wav_subtypes(tmp_path: Path, subtype: str) -> None:
    x = _tone(0.5)
    p = _write(tmp_path / f"tone_{subtype}.wav", x, subtype=subtype)
    a = load_audio(p)
    assert a.sample_rate == 16000 and a.samples.dtype == np.float32
    assert a.samples.shape == x.shape
    assert np.max(np.abs(a.samples - x)) < 1e-3
    assert probe_audio(p).duration == pytest.approx(0.5)


@pytest.mark.parametrize("suffix", [".flac", ".ogg", ".mp3"])
def test_compressed_formats(tmp_path: Path, suffix: str) -> None:
    x = _tone(1.0)
    p = tmp_path / f"tone{suffix}"
    try:
        _write(p, x)
    except Exception as err:  # libsndfile built without that encoder
        pytest.skip(f"soundfile cannot write {suffix} here: {err}")
    a = load_audio(p)
    assert a.sample_rate == 16000
    assert abs(len(a.samples) - len(x)) <= 2 * 1152
    n = min(len(x), len(a.samples))
    corr = np.corrcoef(a.samples[:n], x[:n])[0, 1] if suffix == ".flac" else None
    if corr is not None:
        assert corr > 0.999
    # lossy codecs keep the energy of a pure tone
    assert np.sqrt(np.mean(a.samples**2)) == pytest.approx(np.sqrt(np.mean(x**2)), rel=0.1)


def test_stereo_downmix(tmp_path: Path) -> None:
    left, right = _tone(0.2), np.zeros(3200, dtype=np.float32)
    p = _write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), subtype="FLOAT")
    a = load_audio(p)
    assert a.samples.shape == (3200,)
    np.testing.assert_allclose(a.samples, left / 2, atol=1e-6)
    assert to_mono(np.stack([left, left], axis=1)).shape == (3200,)


@pytest.mark.parametrize(("src", "dst"), [(16000, 24000), (8000, 16000), (22050, 16000)])
def test_resample_length(tmp_path: Path, src: int, dst: int) -> None:
    x = _tone(1.0, src, freq=300.0)
    y = resample(x, src, dst)
    assert y.dtype == np.float32
    assert abs(len(y) - dst) <= 1
    p = _write(tmp_path / f"r{src}.wav", x, src)
    a = load_audio(p, sample_rate=dst)
    assert a.sample_rate == dst and abs(len(a.samples) - dst) <= 1
    # a 300 Hz tone stays a 300 Hz tone
    spectrum = np.abs(np.fft.rfft(a.samples))
    assert abs(np.argmax(spectrum) * dst / len(a.samples) - 300.0) < 3.0


def test_resample_rejects_bad_rates() -> None:
    with pytest.raises(ValueError, match="positive"):
        resample(_tone(0.1), 0, 16000)


def test_peak_safety(tmp_path: Path) -> None:
    loud = _tone(0.2) * 6.0  # float wav with peaks at 3.0
    a = load_audio(_write(tmp_path / "loud.wav", loud, subtype="FLOAT"))
    assert np.max(np.abs(a.samples)) == pytest.approx(1.0, abs=1e-6)
    quiet = _tone(0.2) * 0.1  # never amplified
    b = load_audio(_write(tmp_path / "quiet.wav", quiet, subtype="FLOAT"))
    assert np.max(np.abs(b.samples)) == pytest.approx(0.05, abs=1e-4)


def test_save_audio_round_trip(tmp_path: Path) -> None:
    p = save_audio(tmp_path / "sub" / "out.wav", _tone(0.3) * 3, 16000)
    info = probe_audio(p)
    assert (info.subtype, info.channels, info.frames) == ("PCM_16", 1, 4800)
    assert np.max(np.abs(load_audio(p).samples)) <= 1.0
