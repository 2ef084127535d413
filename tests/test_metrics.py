"""Resynthesis metrics on real speech: a copy scores best, noise scores badly, degraded is in
between, and degenerate input gives a one-line ValueError."""

from __future__ import annotations

import math

import numpy as np
import pytest

import audiotokens as at
from audiotokens.metrics import (
    ResynthMetrics,
    mel_distance,
    pesq_score,
    resynth_metrics,
    si_sdr,
    stoi_score,
)


@pytest.fixture
def speech(librispeech_root) -> at.Audio:
    path = sorted((librispeech_root / "audio_data").rglob("*.flac"))[3]
    audio = at.load_audio(path)
    return at.Audio(audio.samples[: 3 * audio.sample_rate], audio.sample_rate)


def _noise(n: int, scale: float, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(n) * scale).astype(np.float32)


def test_identical_signal_scores_best(speech) -> None:
    x, sr = speech.samples, speech.sample_rate
    m = resynth_metrics(x, x, sr)
    assert m.pesq > 4.5 and m.stoi > 0.99 and m.si_sdr == 120.0 and m.mel_distance == 0.0
    assert m.notes == ()


def test_noise_scores_badly_and_degradation_is_ordered(speech) -> None:
    x, sr = speech.samples, speech.sample_rate
    noise = _noise(len(x), float(x.std()))
    clean = resynth_metrics(x, x, sr)
    mild = resynth_metrics(x, x + 0.1 * noise, sr)
    bad = resynth_metrics(x, noise, sr)
    assert bad.pesq < 1.6 and bad.stoi < 0.6 and bad.si_sdr < -10 and bad.mel_distance > 1.0
    assert clean.pesq > mild.pesq > bad.pesq
    assert clean.stoi > mild.stoi > bad.stoi
    assert clean.si_sdr > mild.si_sdr > bad.si_sdr
    assert 17 < mild.si_sdr < 23  # noise at -20 dB relative to the speech
    assert clean.mel_distance < mild.mel_distance < bad.mel_distance


def test_si_sdr_is_scale_invariant_and_lengths_are_aligned(speech) -> None:
    x = speech.samples
    noisy = x + 0.05 * _noise(len(x), float(x.std()), seed=1)
    assert si_sdr(x, 3.0 * noisy, 16000) == pytest.approx(si_sdr(x, noisy, 16000), abs=1e-6)
    padded = np.concatenate([x, np.zeros(400, dtype=np.float32)])  # codecs pad whole frames
    assert si_sdr(x, padded, 16000) == 120.0
    assert mel_distance(x, padded, 16000) == 0.0


def test_narrow_band_and_other_rates(speech) -> None:
    x8 = at.audio.resample(speech.samples, 16000, 8000)
    assert pesq_score(x8, x8, 8000) > 4.4  # narrow-band P.862 tops out at ~4.55
    x22 = at.audio.resample(speech.samples, 16000, 22050)
    assert pesq_score(x22, x22, 22050) > 4.5
    assert stoi_score(x22, x22, 22050) > 0.99


def test_degenerate_input_is_a_clear_error(speech) -> None:
    x = speech.samples
    with pytest.raises(ValueError, match="PESQ: reference is silent"):
        pesq_score(np.zeros(16000), x[:16000], 16000)
    with pytest.raises(ValueError, match="PESQ: too short"):
        pesq_score(x[:2000], x[:2000], 16000)
    with pytest.raises(ValueError, match="STOI: too short"):
        stoi_score(x[:3000], x[:3000], 16000)
    with pytest.raises(ValueError, match="SI-SDR: empty"):
        si_sdr(np.zeros(0), x, 16000)
    with pytest.raises(ValueError, match="NaN"):
        mel_distance(x, np.full(len(x), np.nan), 16000)
    with pytest.raises(ValueError, match="mono"):
        si_sdr(np.stack([x, x]), x, 16000)


def test_resynth_metrics_reports_nan_with_reason(speech) -> None:
    short = speech.samples[:3000]
    m = resynth_metrics(short, short, 16000)
    assert isinstance(m, ResynthMetrics)
    assert math.isnan(m.pesq) and math.isnan(m.stoi) and m.si_sdr == 120.0
    assert any("PESQ: too short" in n for n in m.notes)
    assert m.to_dict()["notes"].count("too short") == 2


def test_dnsmos_rates_noisy_speech_below_clean(speech) -> None:
    pytest.importorskip("speechmos")
    from audiotokens.metrics import DNSMOS

    x, sr = speech.samples, speech.sample_rate
    dnsmos = DNSMOS()
    clean = dnsmos.score(x, sr)
    noisy = dnsmos.score(np.clip(x + 0.5 * _noise(len(x), float(x.std())), -1, 1), sr)
    assert 1.0 <= noisy.ovrl < clean.ovrl <= 5.0
    assert noisy.bak < clean.bak - 0.5  # the background score sees the noise
    resampled = dnsmos.score(at.audio.resample(x, sr, 8000), 8000)
    assert abs(resampled.sig - clean.sig) < 1.5
    with pytest.raises(ValueError, match="DNSMOS: signal is silent"):
        dnsmos.score(np.zeros(16000, np.float32), 16000)
    # one ONNX thread (the benchmark's workers) gives the same scores (up to float
    # summation order: measured 7e-9 on a bench clip)
    one = DNSMOS(threads=1).score(x, sr)
    assert (one.ovrl, one.sig, one.bak) == pytest.approx((clean.ovrl, clean.sig, clean.bak),
                                                         abs=1e-6)
    with pytest.raises(ValueError, match="threads must be >= 1"):
        DNSMOS(threads=0)
