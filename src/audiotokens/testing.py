"""Testing helpers shared by tests, benchmarks and README snippets (like lhotse's dummies).

- deterministic test signals: :func:`tone`, :func:`chirp`, :func:`noisy_speechlike`
  (mono float32 [N] in [-1, 1]);
- :func:`write_test_corpus`: a folder of wav files plus a JSONL manifest, optionally with
  broken files (0-byte, truncated, non-audio text, missing path);
- :func:`save_tiny_ssl` / :func:`save_tiny_codec`: random-init tiny transformers SSL models
  and codecs saved with ``save_pretrained``, to load by folder like a downloaded one;
- :class:`EnergyTokenizer`: a tiny but real tokenizer (per-frame log-energy quantised into
  ``k`` bins) that needs no weights. It is not in the main registry; load it through a
  :class:`~audiotokens.tokenizers.registry.Registry` built with :data:`ENERGY_ENTRY`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .tokenizers.base import Tokenizer, TokenizerError, TokenizerInfo, Tokens
from .tokenizers.registry import TokenizerEntry

__all__ = [
    "save_tiny_ssl",
    "save_tiny_text_tokenizer",
    "save_tiny_codec",
    "TINY_SSL_KINDS",
    "TINY_CODEC_KINDS",
    "BAD_KINDS",
    "ENERGY_ENTRY",
    "EnergyConfig",
    "EnergyTokenizer",
    "chirp",
    "noisy_speechlike",
    "tone",
    "write_test_corpus",
]

BAD_KINDS = ("empty", "truncated", "text", "missing")
ENERGY_ENTRY = TokenizerEntry("energy", "audiotokens.testing:EnergyTokenizer", {},
                              "per-frame log-energy in k bins (testing tokenizer)")


# -- signals ------------------------------------------------------------------------------
def tone(frequency: float = 440.0, seconds: float = 1.0, sample_rate: int = 16000,
         amplitude: float = 0.5) -> np.ndarray:
    """A sine at ``frequency`` Hz: float32 [round(seconds * sample_rate)]."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * math.pi * frequency * t)).astype(np.float32)


