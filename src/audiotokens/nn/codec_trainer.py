"""Training task for :class:`~audiotokens.nn.codec.ConvCodec`, driven by ``train.run_loop``.

:class:`SegmentSampler` draws random fixed-length segments from in-memory clips;
:class:`CodecTrainable` takes one optimisation step (reconstruction + commitment losses, and
optionally a hinge GAN with feature matching) and checkpoints model, optimiser(s) and the
k-means-initialised codebooks. Optionally training starts with a quantizer warm-up (plain
autoencoder) so the codebooks are initialised from a trained encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..train import load_parts_state_dict, parts_state_dict
from .codec import ConvCodec
from .losses import ReconstructionLoss, ReconstructionLossConfig

__all__ = ["CodecTrainConfig", "SegmentSampler", "CodecTrainable"]


@dataclass(frozen=True)
class CodecTrainConfig:
    """Optimisation settings.

    ``quantizer_warmup_steps``: the first steps train a plain autoencoder (quantizer
    bypassed); at the switch step the codebooks are k-means-initialised from
    ``kmeans_batches`` batches of the now-trained encoder's outputs and quantization starts.
    0 (off) by default: in 465-step CPU runs it did not beat initialising at step 0, because
    the plain autoencoder is itself still near-silent that early.
    ``lr_warmup_steps``: the learning rate ramps linearly from ``lr / lr_warmup_steps`` to
    ``lr`` (a pure function of the step, so resuming is exact). ``adversarial`` adds the STFT
    discriminator.
    """

    batch_size: int = 8
    segment_samples: int = 16000
    lr: float = 1e-3
    commit_weight: float = 1.0
    grad_clip: float = 1.0
    kmeans_batches: int = 8
    quantizer_warmup_steps: int = 0
    lr_warmup_steps: int = 0
    adversarial: bool = False
    adversarial_weight: float = 1.0
    feature_weight: float = 2.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.segment_samples < 1 or self.kmeans_batches < 1:
            raise ValueError("batch_size, segment_samples and kmeans_batches must be >= 1")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.grad_clip <= 0:
            raise ValueError(f"grad_clip must be > 0, got {self.grad_clip}")
        if self.quantizer_warmup_steps < 0 or self.lr_warmup_steps < 0:
            raise ValueError("quantizer_warmup_steps and lr_warmup_steps must be >= 0, got "
                             f"{self.quantizer_warmup_steps} and {self.lr_warmup_steps}")

    def lr_at(self, step: int) -> float:
        """Learning rate of (0-based) step ``step``: linear warm-up, then constant."""
        if self.lr_warmup_steps == 0:
            return self.lr
        return self.lr * min(1.0, (step + 1) / self.lr_warmup_steps)


def _num(t: torch.Tensor) -> float:
    """A 0-d tensor as a Python float, without autograd warnings."""
    return float(t.detach())


class SegmentSampler:
    """Random segments of ``length`` samples from mono float32 clips [N_i].

    Clips are picked with probability proportional to their length; clips shorter than
    ``length`` are zero-padded. Batch ``step`` is a pure function of (seed, step), so a
    resumed run sees the same data as an uninterrupted one.
    """

    def __init__(self, clips: list[np.ndarray], length: int, seed: int = 0) -> None:
        clips = [np.asarray(c, dtype=np.float32) for c in clips if len(c) > 0]
        if not clips:
            raise ValueError("no non-empty clips to sample training segments from")
        self.clips = clips
        self.length = length
        self.seed = seed
        sizes = np.array([len(c) for c in clips], dtype=np.float64)
        self.weights = sizes / sizes.sum()

    def batch(self, step: int, batch_size: int, stream: int = 0) -> torch.Tensor:
        """float32 [batch_size, 1, length]: batch ``step`` (>= 0) of random stream ``stream``
        (0 = training; other streams for k-means init and evaluation)."""
        rng = np.random.default_rng([self.seed, stream, step])
        out = np.zeros((batch_size, 1, self.length), dtype=np.float32)
        for b, i in enumerate(rng.choice(len(self.clips), size=batch_size, p=self.weights)):
            clip = self.clips[i]
            if len(clip) <= self.length:
                start = int(rng.integers(0, self.length - len(clip) + 1))
                out[b, 0, start: start + len(clip)] = clip
            else:
                start = int(rng.integers(0, len(clip) - self.length + 1))
                out[b, 0] = clip[start: start + self.length]
        return torch.from_numpy(out)


class CodecTrainable:
    """One codec optimisation step per call; a ``train.Trainable``."""

    def __init__(self, model: ConvCodec, sampler: SegmentSampler, cfg: CodecTrainConfig,
                 loss: ReconstructionLossConfig | None = None, device: str = "cpu") -> None:
        self.model = model.to(device)
        self.sampler = sampler
        self.cfg = cfg
        self.device = device
        self.loss = ReconstructionLoss(loss).to(device)
        self.opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.8, 0.99))
        self.disc = None
        self.opt_d = None
        if cfg.adversarial:
            from .discriminator import MultiScaleSTFTDiscriminator

            self.disc = MultiScaleSTFTDiscriminator().to(device)
            self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=cfg.lr, betas=(0.8, 0.99))

    def _batch(self, step: int, stream: int = 0) -> torch.Tensor:
        return self.sampler.batch(step, self.cfg.batch_size, stream).to(self.device)

    def init_codebooks(self) -> None:
        """k-means init of every codebook from ``kmeans_batches`` batches of encoder outputs."""
        if self.model.quantizer.is_initialized:
            return
        was_training = self.model.training
        self.model.eval()
        lat = [self.model.latents(self._batch(i, stream=1)) for i in range(self.cfg.kmeans_batches)]
        flat = torch.cat([x.permute(0, 2, 1).reshape(-1, x.shape[1]) for x in lat])
        self.model.quantizer.init_kmeans(flat, per_step=flat.shape[0] / len(lat))
        self.model.train(was_training)

    def quantizing(self, step: int) -> bool:
        """Whether step ``step`` (0-based) runs the quantizer (False during the warm-up)."""
        return step >= self.cfg.quantizer_warmup_steps

    def train_step(self, step: int) -> dict[str, float]:
        """Forward, losses, backward, optimiser step(s) on batch ``step``; returns metrics.

        Before ``quantizer_warmup_steps`` the quantizer is bypassed; the first quantized step
        k-means-initialises the codebooks from the current encoder.
        """
        quantize = self.quantizing(step)
        if quantize:
            self.init_codebooks()
        for group in self.opt.param_groups:
            group["lr"] = self.cfg.lr_at(step)
        self.model.train()
        wav = self._batch(step)
        out = self.model(wav, quantize=quantize)
        terms = self.loss(out.audio, wav)
        total = terms.total
        metrics: dict[str, float] = {"quantized": float(quantize)}
        if out.vq is not None:
            total = total + self.cfg.commit_weight * out.vq.commit_loss
            metrics.update(commit=_num(out.vq.commit_loss), ppl0=_num(out.vq.perplexity[0]),
                           restarted=float(out.vq.restarted))
        else:
            metrics.update(commit=0.0, ppl0=0.0, restarted=0.0)
        if self.disc is not None:
            metrics.update(self._adversarial(wav, out.audio))
            fake, real = self.disc(out.audio), self.disc(wav)
            from .discriminator import feature_matching_loss, hinge_generator_loss

            g_adv = hinge_generator_loss(fake)
            g_feat = feature_matching_loss(real, fake)
            total = total + self.cfg.adversarial_weight * g_adv + self.cfg.feature_weight * g_feat
            metrics.update(g_adv=_num(g_adv), g_feat=_num(g_feat))
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        metrics.update(
            loss=_num(total), mel=_num(terms.mel), sc=_num(terms.spectral_convergence),
            logmag=_num(terms.log_magnitude),
        )
        return metrics

    def _adversarial(self, wav: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
        """One discriminator step on (real, detached fake)."""
        from .discriminator import hinge_discriminator_loss

        assert self.disc is not None and self.opt_d is not None
        d_loss = hinge_discriminator_loss(self.disc(wav), self.disc(fake.detach()))
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        return {"d_loss": _num(d_loss)}

    def _parts(self) -> dict[str, Any]:
        return {"model": self.model, "opt": self.opt, "disc": self.disc, "opt_d": self.opt_d}

    def state_dict(self) -> dict[str, Any]:
        """Model, optimiser(s): everything needed to resume."""
        return parts_state_dict(self._parts())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""
        load_parts_state_dict(self._parts(), state)
