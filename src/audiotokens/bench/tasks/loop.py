"""The one training loop for every task: sample batches, step, validate, stop early, test.

Training runs through :func:`audiotokens.train.run_loop` in rounds of ``eval_every`` steps;
after each round the validation metric decides whether to keep the weights, and training
stops after ``patience`` rounds without improvement. The best weights are then tested.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ...data.manifest import ManifestItem
from ...train import LoopConfig, run_loop, seed_everything
from ..arrays import n_frames
from ..features import InputSpec
from ..heads import COMBINE_MODES, CORE_KINDS, ContinuousInput, DownstreamModel, TokenEmbedding
from .base import Batch, Task, TaskData, collate

__all__ = ["STOP_REASONS", "TrainConfig", "TrainResult", "build_model", "input_stride",
           "train_and_evaluate"]


@dataclass(frozen=True)
class TrainConfig:
    """Head training settings. Training validates every ``eval_every`` steps and stops when
    ``patience`` validations in a row did not improve on the best (counted only after
    ``min_steps``: CTC sits on a blank plateau first) or at ``max_steps``, the budget.
    ``max_frame_rate`` caps the head's frame rate by average-pooling (mu-law's 16 kHz
    "frames" -> 50 Hz); ``device`` is any torch device string; ``init_embeddings``: start
    the token tables from the tokenizer's codebook vectors (k-means centroids, codec
    codebooks; see ``Tokenizer.codebook_vectors``) where it has them, else (the default)
    from random tables. ``freeze_embeddings``: those token tables (random or from vectors)
    are not trained. ``core``: the sequence core of the heads that have one (CTC ASR,
    enhancement, TTS): "lstm" (BiLSTM) or "conv" (dilated residual convolutions); see
    :mod:`audiotokens.bench.cores`. ``out_rank``: rank of the factorised output layer of the
    heads that emit tokens (enhancement, TTS; 0 = a full linear layer over every id), see
    :class:`~audiotokens.bench.heads.TokenEnhancer`."""

    max_steps: int = 300
    min_steps: int = 0
    batch_size: int = 16
    lr: float = 2e-3
    eval_every: int = 50
    patience: int = 2
    dim: int = 64
    hidden: int = 128
    combine: str = "softmax"
    max_frame_rate: float = 50.0
    device: str = "cpu"
    seed: int = 0
    init_embeddings: bool = False
    freeze_embeddings: bool = False
    core: str = "lstm"
    out_rank: int = 0

    def __post_init__(self) -> None:
        if self.combine not in COMBINE_MODES:
            raise ValueError(f"combine must be one of {COMBINE_MODES}, got {self.combine!r}")
        if self.core not in CORE_KINDS:
            raise ValueError(f"core must be one of {CORE_KINDS}, got {self.core!r}")
        for name in ("max_steps", "batch_size", "eval_every", "patience", "dim", "hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.out_rank < 0:
            raise ValueError(f"out_rank must be >= 0, got {self.out_rank}")
        if not 0 <= self.min_steps <= self.max_steps:
            raise ValueError(f"min_steps must be in [0, max_steps], got {self.min_steps}")
        if not self.lr > 0 or not self.max_frame_rate > 0:
            raise ValueError("lr and max_frame_rate must be positive")


STOP_REASONS = ("converged", "budget")


@dataclass
class TrainResult:
    """Test metrics of the best-on-validation weights, plus how training went: ``stopped``
    is "converged" (``patience`` validations in a row without improvement) or "budget"
    (``max_steps`` reached first); ``history`` has one row per validation (step, training
    loss, validation metrics). ``model`` has the best weights, in eval mode."""

    metrics: dict[str, float]
    valid_metrics: dict[str, float]
    steps: int
    best_step: int
    codebook_weights: list[float] | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    model: DownstreamModel | None = None
    stopped: str = "budget"


def input_stride(spec: InputSpec, cfg: TrainConfig) -> int:
    """Input frames pooled into one head frame so the head runs at <= ``max_frame_rate``."""
    return max(1, int(np.ceil(spec.frame_rate / cfg.max_frame_rate - 1e-6)))


def build_model(task: Task, spec: InputSpec, data: TaskData, cfg: TrainConfig,
                init_vectors: list[np.ndarray] | None = None) -> DownstreamModel:
    """Input module for what the task reads (``task.input_spec(spec)``, by default the
    tokenizer's ``spec``) + task head. The input module average-pools frames down to
    <= ``max_frame_rate`` unless the task sets ``pools_input = False`` (its head then gets
    the full-rate frames and the stride, and reduces the rate itself). ``init_vectors``
    (float [V_c, E] per codebook of ``spec``) initialise the token tables when the task
    reads the tokenizer's own tokens; ``cfg.freeze_embeddings`` freezes those tables."""
    stride = input_stride(spec, cfg)
    pool = stride if task.pools_input else 1
    in_spec = task.input_spec(spec, data)
    inputs: TokenEmbedding | ContinuousInput
    if in_spec.kind == "tokens":
        init = None
        own = in_spec == spec  # not TTS's phone input
        if init_vectors is not None and own:
            init = [torch.as_tensor(np.asarray(v, dtype=np.float32)) for v in init_vectors]
        inputs = TokenEmbedding(in_spec.vocab_sizes, cfg.dim, cfg.combine, init_vectors=init,
                                stride=pool, freeze=cfg.freeze_embeddings and own)
    else:
        inputs = ContinuousInput(in_spec.n_features, cfg.dim, stride=pool)
    head = task.build_head(inputs.out_dim, data, cfg.hidden, spec=spec, stride=stride,
                           core=cfg.core, out_rank=cfg.out_rank)
    return DownstreamModel(inputs, head)  # type: ignore[arg-type]


def _eval_batches(items: list[ManifestItem], arrays: Mapping[str, np.ndarray], data: TaskData,
                  size: int, device: str) -> Iterator[Batch]:
    order = sorted(items, key=lambda it: n_frames(arrays, it.id))  # from a store's index
    for i in range(0, len(order), size):
        yield collate(order[i:i + size], arrays, data).to(device)


class _HeadTrainer:
    """The :class:`audiotokens.train.Trainable` for one task: shuffled batches, AdamW."""

    def __init__(self, task: Task, model: DownstreamModel, data: TaskData,
                 arrays: Mapping[str, np.ndarray], cfg: TrainConfig) -> None:
        self.task, self.model, self.data, self.arrays, self.cfg = task, model, data, arrays, cfg
        self.opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self._order: list[int] = []

    def _next_items(self) -> list[ManifestItem]:
        """The next batch of an epoch: a shuffled pass over ``data.train`` in batches of
        ``batch_size``, its last one smaller, so an epoch reads every item exactly once."""
        train = self.data.train
        if not self._order:
            self._order = torch.randperm(len(train), generator=self.gen).tolist()
        picked, self._order = self._order[:self.cfg.batch_size], self._order[self.cfg.batch_size:]
        return [train[i] for i in picked]

    def train_step(self, step: int) -> dict[str, float]:
        self.model.train()
        batch = collate(self._next_items(), self.arrays, self.data).to(self.cfg.device)
        loss = self.task.loss(self.model, batch)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.opt.step()
        return {"loss": float(loss.detach())}

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])


