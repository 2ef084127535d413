"""Train a unit vocoder on a tokenizer's tokens of the audio in a manifest.

:func:`train_vocoder` encodes every clip once (kept in memory), then
:func:`audiotokens.train.run_loop` drives :class:`VocoderTrainable`: random aligned
(tokens, waveform) segments, a random codebook subset per batch (layer dropout), the
reconstruction loss of :mod:`audiotokens.nn.losses` and, with ``adversarial=True``, the
multi-scale STFT discriminator of :mod:`audiotokens.nn.discriminator`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..nn.losses import ReconstructionLoss, ReconstructionLossConfig
from ..tokenizers.base import Tokenizer, TokenizerError
from ..train import LoopConfig, load_parts_state_dict, parts_state_dict, run_loop
from .config import VocoderConfig
from .data import SegmentSampler, VocoderBatch, load_clips
from .model import UnitVocoder

__all__ = [
    "VocoderTrainOptions",
    "VocoderTrainResult",
    "VocoderTrainable",
    "train_vocoder",
    "vocoder_config_for",
]


@dataclass
class VocoderTrainOptions:
    """Budgets (stop at ``max_steps`` or after ``minutes``, whichever first), batches of
    ``batch_size`` segments of ``segment_frames`` token frames, Adam ``lr`` (None = the
    generator's :attr:`~audiotokens.vocoder.config.VocoderConfig.default_lr`), ``seed``, an
    optional resumable ``checkpoint`` file and the torch ``device``. ``layers``: train on
    these codebooks only (names or indices; a vocoder for one layer set, no layer dropout);
    None: all, with the config's layer dropout."""

    minutes: float | None = None
    max_steps: int | None = 1000
    batch_size: int = 8
    segment_frames: int = 32
    lr: float | None = None
    seed: int = 0
    checkpoint: Path | None = None
    device: str = "cpu"
    log_every: int = 10
    checkpoint_every: int = 200
    grad_clip: float = 10.0
    adversarial_weight: float = 1.0
    feature_weight: float = 2.0
    layers: tuple[str | int, ...] | None = None

    def __post_init__(self) -> None:
        if self.minutes is None and self.max_steps is None:
            raise ValueError("set minutes or max_steps (or both)")
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError(f"minutes must be > 0, got {self.minutes}")
        if self.max_steps is not None and self.max_steps < 0:
            raise ValueError(f"max_steps must be >= 0, got {self.max_steps}")
        for name in ("batch_size", "segment_frames", "log_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr is not None and self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.checkpoint is not None:
            self.checkpoint = Path(self.checkpoint)


@dataclass
class VocoderTrainResult:
    """The trained model (on ``options.device``, eval mode), total steps, seconds of this run,
    the logged metrics, and how much data it saw."""

    model: UnitVocoder
    steps: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    n_clips: int = 0
    n_frames: int = 0

    @property
    def last(self) -> dict[str, float]:
        """The last logged metrics (empty if nothing was logged)."""
        return self.history[-1] if self.history else {}


def vocoder_config_for(tokenizer: Tokenizer, **overrides: Any) -> VocoderConfig:
    """A :class:`VocoderConfig` matching ``tokenizer.info`` (vocab sizes, codebook names,
    sample rate, hop = sample_rate / frame_rate), with ``overrides`` for the other fields."""
    info = tokenizer.info
    hop = info.sample_rate / info.frame_rate
    if abs(hop - round(hop)) > 1e-6:
        raise TokenizerError(f"tokenizer '{tokenizer.name}': sample_rate {info.sample_rate} / "
                             f"frame_rate {info.frame_rate} is not a whole number of samples")
    derived = {"vocab_sizes": info.vocab_sizes, "codebook_names": info.codebook_names,
               "sample_rate": info.sample_rate, "hop_length": int(round(hop))}
    fixed = sorted(set(overrides) & set(derived))
    if fixed:
        raise ValueError(f"{fixed} come from the tokenizer and cannot be overridden")
    return VocoderConfig.from_dict({**derived, **overrides})


def _check_matches(tokenizer: Tokenizer, config: VocoderConfig) -> None:
    expected = vocoder_config_for(tokenizer)
    for name in ("vocab_sizes", "sample_rate", "hop_length"):
        if getattr(config, name) != getattr(expected, name):
            raise ValueError(f"vocoder config {name}={getattr(config, name)} does not match "
                             f"tokenizer '{tokenizer.name}' ({getattr(expected, name)})")


def _num(t: torch.Tensor) -> float:
    return float(t.detach())


class VocoderTrainable:
    """One vocoder optimisation step per call; a :class:`audiotokens.train.Trainable`."""

    def __init__(self, model: UnitVocoder, sampler: SegmentSampler, options: VocoderTrainOptions,
                 loss: ReconstructionLossConfig | None = None) -> None:
        self.device = options.device
        self.model = model.to(self.device)
        self.sampler = sampler
        self.options = options
        rate = model.config.sample_rate
        self.loss = ReconstructionLoss(loss or ReconstructionLossConfig(sample_rate=rate))
        self.loss.to(self.device)
        lr = model.config.default_lr if options.lr is None else options.lr
        self.opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.8, 0.99))
        self.disc: torch.nn.Module | None = None
        self.opt_d: torch.optim.Optimizer | None = None
        if model.config.adversarial:
            from ..nn.discriminator import MultiScaleSTFTDiscriminator

            self.disc = MultiScaleSTFTDiscriminator().to(self.device)
            self.opt_d = torch.optim.AdamW(self.disc.parameters(), lr=lr,
                                           betas=(0.8, 0.99))

    def _batch(self, step: int, stream: int = 0, full_mask: bool = False) -> VocoderBatch:
        return self.sampler.batch(step, self.options.batch_size, stream, full_mask).to(self.device)

    def train_step(self, step: int) -> dict[str, float]:
        """Forward, losses, backward, optimiser step(s) on batch ``step``; returns metrics."""
        self.model.train()
        batch = self._batch(step)
        fake = self.model(batch.inputs, batch.mask, batch.speaker)
        terms = self.loss(fake, batch.audio)
        total = terms.total
        metrics: dict[str, float] = {}
        if self.disc is not None:
            metrics.update(self._discriminator_step(batch.audio, fake))
            from ..nn.discriminator import feature_matching_loss, hinge_generator_loss

            d_fake, d_real = self.disc(fake[:, None]), self.disc(batch.audio[:, None])
            g_adv, g_feat = hinge_generator_loss(d_fake), feature_matching_loss(d_real, d_fake)
            total = (total + self.options.adversarial_weight * g_adv
                     + self.options.feature_weight * g_feat)
            metrics.update(g_adv=_num(g_adv), g_feat=_num(g_feat))
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.options.grad_clip)
        self.opt.step()
        metrics.update(loss=_num(total), mel=_num(terms.mel),
                       sc=_num(terms.spectral_convergence), logmag=_num(terms.log_magnitude),
                       n_layers=float(batch.mask.sum()))
        return metrics

    def _discriminator_step(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
        from ..nn.discriminator import hinge_discriminator_loss

        assert self.disc is not None and self.opt_d is not None
        d_real, d_fake = self.disc(real[:, None]), self.disc(fake.detach()[:, None])
        d_loss = hinge_discriminator_loss(d_real, d_fake)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        return {"d_loss": _num(d_loss)}

    def evaluate(self, n_batches: int = 2) -> float:
        """Mean reconstruction loss (all codebooks) over fixed held-back batches (stream 1)."""
        self.model.eval()
        losses = []
        with torch.no_grad():
            for i in range(n_batches):
                batch = self._batch(i, stream=1, full_mask=True)
                pred = self.model(batch.inputs, batch.mask, batch.speaker)
                losses.append(_num(self.loss(pred, batch.audio).total))
        return sum(losses) / len(losses)

    def _parts(self) -> dict[str, Any]:
        return {"model": self.model, "opt": self.opt, "disc": self.disc, "opt_d": self.opt_d}

    def state_dict(self) -> dict[str, Any]:
        """Model, optimiser(s): everything needed to resume."""
        return parts_state_dict(self._parts())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""
        load_parts_state_dict(self._parts(), state)


def train_vocoder(tokenizer: Tokenizer, manifest_path: str | Path,
                  config: VocoderConfig | None = None,
                  options: VocoderTrainOptions | None = None,
                  progress_desc: str | None = "vocoder") -> VocoderTrainResult:
    """Train a :class:`UnitVocoder` for ``tokenizer`` on the audio of a JSONL manifest.

    Audio is read at ``tokenizer.info.sample_rate`` and encoded once with ``tokenizer.encode``;
    ``config`` defaults to :func:`vocoder_config_for`. With ``options.checkpoint`` set, the run
    checkpoints and resumes from it (``max_steps`` counts steps across resumes).
    """
    options = options or VocoderTrainOptions()
    config = config or vocoder_config_for(tokenizer)
    _check_matches(tokenizer, config)
    clips = load_clips(tokenizer, manifest_path, config)
    torch.manual_seed(options.seed)
    model = UnitVocoder(config)
    keep = None if options.layers is None else model.layer_mask(list(options.layers)).numpy()
    sampler = SegmentSampler(clips, config, options.segment_frames, options.seed, keep)
    trainable = VocoderTrainable(model, sampler, options)
    loop = LoopConfig(max_steps=options.max_steps, max_minutes=options.minutes,
                      log_every=options.log_every, checkpoint_every=options.checkpoint_every,
                      seed=options.seed)
    result = run_loop(trainable, loop, checkpoint=options.checkpoint, progress_desc=progress_desc)
    model = trainable.model.eval()
    return VocoderTrainResult(model=model, steps=result.steps, seconds=result.seconds,
                              history=result.history, n_clips=len(clips),
                              n_frames=sum(c.n_frames for c in clips))

