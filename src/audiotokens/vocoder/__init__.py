"""Unit vocoder: discrete tokens -> waveform, scalable over codebook (layer) subsets.

Embeddings (one table per codebook, softmax-weighted) -> generator (Vocos-style iSTFT by
default, the RVQ codec's decoder; HiFi-GAN style with ``generator="hifigan"``), trained
with random codebook subsets so any non-empty subset decodes. Importing this package imports
torch; the CLI imports it inside commands only.

>>> from audiotokens.vocoder import train_vocoder, save_vocoder, load_vocoder  # doctest: +SKIP
"""

from .config import GENERATORS, VocoderConfig, default_stft_hop, default_upsample_rates
from .features import continuous_features, speaker_vector
from .io import load_vocoder, save_vocoder
from .model import UnitVocoder
from .train import VocoderTrainOptions, VocoderTrainResult, train_vocoder, vocoder_config_for

__all__ = [
    "GENERATORS",
    "UnitVocoder",
    "VocoderConfig",
    "VocoderTrainOptions",
    "VocoderTrainResult",
    "continuous_features",
    "default_stft_hop",
    "default_upsample_rates",
    "load_vocoder",
    "save_vocoder",
    "speaker_vector",
    "train_vocoder",
    "vocoder_config_for",
]