def chirp(f0: float = 100.0, f1: float = 4000.0, seconds: float = 1.0,
          sample_rate: int = 16000, amplitude: float = 0.5) -> np.ndarray:
    """A linear sweep from ``f0`` to ``f1`` Hz: float32 [round(seconds * sample_rate)]."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    phase = 2 * math.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))
    return (amplitude * np.sin(phase)).astype(np.float32)


def noisy_speechlike(seconds: float = 1.0, sample_rate: int = 16000, seed: int = 0,
                     f0: float = 120.0, snr_db: float = 20.0) -> np.ndarray:
    """Voiced-speech-like signal: float32 [round(seconds * sample_rate)], peak 0.5.

    A harmonic source (pitch ``f0`` with slow vibrato) shaped by two formant bumps, gated by
    a ~4 Hz syllable envelope with random gains and pauses, plus white noise at ``snr_db``.
    Same arguments -> same samples.
    """
    rng = np.random.default_rng(seed)
    n = round(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    pitch = f0 * (1.0 + 0.05 * np.sin(2 * math.pi * 3.0 * t))
    phase = 2 * math.pi * np.cumsum(pitch) / sample_rate
    formants = rng.uniform([400.0, 1000.0], [900.0, 2500.0])
    voiced = np.zeros(n)
    base = np.exp(1j * phase)
    harmonic = base.copy()  # exp(1j * h * phase) by repeated multiplication (cheaper than sin)
    for h in range(1, int(0.45 * sample_rate / f0)):
        freq = h * f0
        gain = sum(np.exp(-(((freq - f) / 150.0) ** 2)) for f in formants) + 0.02
        voiced += gain / h**0.5 * harmonic.imag
        harmonic *= base
    syllable = 0.25
    n_syl = int(math.ceil(seconds / syllable))
    gains = rng.uniform(0.2, 1.0, n_syl) * (rng.random(n_syl) > 0.2)
    idx = np.minimum((t / syllable).astype(int), n_syl - 1)
    envelope = gains[idx] * np.sin(math.pi * (t % syllable) / syllable) ** 2
    speech = voiced * envelope
    power = float(np.mean(speech**2)) or 1e-8
    noise = rng.standard_normal(n) * math.sqrt(power / 10 ** (snr_db / 10))
    out = speech + noise
    peak = float(np.max(np.abs(out))) or 1.0
    return (0.5 * out / peak).astype(np.float32)


# -- corpus -------------------------------------------------------------------------------
def write_test_corpus(folder: str | Path, n: int = 8, *, sample_rate: int = 16000,
                      min_seconds: float = 0.5, max_seconds: float = 2.0, seed: int = 0,
                      bad: tuple[str, ...] | list[str] = ()) -> Path:
    """Write ``n`` wav files (16-bit) under ``folder/wavs`` and ``folder/manifest.jsonl``.

    Items are ``item-000``... with durations spread over [min_seconds, max_seconds] and a
    mix of :func:`noisy_speechlike`, :func:`tone` and :func:`chirp`. Each kind in ``bad``
    (one of :data:`BAD_KINDS`) adds a broken item with id ``bad-<kind>``. Returns the
    manifest path.
    """
    from .audio import save_audio
    from .data.manifest import ManifestItem, write_manifest

    unknown = sorted(set(bad) - set(BAD_KINDS))
    if unknown:
        raise ValueError(f"unknown bad kind(s) {unknown}; allowed: {list(BAD_KINDS)}")
    if n < 0 or not 0 < min_seconds <= max_seconds:
        raise ValueError("need n >= 0 and 0 < min_seconds <= max_seconds")
    root = Path(folder)
    wavs = root / "wavs"
    wavs.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    items: list[ManifestItem] = []
    for i in range(n):
        seconds = round(float(rng.uniform(min_seconds, max_seconds)), 3)
        if i % 3 == 0:
            x = tone(float(rng.uniform(150, 1500)), seconds, sample_rate, 0.3)
        elif i % 3 == 1:
            x = chirp(100.0, sample_rate * 0.4, seconds, sample_rate, 0.3)
        else:
            x = noisy_speechlike(seconds, sample_rate, seed=seed * 100_003 + i)
        path = save_audio(wavs / f"item-{i:03d}.wav", x, sample_rate)
        items.append(ManifestItem(f"item-{i:03d}", str(path.relative_to(root)), seconds))
    for kind in bad:
        items.append(ManifestItem(f"bad-{kind}", _write_bad(wavs, kind, sample_rate), 1.0))
    return write_manifest(items, root / "manifest.jsonl")


def _write_bad(wavs: Path, kind: str, sample_rate: int) -> str:
    """Create one broken file of ``kind``; returns its path relative to the corpus root."""
    from .audio import save_audio

    path = wavs / f"bad-{kind}.wav"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":  # a complete 1 s header, but the data stops right after it
        save_audio(path, tone(seconds=1.0, sample_rate=sample_rate), sample_rate)
        path.write_bytes(path.read_bytes()[:44])
    elif kind == "text":
        path.write_text("this is not audio\n")
    elif kind == "missing":
        path.unlink(missing_ok=True)
    return f"wavs/{path.name}"


# -- a tiny real tokenizer ----------------------------------------------------------------
@dataclass
class EnergyConfig:
    """``k`` bins over per-frame log-energy in dB; frames are ``hop_length`` samples long
    (non-overlapping, so batched and single-item encodes agree exactly)."""

    k: int = 16
    sample_rate: int = 16000
    hop_length: int = 160
    min_db: float = -70.0
    max_db: float = 0.0

    def __post_init__(self) -> None:
        if not 2 <= self.k <= 65536:
            raise ValueError(f"k must be in 2..65536, got {self.k}")
        if self.sample_rate <= 0 or self.hop_length <= 0:
            raise ValueError("sample_rate and hop_length must be positive")
        if not self.min_db < self.max_db:
            raise ValueError(f"min_db ({self.min_db}) must be < max_db ({self.max_db})")


class EnergyTokenizer(Tokenizer):
    """Per-frame log-energy quantised into ``k`` bins: tokens [N // hop_length, 1].

    Unfitted, the bin edges split [min_db, max_db] uniformly; :meth:`fit` moves them to the
    energy quantiles of a corpus so every bin is used about equally.
    """

    name = "energy"
    Config = EnergyConfig

    def __init__(self, config: EnergyConfig, name: str | None = None) -> None:
        super().__init__(config, name)
        self.edges = np.linspace(config.min_db, config.max_db, config.k + 1)[1:-1]
        self.edges = self.edges.astype(np.float32)

    @property
    def info(self) -> TokenizerInfo:
        """1 codebook of ``k`` ids at ``sample_rate / hop_length`` frames per second."""
        c = self.config
        return TokenizerInfo(self.name, "semantic", c.sample_rate, c.sample_rate / c.hop_length,
                             (c.k,), ("energy",), source="audiotokens.testing")

    def frame_db(self, batch: list[np.ndarray], sample_rate: int) -> tuple[Any, np.ndarray]:
        """Mono signals -> (dB torch [B, T_max] on ``self.device``, lengths int64 [B])."""
        import torch

        from .audio import resample

        signals = []
        for i, x in enumerate(batch):
            x = np.asarray(x, dtype=np.float32)
            if x.ndim != 1:
                raise ValueError(f"item {i}: samples must be mono [N], got shape {x.shape}")
            signals.append(resample(x, sample_rate, self.config.sample_rate))
        hop = self.config.hop_length
        lengths = np.array([len(x) // hop for x in signals], dtype=np.int64)
        t_max = int(lengths.max()) if len(lengths) else 0
        padded = np.zeros((len(signals), t_max * hop), dtype=np.float32)
        for i, x in enumerate(signals):
            padded[i, : lengths[i] * hop] = x[: lengths[i] * hop]
        wav = torch.from_numpy(padded).to(self.device)
        power = wav.reshape(len(signals), t_max, hop).double().pow(2).mean(-1)
        return (10.0 * torch.log10(power + 1e-10)).float(), lengths

    def encode_batch(self, batch: list[np.ndarray], sample_rate: int) -> Tokens:
        """Mono float32 signals [N_i] -> Tokens [B, T_max, 1] with lengths (batched)."""
        import torch

        if not batch:
            raise ValueError("encode_batch needs at least one signal")
        db, lengths = self.frame_db(batch, sample_rate)
        edges = torch.from_numpy(self.edges).to(db.device)
        codes = torch.bucketize(db, edges).cpu().numpy()
        for i, n in enumerate(lengths):
            codes[i, n:] = 0
        return Tokens(codes[..., None], self.info, lengths)

    def encode(self, samples: np.ndarray, sample_rate: int) -> Tokens:
        """Mono float32 [N] -> Tokens [N // hop_length, 1]."""
        return self.encode_batch([samples], sample_rate).items()[0]

    def fit(self, manifest: str | Path, *, minutes: float | None = None,
            max_frames: int = 500_000, seed: int = 0) -> None:
        """Set the bin edges to the k-quantiles of frame energies over (a random sample of)
        the manifest's audio: at most ``minutes`` of audio and ``max_frames`` frames."""
        from .audio import AudioError, load_audio
        from .data.manifest import read_manifest

        items = read_manifest(manifest)
        order = np.random.default_rng(seed).permutation(len(items))
        budget = math.inf if minutes is None else minutes * 60.0
        frames: list[np.ndarray] = []
        seconds = 0.0
        for idx in order:
            if seconds >= budget or sum(map(len, frames)) >= max_frames:
                break
            try:
                audio = load_audio(items[idx].path, self.config.sample_rate)
            except AudioError:
                continue
            db, lengths = self.frame_db([audio.samples], audio.sample_rate)
            frames.append(db[0, : lengths[0]].cpu().numpy())
            seconds += audio.duration
        values = np.concatenate(frames)[:max_frames] if frames else np.zeros(0)
        if len(values) < self.config.k:
            raise TokenizerError(f"{manifest}: too little readable audio to fit {self.config.k} "
                                 f"energy bins ({len(values)} frames)")
        quantiles = np.quantile(values, np.arange(1, self.config.k) / self.config.k)
        self.edges = np.maximum.accumulate(quantiles).astype(np.float32)

    def state_tensors(self) -> dict[str, Any]:
        """``edges``: float32 [k - 1] dB thresholds."""
        return {"edges": self.edges}

    def load_state_tensors(self, tensors: dict[str, np.ndarray]) -> None:
        """Restore ``edges`` (checked: shape [k - 1], non-decreasing)."""
        edges = np.asarray(tensors.get("edges", np.zeros(0)), dtype=np.float32)
        if edges.shape != (self.config.k - 1,) or (np.diff(edges) < 0).any():
            raise TokenizerError(f"energy tokenizer weights: expected non-decreasing edges "
                                 f"[{self.config.k - 1}], got shape {edges.shape}")
        self.edges = edges


TINY_SSL = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
                conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)


TINY_SSL_KINDS = ("hubert", "wavlm", "wav2vec2", "data2vec")
TINY_CODEC_KINDS = ("encodec", "dac", "mimi")


def save_tiny_ssl(kind: str, folder: str | Path, *, layer_norm: bool, seed: int = 0) -> Path:
    """Build a random-init tiny SSL model of ``kind`` (one of :data:`TINY_SSL_KINDS`; 3
    layers, 32 dims, 50 frames/s at 16 kHz), ``save_pretrained`` it to ``folder`` and return
    the folder. ``layer_norm`` picks the "large"-style variant that takes an attention mask;
    otherwise group norm (data2vec-audio has only the layer-norm variant)."""
    import torch
    import transformers

    norm = {"feat_extract_norm": "layer" if layer_norm else "group",
            "do_stable_layer_norm": layer_norm}
    torch.manual_seed(seed)
    match kind:
        case "hubert":
            model = transformers.HubertModel(transformers.HubertConfig(**TINY_SSL, **norm))
        case "wavlm":
            cfg = transformers.WavLMConfig(**TINY_SSL, **norm, num_buckets=32,
                                           max_bucket_distance=100)
            model = transformers.WavLMModel(cfg)
        case "wav2vec2":
            model = transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(**TINY_SSL, **norm))
        case "data2vec":
            cfg = transformers.Data2VecAudioConfig(**{**TINY_SSL, "num_conv_pos_embeddings": 2},
                                                   conv_pos_kernel_size=5)
            model = transformers.Data2VecAudioModel(cfg)
        case _:
            raise ValueError(f"kind must be one of {TINY_SSL_KINDS}, got {kind!r}")
    model.save_pretrained(folder)
    return Path(folder)