@torch.no_grad()
def _evaluate(task: Task, model: DownstreamModel, split: list[ManifestItem],
              arrays: Mapping[str, np.ndarray], data: TaskData, cfg: TrainConfig
              ) -> dict[str, float]:
    model.eval()
    batches = _eval_batches(split, arrays, data, 2 * cfg.batch_size, cfg.device)
    return task.evaluate(model, batches, data)


def _better(task: Task, value: float, best: float | None) -> bool:
    if best is None:
        return True
    return value > best if task.primary.higher_is_better else value < best


def train_and_evaluate(task: Task, data: TaskData, arrays: Mapping[str, np.ndarray],
                       spec: InputSpec, cfg: TrainConfig,
                       progress_desc: str | None = None,
                       init_vectors: list[np.ndarray] | None = None) -> TrainResult:
    """Train ``task``'s model on ``data.train`` from ``arrays`` (id -> [T, C] int64 ids or
    [T, F] float32 features; a lazy store mapping is read one batch at a time), early-stop
    on ``data.valid``, return test metrics.
    ``init_vectors``: see :func:`build_model` (used when ``cfg.init_embeddings``)."""
    seed_everything(cfg.seed)
    vectors = init_vectors if cfg.init_embeddings else None
    model = build_model(task, spec, data, cfg, vectors).to(cfg.device)
    trainer = _HeadTrainer(task, model, data, arrays, cfg)
    best: float | None = None
    best_state, best_valid, best_step = copy.deepcopy(model.state_dict()), {}, 0
    steps, bad_rounds, history = 0, 0, []
    while steps < cfg.max_steps and bad_rounds < cfg.patience:
        n = min(cfg.eval_every, cfg.max_steps - steps)
        loop = run_loop(trainer, LoopConfig(max_steps=n, log_every=n, checkpoint_every=n + 1,
                                            seed=cfg.seed + steps), progress_desc=progress_desc)
        steps += n
        valid = _evaluate(task, model, data.valid, arrays, data, cfg)
        history.append({**loop.last, **valid, "step": float(steps)})  # total, not per round
        value = valid[task.primary.name]
        if _better(task, value, best):
            best, best_valid, best_step, bad_rounds = value, valid, steps, 0
            best_state = copy.deepcopy(model.state_dict())
        elif steps >= cfg.min_steps:
            bad_rounds += 1
    model.load_state_dict(best_state)
    if isinstance(model.inputs, TokenEmbedding):
        model.inputs.reset_weight_stats()
    metrics = _evaluate(task, model, data.test, arrays, data, cfg)
    stopped = "converged" if bad_rounds >= cfg.patience else "budget"
    return TrainResult(metrics, best_valid, steps, best_step, model.codebook_weights(), history,
                       model, stopped)
