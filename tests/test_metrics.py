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
    pesq_primary,
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
    assert m.pesq_wb > 4.5 and m.pesq_nb > 4.4 and m.stoi > 0.99
    assert m.si_sdr == 120.0 and m.mel_distance == 0.0
    assert m.notes == ()


def test_noise_scores_badly_and_degradation_is_ordered(speech) -> None:
    x, sr = speech.samples, speech.sample_rate
    noise = _noise(len(x), float(x.std()))
    clean = resynth_metrics(x, x, sr)
    mild = resynth_metrics(x, x + 0.1 * noise, sr)
    bad = resynth_metrics(x, noise, sr)
    assert bad.pesq_wb < 1.6 and bad.stoi < 0.6 and bad.si_sdr < -10 and bad.mel_distance > 1.0
    assert clean.pesq_wb > mild.pesq_wb > bad.pesq_wb
    assert clean.pesq_nb > mild.pesq_nb > bad.pesq_nb
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
    assert pesq_score(x8, x8, 8000, "nb") > 4.4  # narrow-band P.862 tops out at ~4.55
    with pytest.raises(ValueError, match="PESQ-WB: needs audio at >= 16000 Hz, got 8000 Hz"):
        pesq_score(x8, x8, 8000, "wb")
    m8 = resynth_metrics(x8, x8, 8000)  # an 8 kHz clip: narrow-band only, the reason kept
    assert math.isnan(m8.pesq_wb) and m8.pesq_nb > 4.4
    assert m8.reason("pesq_wb").startswith("PESQ-WB: needs audio") and not m8.reason("pesq_nb")
    x22 = at.audio.resample(speech.samples, 16000, 22050)
    assert pesq_score(x22, x22, 22050, "wb") > 4.5
    assert stoi_score(x22, x22, 22050) > 0.99
    with pytest.raises(ValueError, match=r"PESQ mode must be one of \('wb', 'nb'\)"):
        pesq_score(x22, x22, 22050, "swb")


def test_narrow_band_of_a_wide_band_clip_is_its_8khz_score(speech) -> None:
    x = speech.samples
    est = x + 0.05 * _noise(len(x), float(x.std()))
    nb = pesq_score(x, est, 16000, "nb")
    down = [at.audio.resample(s, 16000, 8000) for s in (x, est)]
    assert nb == pytest.approx(pesq_score(*down, 8000, "nb"), abs=1e-6)
    assert nb != pytest.approx(pesq_score(x, est, 16000, "wb"), abs=0.05)  # other scale


def test_pesq_primary_is_wide_band_only_when_every_reference_allows_it() -> None:
    assert pesq_primary([16000, 24000, 44100]).metric == "pesq_wb"
    mixed = pesq_primary([16000, 8000, 16000])
    assert mixed.metric == "pesq_nb" and mixed.reason.startswith("1 of 3 references below")
    with pytest.raises(ValueError, match="at least one reference"):
        pesq_primary([])


def test_degenerate_input_is_a_clear_error(speech) -> None:
    x = speech.samples
    with pytest.raises(ValueError, match="PESQ-WB: reference is silent"):
        pesq_score(np.zeros(16000), x[:16000], 16000, "wb")
    with pytest.raises(ValueError, match="PESQ-NB: too short"):
        pesq_score(x[:2000], x[:2000], 16000, "nb")
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
    assert math.isnan(m.pesq_wb) and math.isnan(m.pesq_nb) and math.isnan(m.stoi)
    assert m.si_sdr == 120.0
    assert any("PESQ-WB: too short" in n for n in m.notes)
    assert m.reason("pesq_nb").startswith("PESQ-NB: too short")
    assert m.to_dict()["notes"].count("too short") == 3


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
