"""Frame-level inputs besides tokens: the utterance speaker vector and the oracle's log-mel.

Both use :func:`audiotokens.dsp.log_mel` at the vocoder's own ``sample_rate`` and
``hop_length``, so the oracle's frames line up with token frames (T = N // hop_length).
"""

from __future__ import annotations

import numpy as np
import torch

from ..dsp import MelConfig, log_mel

__all__ = ["analysis_mel_config", "speaker_vector", "continuous_features"]


def analysis_mel_config(sample_rate: int, hop_length: int, n_mels: int) -> MelConfig:
    """Log-mel analysis at the token frame rate: window = FFT = next power of 2 >= 2 * hop."""
    n_fft = 1 << max(int(2 * hop_length - 1).bit_length(), 6)
    return MelConfig(sample_rate=sample_rate, n_fft=n_fft, win_length=n_fft,
                     hop_length=hop_length, n_mels=n_mels)


def speaker_vector(samples: np.ndarray, sample_rate: int, speaker_dim: int,
                   hop_length: int | None = None) -> np.ndarray:
    """Utterance-level speaker/channel descriptor: float32 [speaker_dim].

    The mean over frames of the natural-log mel spectrogram (``speaker_dim`` mel bands,
    frames of ``hop_length`` samples, default 20 ms) of the frames louder than 40 dB below
    the loudest one, i.e. the long-term spectral envelope of the speech (timbre, pitch range,
    microphone), with no trained weights. ``samples``: mono float [N] at ``sample_rate`` Hz.
    """
    if speaker_dim < 1:
        raise ValueError(f"speaker_dim must be >= 1, got {speaker_dim}")
    hop = hop_length or max(1, round(0.02 * sample_rate))
    cfg = analysis_mel_config(sample_rate, hop, speaker_dim)
    wav = torch.as_tensor(np.asarray(samples, dtype=np.float32))
    if wav.ndim != 1 or len(wav) < hop:
        raise ValueError(f"speaker_vector needs mono audio of at least {hop} samples, "
                         f"got shape {tuple(wav.shape)}")
    mel = log_mel(wav, cfg)  # [T, speaker_dim]
    energy = mel.logsumexp(dim=1)
    voiced = mel[energy >= energy.max() - np.log(1e4)]
    return voiced.mean(dim=0).numpy().astype(np.float32)


def continuous_features(samples: np.ndarray, sample_rate: int, hop_length: int,
                        n_mels: int) -> np.ndarray:
    """The oracle's input: log-mel frames float32 [N // hop_length, n_mels] of mono [N]."""
    cfg = analysis_mel_config(sample_rate, hop_length, n_mels)
    wav = torch.as_tensor(np.asarray(samples, dtype=np.float32))
    return log_mel(wav, cfg).numpy().astype(np.float32)