def save_tiny_text_tokenizer(folder: str | Path,
                             words: tuple[str, ...] = ("hello", "world", "the")) -> Path:
    """A word-level transformers text tokenizer (``[UNK]`` = 0, then ``words``), saved with
    ``save_pretrained`` to ``folder``; returns it. Stands in for an LLM's tokenizer."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, **{w: i + 1 for i, w in enumerate(words)}}
    tok = HFTokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(str(folder))
    return Path(folder)


def save_tiny_codec(kind: str, folder: str | Path, *, seed: int = 0) -> Path:
    """Build a random-init tiny transformers codec of ``kind`` (one of
    :data:`TINY_CODEC_KINDS`), give its all-zero codebooks distinct random entries,
    ``save_pretrained`` it to ``folder`` and return the folder.

    encodec: 8 kHz, hop 32 (250 Hz), 16 codebooks x 64; dac: 16 kHz, hop 32 (500 Hz),
    6 x 64; mimi: 8 kHz, frame 64 (125 Hz), 8 x 64.
    """
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    match kind:
        case "encodec":
            model = tf.EncodecModel(tf.EncodecConfig(
                num_filters=4, hidden_size=16, codebook_size=64, codebook_dim=16,
                num_lstm_layers=1, upsampling_ratios=[4, 4, 2], sampling_rate=8000))
        case "dac":
            model = tf.DacModel(tf.DacConfig(
                encoder_hidden_size=4, downsampling_ratios=[2, 4, 4], decoder_hidden_size=16,
                n_codebooks=6, codebook_size=64, codebook_dim=4, sampling_rate=16000))
        case "mimi":
            model = tf.MimiModel(tf.MimiConfig(
                hidden_size=16, num_filters=4, codebook_size=64, codebook_dim=16,
                num_quantizers=8, upsample_groups=16, num_hidden_layers=1, intermediate_size=32,
                num_attention_heads=2, num_key_value_heads=2, head_dim=8,
                vector_quantization_hidden_dimension=16, upsampling_ratios=[4, 4, 2],
                sampling_rate=8000))
        case _:
            raise ValueError(f"kind must be one of {TINY_CODEC_KINDS}, got {kind!r}")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith(("codebook.embed", "codebook.embed_sum")):
                buf.copy_(torch.randn(buf.shape, generator=gen))
            elif name.endswith(("codebook.cluster_usage", "codebook.cluster_size")):
                buf.fill_(1.0)
    model.eval().save_pretrained(folder)
    return Path(folder)
