"""``rvq``: the project's own trainable convolutional RVQ codec (SoundStream/EnCodec style).

Default: 16 kHz, hop 320 (50 frames/s), 8 codebooks x 1024 codes (4 kbps at "high"); a
log-|STFT| ConvNeXt encoder and a Vocos-style decoder that predicts STFT magnitude and phase
for an inverse STFT (``encoder="spectral"``, ``decoder="istft"``, about 1.4 M parameters
working at 50-100 frames/s), which learns intelligible speech within minutes on one CPU
thread. ``encoder``/``decoder="waveform"`` select the SEANet strided-conv pair of the first
versions (0.45 M parameters working at the sample rate; far slower to leave its near-silent
early phase). Quantizer dropout lets one model serve the bitrate tiers: "low" ~ 1.5 kbps,
"medium" ~ 3 kbps, "high" = all codebooks.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .base import Tokenizer, TokenizerError, TokenizerInfo, Tokens

__all__ = ["RVQConfig", "RVQTokenizer", "RVQFitSummary", "BITRATE_TARGETS", "DEFAULT_MAX_STEPS"]

BITRATE_TARGETS = {"low": 1500.0, "medium": 3000.0, "high": math.inf}
DEFAULT_MAX_STEPS = 1000  # the step cap of a fit given neither max_steps nor minutes
_STEPS_KEY = "meta.trained_steps"


@dataclass
class RVQConfig:
    """Architecture, quantizer and (training-only) loss settings of the RVQ codec.

    ``bitrate`` picks how many codebooks encode/decode use: the most whose bitrate stays at
    or under the tier's target (low 1.5 kbps, medium 3 kbps, high = all), at least 1;
    ``n_codebooks_used`` overrides it with an explicit count. ``quantizer_warmup_steps``
    (training only): steps trained as a plain autoencoder before the codebooks are
    k-means-initialised from the encoder and quantization switches on.

    Architecture: ``encoder`` in ("spectral", "waveform"), ``decoder`` in ("istft",
    "waveform"), freely paired. ``ratios`` are the waveform encoder's strides and, for every
    architecture, define the hop (their product). ``channels``/``n_residual``/``weight_norm``
    size the waveform side; ``spectral_dim``/``spectral_blocks`` (ConvNeXt width and depth per
    side) and ``stft_hop`` (STFT frame hop, dividing the hop; FFT size 4 x stft_hop) the
    spectral side. A config.json written before these fields existed loads as the waveform
    pair it was trained with (recognised by its weights) when its hop suits the spectral
    defaults (any multiple of 160, e.g. the default 320); otherwise it fails naming the fix.
    """

    sample_rate: int = 16000
    channels: int = 8
    ratios: tuple[int, ...] = (2, 4, 5, 8)
    latent_dim: int = 64
    n_residual: int = 1
    weight_norm: bool = True
    n_codebooks: int = 8
    codebook_size: int = 1024
    bitrate: str = "high"
    n_codebooks_used: int | None = None
    ema_decay: float = 0.99
    dead_code_ratio: float = 0.1
    quantizer_dropout: float = 0.5
    commit_weight: float = 1.0
    quantizer_warmup_steps: int = 0
    adversarial: bool = False
    encoder: str = "spectral"
    decoder: str = "istft"
    spectral_dim: int = 256
    spectral_blocks: int = 1
    stft_hop: int = 160

    def __post_init__(self) -> None:
        self.ratios = tuple(int(r) for r in self.ratios)
        if self.bitrate not in BITRATE_TARGETS:
            raise ValueError(f"bitrate must be one of {sorted(BITRATE_TARGETS)}, "
                             f"got {self.bitrate!r}")
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.codebook_size < 2:
            raise ValueError(f"codebook_size must be >= 2, got {self.codebook_size}")
        used = self.n_codebooks_used
        if used is not None and not 1 <= used <= self.n_codebooks:
            raise ValueError(f"n_codebooks_used must be in [1, {self.n_codebooks}], got {used}")
        if self.quantizer_warmup_steps < 0:
            raise ValueError("quantizer_warmup_steps must be >= 0, "
                             f"got {self.quantizer_warmup_steps}")
        try:
            self.codec()  # validates the architecture fields
        except ValueError as err:
            if (self.encoder, self.decoder) == ("waveform", "waveform"):
                raise
            raise ValueError(f"{err} (a config.json saved before the 'encoder'/'decoder' "
                             "fields existed describes the waveform codec: add \"encoder\": "
                             "\"waveform\", \"decoder\": \"waveform\" to it)") from None

    def codec(self) -> Any:
        """The model config (:class:`audiotokens.nn.codec.CodecConfig`)."""
        from ..nn.codec import CodecConfig
        from ..nn.seanet import SEANetConfig
        from ..nn.spectral import SpectralConfig

        sides = (self.encoder, self.decoder)
        seanet = spectral = None
        if "waveform" in sides:
            seanet = SEANetConfig(channels=self.channels, ratios=self.ratios,
                                  latent_dim=self.latent_dim, n_residual=self.n_residual,
                                  weight_norm=self.weight_norm)
        if sides != ("waveform", "waveform"):
            spectral = SpectralConfig(hop_length=self.hop_length, stft_hop=self.stft_hop,
                                      dim=self.spectral_dim, n_blocks=self.spectral_blocks,
                                      latent_dim=self.latent_dim)
        return CodecConfig(vq=self.vq(), encoder=self.encoder, decoder=self.decoder,
                           seanet=seanet, spectral=spectral)

    def vq(self) -> Any:
        """The quantizer config (:class:`audiotokens.nn.quantizer.VQConfig`)."""
        from ..nn.quantizer import VQConfig

        return VQConfig(dim=self.latent_dim, codebook_size=self.codebook_size,
                        n_codebooks=self.n_codebooks, decay=self.ema_decay,
                        dead_code_ratio=self.dead_code_ratio,
                        quantizer_dropout=self.quantizer_dropout)

    @property
    def architecture(self) -> str:
        """Short description of the encoder/decoder pair and its size."""
        parts = [f"{self.encoder} encoder", f"{self.decoder} decoder"]
        if "waveform" in (self.encoder, self.decoder):
            parts.append(f"channels={self.channels}")
        if (self.encoder, self.decoder) != ("waveform", "waveform"):
            parts.append(f"dim={self.spectral_dim}, blocks={self.spectral_blocks}, "
                         f"stft_hop={self.stft_hop}")
        return ", ".join(parts)

    @property
    def default_lr(self) -> float:
        """Learning rate :meth:`RVQTokenizer.fit` uses unless told: 1e-3 for the waveform
        pair (its original setting), 3e-4 otherwise (the best of 2e-4..2e-3 for the spectral
        pair in 3-minute CPU runs)."""
        return 1e-3 if (self.encoder, self.decoder) == ("waveform", "waveform") else 3e-4

    @property
    def hop_length(self) -> int:
        """Samples per token frame."""
        return math.prod(self.ratios)

    @property
    def frame_rate(self) -> float:
        """Token frames per second."""
        return self.sample_rate / self.hop_length

    def codebooks_for(self, bitrate: str) -> int:
        """Number of codebooks a tier uses with this frame rate and codebook size."""
        if bitrate not in BITRATE_TARGETS:
            raise ValueError(f"bitrate must be one of {sorted(BITRATE_TARGETS)}, got {bitrate!r}")
        per_codebook = self.frame_rate * math.log2(self.codebook_size)
        n = math.floor(BITRATE_TARGETS[bitrate] / per_codebook + 1e-9) \
            if math.isfinite(BITRATE_TARGETS[bitrate]) else self.n_codebooks
        return max(1, min(self.n_codebooks, n))

    @property
    def n_used(self) -> int:
        """Codebooks that encode/decode use."""
        return self.n_codebooks_used or self.codebooks_for(self.bitrate)


@dataclass
class RVQFitSummary:
    """What :meth:`RVQTokenizer.fit` did: total ``steps`` (across resumes), ``seconds`` of this
    run, the last logged ``losses`` (and every logged step in ``history``), and per-codebook
    ``perplexity``/``usage`` measured by encoding training segments with all codebooks."""

    steps: int
    seconds: float
    losses: dict[str, float]
    perplexity: list[float] = field(default_factory=list)
    usage: list[float] = field(default_factory=list)
    items: int = 0
    audio_seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


class RVQTokenizer(Tokenizer):
    """Trainable conv encoder + residual VQ + conv decoder; tokens [T, n_used], T = ceil(N/hop).

    >>> tok = RVQTokenizer(RVQConfig(channels=4, ratios=(4, 5), latent_dim=8,
    ...                              n_codebooks=2, codebook_size=16))
    >>> tok.encode(np.zeros(50, dtype=np.float32), 16000).codes.shape
    (3, 2)
    """

    name = "rvq"
    Config = RVQConfig

    def __init__(self, config: RVQConfig, name: str | None = None) -> None:
        super().__init__(config, name)
        from ..nn.codec import ConvCodec

        self.model = ConvCodec(config.codec()).eval()
        self.trained_steps = 0
        self.fit_summary: RVQFitSummary | None = None

    # -- contract -------------------------------------------------------------------------
    @property
    def info(self) -> TokenizerInfo:
        cfg: RVQConfig = self.config
        n = cfg.n_used
        return TokenizerInfo(
            name=self.name, kind="codec", sample_rate=cfg.sample_rate,
            frame_rate=cfg.frame_rate, vocab_sizes=(cfg.codebook_size,) * n,
            codebook_names=tuple(f"q{i}" for i in range(n)),
            source=f"audiotokens rvq codec ({cfg.architecture}, hop={cfg.hop_length}, "
                   f"{cfg.n_codebooks}x{cfg.codebook_size}, using {n})",
            has_decoder=True, fitted=self.trained_steps > 0,
        )

    def encode(self, samples: np.ndarray, sample_rate: int) -> Tokens:
        """Mono float [N] at ``sample_rate`` -> Tokens int64 [ceil(N' / hop), n_used], where N'
        is the length at the codec's rate (zero-padded to a whole frame). Deterministic."""
        return self.encode_batch([samples], sample_rate).items()[0]

    def encode_batch(self, batch: list[np.ndarray], sample_rate: int) -> Tokens:
        """List of mono signals -> Tokens [B, T_max, n_used] with lengths ceil(N_i' / hop).

        One batched forward over zero-padded audio; frames within the encoder's receptive
        field of an item's end can differ from encoding that item alone.
        """
        import torch

        if not batch:
            raise ValueError("encode_batch needs at least one signal")
        signals = [self._prepare(x, sample_rate) for x in batch]
        hop = self.config.hop_length
        lengths = np.array([max(1, math.ceil(len(s) / hop)) for s in signals], dtype=np.int64)
        wav = np.zeros((len(signals), 1, int(lengths.max()) * hop), dtype=np.float32)
        for i, s in enumerate(signals):
            wav[i, 0, : len(s)] = s
        self.model.eval()
        with torch.no_grad():
            codes = self.model.encode(torch.from_numpy(wav).to(self.device), self.config.n_used)
        codes_np = codes.cpu().numpy()
        for i, n in enumerate(lengths):
            codes_np[i, n:] = 0
        return Tokens(codes_np, self.info, lengths)

    def decode(self, tokens: Tokens) -> np.ndarray:
        """Tokens [T, C] -> float32 audio [T * hop] at ``sample_rate``.

        Codebooks are matched by name (``q0``..), so any subset works, e.g. the output of
        ``tokens.select([0, 1])`` decodes at the lower bitrate.
        """
        import torch

        if tokens.is_batch:
            raise TokenizerError("decode takes one item [T, C]; use tokens.items() for a batch")
        indices = self._codebook_indices(tokens.info.codebook_names)
        tokens.validate()
        if any(v != self.config.codebook_size for v in tokens.info.vocab_sizes):
            raise TokenizerError(f"vocab sizes {tokens.info.vocab_sizes} do not match this "
                                 f"codec's codebook_size {self.config.codebook_size}")
        codes = torch.from_numpy(tokens.codes).to(self.device)[None]
        self.model.eval()
        with torch.no_grad():
            audio = self.model.decode(codes, indices)
        return audio[0, 0].float().cpu().numpy()

    def to(self, device: str) -> RVQTokenizer:
        self.model.to(device)
        self.device = device
        return self

    def codebook_vectors(self) -> list[np.ndarray] | None:
        """The quantizer's codebooks in use, float32 [codebook_size, latent_dim] each (None
        before training)."""
        if self.trained_steps == 0:
            return None
        layers = self.model.quantizer.layers[: self.config.n_used]
        return [layer.embed.detach().float().cpu().numpy() for layer in layers]

    # -- persistence ----------------------------------------------------------------------
    def state_tensors(self) -> dict[str, Any]:
        import torch

        state = dict(self.model.state_dict())
        state[_STEPS_KEY] = torch.tensor([self.trained_steps], dtype=torch.int64)
        return state

    def load_state_tensors(self, tensors: dict[str, np.ndarray]) -> None:
        import torch

        tensors = dict(tensors)
        steps = tensors.pop(_STEPS_KEY, np.zeros(1, dtype=np.int64))
        state = {k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}
        self._adopt_legacy_layout(set(state))
        try:
            self.model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0]
            raise TokenizerError(f"rvq weights do not match the config: {first}") from None
        self.model.to(self.device).eval()
        self.trained_steps = int(np.asarray(steps).reshape(-1)[0])

    def _adopt_legacy_layout(self, keys: set[str]) -> None:
        """Weights saved before ``encoder``/``decoder`` were config fields are the SEANet pair;
        their config.json lacks both fields, so it loads with today's defaults. When the keys
        are exactly the waveform pair's, switch this tokenizer to that architecture."""
        from ..nn.codec import ConvCodec

        cfg: RVQConfig = self.config
        if (cfg.encoder, cfg.decoder) == ("waveform", "waveform") \
                or keys == set(self.model.state_dict()):
            return
        legacy = dataclasses.replace(cfg, encoder="waveform", decoder="waveform")
        model = ConvCodec(legacy.codec())
        if keys == set(model.state_dict()):
            self.config, self.model = legacy, model.eval()

    # -- training -------------------------------------------------------------------------
    def fit(  # type: ignore[override]
        self, manifest: str | Path, *, max_steps: int | None = None,
        minutes: float | None = None, batch_size: int = 8, segment_seconds: float = 1.0,
        lr: float | None = None, checkpoint: str | Path | None = None, split: str | None = None,
        max_items: int | None = None, seed: int = 0, log_every: int = 10,
        progress: bool = True,
    ) -> RVQFitSummary:
        """Train on the audio of a JSONL manifest (read at ``sample_rate``) with the shared
        loop, on ``self.device``, until ``max_steps`` (total, across resumes) or ``minutes``
        of wall time, whichever comes first. With ``minutes`` alone there is no step cap; with
        neither, training stops at :data:`DEFAULT_MAX_STEPS` steps.

        ``lr`` defaults to the architecture's :attr:`RVQConfig.default_lr`. ``checkpoint`` (a
        .pt path) is resumed from when it exists and written during training; ``split`` /
        ``max_items`` restrict the items; ``segment_seconds`` is rounded to whole frames. The
        first ``config.quantizer_warmup_steps`` steps train without quantization (see
        :class:`~audiotokens.nn.codec_trainer.CodecTrainConfig`); a run that stops inside the
        warm-up still k-means-initialises the codebooks before returning.
        Returns (and keeps in ``fit_summary``) an :class:`RVQFitSummary`.
        """
        from ..nn.codec_trainer import CodecTrainable, CodecTrainConfig, SegmentSampler
        from ..nn.losses import ReconstructionLossConfig
        from ..train import LoopConfig, run_loop

        cfg: RVQConfig = self.config
        if minutes is not None and not minutes > 0:
            raise TokenizerError(f"minutes must be > 0, got {minutes}")
        if max_steps is None and minutes is None:
            max_steps = DEFAULT_MAX_STEPS
        clips = self._load_clips(Path(manifest), split, max_items)
        if self.trained_steps == 0:  # a fresh fit starts from weights drawn from ``seed``
            self.model = self._initial_model(seed)
        hop = cfg.hop_length
        segment = max(1, round(segment_seconds * cfg.sample_rate / hop)) * hop
        train_cfg = CodecTrainConfig(batch_size=batch_size, segment_samples=segment,
                                     lr=cfg.default_lr if lr is None else lr,
                                     commit_weight=cfg.commit_weight,
                                     quantizer_warmup_steps=cfg.quantizer_warmup_steps,
                                     adversarial=cfg.adversarial, seed=seed)
        sampler = SegmentSampler(clips, segment, seed)
        trainable = CodecTrainable(self.model, sampler, train_cfg,
                                   ReconstructionLossConfig(sample_rate=cfg.sample_rate),
                                   device=self.device)
        loop = LoopConfig(max_steps=max_steps, max_minutes=minutes, log_every=log_every,
                          seed=seed)
        result = run_loop(trainable, loop, Path(checkpoint) if checkpoint else None,
                          progress_desc="training rvq" if progress else None)
        trainable.init_codebooks()  # no-op unless the run ended inside the warm-up
        self.model.eval()
        self.trained_steps = result.steps
        stats = self._usage(sampler, batch_size)
        self.fit_summary = RVQFitSummary(
            steps=result.steps, seconds=result.seconds, losses=result.last,
            perplexity=[s.perplexity for s in stats], usage=[s.usage for s in stats],
            items=len(clips), audio_seconds=sum(len(c) for c in clips) / cfg.sample_rate,
            history=result.history,
        )
        return self.fit_summary

    def _initial_model(self, seed: int) -> Any:
        """A freshly initialised codec, its weights drawn from ``seed`` (the global torch
        generator is left as it was), on this tokenizer's device."""
        import torch

        from ..nn.codec import ConvCodec

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = ConvCodec(self.config.codec())
        return model.to(self.device)

    def _load_clips(self, manifest: Path, split: str | None, max_items: int | None
                    ) -> list[np.ndarray]:
        from ..audio import load_audio
        from ..data.manifest import iter_manifest

        clips = []
        for item in iter_manifest(manifest):
            if split is not None and item.split != split:
                continue
            if max_items is not None and len(clips) >= max_items:
                break
            clips.append(load_audio(item.path, self.config.sample_rate).samples)
        if not clips:
            where = f" with split={split!r}" if split else ""
            raise TokenizerError(f"{manifest}: no audio items{where} to train the rvq codec on")
        return clips

    def _usage(self, sampler: Any, batch_size: int, n_batches: int = 8) -> list[Any]:
        """Per-codebook stats of all codebooks over ``n_batches`` fresh training segments."""
        import torch

        from ..nn.quantizer import codebook_stats

        codes = []
        with torch.no_grad():
            for i in range(n_batches):
                wav = sampler.batch(i, batch_size, stream=2).to(self.device)
                codes.append(self.model.encode(wav).reshape(-1, self.config.n_codebooks).cpu())
        vocab = (self.config.codebook_size,) * self.config.n_codebooks
        return codebook_stats(torch.cat(codes), vocab)

    # -- helpers --------------------------------------------------------------------------
    def _prepare(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        from ..audio import resample

        x = np.asarray(samples)
        if x.ndim != 1:
            raise ValueError(f"samples must be mono [N], got shape {x.shape}")
        if x.size == 0:
            raise ValueError("samples are empty")
        x = x.astype(np.float32, copy=False)
        if not np.isfinite(x).all():
            raise ValueError("samples contain NaN or infinite values")
        return resample(x, int(sample_rate), self.config.sample_rate)

    def _codebook_indices(self, names: tuple[str, ...]) -> list[int]:
        allowed = [f"q{i}" for i in range(self.config.n_codebooks)]
        bad = [n for n in names if n not in allowed]
        if bad:
            raise TokenizerError(f"unknown codebook name(s) {bad} for this rvq codec; "
                                 f"allowed: {', '.join(allowed)}")
        return [allowed.index(n) for n in names]
