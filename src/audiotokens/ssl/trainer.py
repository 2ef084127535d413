"""One masked-prediction training step for :class:`HubertPretrainModel`, as a
``train.Trainable`` driven by ``train.run_loop`` (which owns budgets, progress, checkpoints
and resume).

Per step: the step's batch (see ``data.StepDataset``), a fresh span mask drawn from a
generator seeded by (seed, step, rank) so a resumed run masks identically, forward under
autocast on CUDA (bf16 where supported, else fp16 with a grad scaler; fp32 on CPU),
backward, gradient clipping, AdamW. The learning rate warms up linearly over
``warmup_steps``, then decays linearly to ``final_lr_ratio`` of the peak as the budget is
spent: the share of ``max_steps`` or of the wall time this process was given, whichever is
larger (the steps a time budget buys are not known in advance; a resumed run decays over
its own new budget).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from ..train import load_parts_state_dict, parts_state_dict
from .data import Batch, StepDataset, step_loader
from .distributed import DistInfo
from .masking import MaskConfig, span_mask
from .model import HubertPretrainModel

__all__ = ["TrainConfig", "PretrainTrainable", "amp_dtype"]

AMP_CHOICES = ("auto", "bf16", "fp16", "off")


@dataclass(frozen=True)
class TrainConfig:
    """AdamW settings (HuBERT: betas 0.9/0.98, eps 1e-6), warm-up steps, gradient clip
    (max norm), ``amp``: auto|bf16|fp16|off (auto: bf16 on CUDA if supported, else fp16;
    always off on CPU)."""

    lr: float = 4e-3
    warmup_steps: int = 20
    final_lr_ratio: float = 0.05
    weight_decay: float = 0.01
    grad_clip: float = 10.0
    amp: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.grad_clip <= 0 or self.weight_decay < 0:
            raise ValueError("lr and grad_clip must be > 0 and weight_decay >= 0")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if not 0 <= self.final_lr_ratio <= 1:
            raise ValueError(f"final_lr_ratio must be in [0, 1], got {self.final_lr_ratio}")
        if self.amp not in AMP_CHOICES:
            raise ValueError(f"amp must be one of {', '.join(AMP_CHOICES)}, got {self.amp!r}")

    def lr_at(self, step: int, progress: float = 0.0) -> float:
        """Learning rate of (0-based) ``step`` when ``progress`` (0..1) of the budget is
        spent: linear warm-up, then linear decay to ``final_lr_ratio * lr`` at progress 1."""
        warm = 1.0 if self.warmup_steps == 0 else min(1.0, (step + 1) / self.warmup_steps)
        decay = 1.0 - (1.0 - self.final_lr_ratio) * min(max(progress, 0.0), 1.0)
        return self.lr * warm * decay


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device`` (None = full precision; CPU is always
    full precision)."""
    if device.type != "cuda" or amp == "off":
        return None
    if amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if amp == "bf16" else torch.float16


class PretrainTrainable:
    """Model + optimiser + data of one pretraining iteration (DDP-wrapped when parallel)."""

    def __init__(self, model: HubertPretrainModel, dataset: StepDataset, cfg: TrainConfig,
                 mask: MaskConfig, device: str | torch.device = "cpu",
                 dist: DistInfo | None = None, max_steps: int | None = None,
                 budget_seconds: float | None = None) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).train()
        self.dist = dist or DistInfo()
        self.net: torch.nn.Module = self.model
        if self.dist.parallel:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.dataset, self.cfg, self.mask_cfg = dataset, cfg, mask
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, betas=(0.9, 0.98),
                                     eps=1e-6, weight_decay=cfg.weight_decay)
        self.dtype = amp_dtype(cfg.amp, self.device)
        self.scaler = torch.amp.GradScaler("cuda") if self.dtype == torch.float16 else None
        self.audio_seconds = 0.0
        self.max_steps, self.budget_seconds = max_steps, budget_seconds
        self._batches: Iterator[Batch] | None = None
        self._t0: float | None = None

    def progress(self, step: int) -> float:
        """Share of the budget spent: the larger of the wall-time share (when a time budget
        was given) and the ``max_steps`` share; 0 without either (constant after warm-up)."""
        shares = [0.0]
        if self.budget_seconds is not None and self._t0 is not None:
            shares.append((time.monotonic() - self._t0) / self.budget_seconds)
        if self.max_steps:
            shares.append(step / self.max_steps)
        return max(shares)

    def _mask(self, batch: Batch) -> torch.Tensor:
        b, t = batch.targets.shape
        gen = torch.Generator().manual_seed(
            (self.cfg.seed * 1_000_003 + batch.step) * 1009 + self.dist.rank)
        return span_mask(torch.full((b,), t), t, self.mask_cfg, gen).mask

    def train_step(self, step: int) -> dict[str, float]:
        """One optimiser step on the batch of ``step`` -> loss, masked accuracy, lr."""
        if self._batches is None:
            self._batches = step_loader(self.dataset, step)
            self._t0 = time.monotonic()
        batch = next(self._batches)
        assert batch.step == step, f"loader gave step {batch.step} for step {step}"
        lr = self.cfg.lr_at(step, self.progress(step))
        for group in self.opt.param_groups:
            group["lr"] = lr
        wav = batch.wav.to(self.device, non_blocking=True)
        targets = batch.targets.to(self.device, non_blocking=True)
        mask = self._mask(batch).to(self.device)
        autocast = (torch.autocast(self.device.type, dtype=self.dtype) if self.dtype
                    else contextlib.nullcontext())
        with autocast:
            out = self.net(wav, targets, mask)
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(out.loss).backward()
            self.scaler.unscale_(self.opt)
        else:
            out.loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            self.opt.step()
        self.audio_seconds += batch.seconds * self.dist.world_size
        return {"loss": float(out.loss.detach()), "acc": out.accuracy, "lr": lr}

    def _parts(self) -> dict[str, Any]:
        return {"model": self.model, "opt": self.opt, "scaler": self.scaler}

    def state_dict(self) -> dict[str, Any]:
        """Model (head included), optimiser, grad scaler and audio seconds seen."""
        return {**parts_state_dict(self._parts()), "audio_seconds": self.audio_seconds}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""
        load_parts_state_dict(self._parts(), state)
        self.audio_seconds = float(state.get("audio_seconds", 0.0))
