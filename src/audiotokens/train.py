"""One training loop for every model the project trains (codec, vocoder, downstream heads).

A task plugs in as a :class:`Trainable`: it owns its model, optimiser and data and knows how
to take one step. The loop owns time/step budgets, logging, progress, checkpoints and resume.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

__all__ = [
    "Trainable",
    "LoopConfig",
    "LoopResult",
    "run_loop",
    "seed_everything",
    "parts_state_dict",
    "load_parts_state_dict",
]


class Trainable(Protocol):
    """What the loop drives. ``train_step`` runs forward, backward and the optimiser step."""

    def train_step(self, step: int) -> dict[str, float]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class LoopConfig:
    """Budgets: stop at ``max_steps`` or after ``max_minutes`` of wall time, whichever first."""

    max_steps: int | None = 1000
    max_minutes: float | None = None
    log_every: int = 10
    checkpoint_every: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_steps is None and self.max_minutes is None:
            raise ValueError("set max_steps or max_minutes (or both)")


@dataclass
class LoopResult:
    """Steps taken (in total, across resumes), seconds spent in this run, loss history."""

    steps: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def last(self) -> dict[str, float]:
        """The last logged metrics (empty if nothing was logged)."""
        return self.history[-1] if self.history else {}


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch (and return a generator for code that wants its own stream)."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def parts_state_dict(parts: dict[str, Any]) -> dict[str, Any]:
    """``{"model": m, "opt": o, "disc": None, ...}`` -> the state dicts of the parts that are
    not None: what a Trainable's ``state_dict`` returns to make a run resumable."""
    return {name: part.state_dict() for name, part in parts.items() if part is not None}


def load_parts_state_dict(parts: dict[str, Any], state: dict[str, Any]) -> None:
    """Inverse of :func:`parts_state_dict`; a part that is present but missing from the
    checkpoint (e.g. resuming with a discriminator a run that had none) is a clear error."""
    for name, part in parts.items():
        if part is None:
            continue
        if name not in state:
            raise ValueError(f"checkpoint has no state for '{name}' (it has {sorted(state)}); "
                             "was it written with different training options?")
        part.load_state_dict(state[name])


def _save_checkpoint(path: Path, trainable: Trainable, step: int) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"step": step, "state": trainable.state_dict()}, tmp)
    tmp.replace(path)


def run_loop(
    trainable: Trainable,
    cfg: LoopConfig,
    checkpoint: Path | None = None,
    on_log: Callable[[int, dict[str, float]], None] | None = None,
    progress_desc: str | None = "training",
    write_checkpoint: bool = True,
    agree: Callable[[bool], bool] | None = None,
) -> LoopResult:
    """Train until a budget is spent; resume from ``checkpoint`` if it exists.

    The checkpoint is written atomically every ``checkpoint_every`` steps and at the end, and
    read back with ``torch.load(weights_only=True)`` (no arbitrary unpickling).
    Data-parallel runs: every process reads the checkpoint, only the one with
    ``write_checkpoint`` writes it, and ``agree`` (e.g. an all-reduce) turns each process's
    "time is left" into one decision for all, so no process stops a step before the others.
    """
    seed_everything(cfg.seed)
    start_step = 0
    if checkpoint is not None and checkpoint.is_file():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        trainable.load_state_dict(saved["state"])
        start_step = int(saved["step"])
        seed_everything(cfg.seed + start_step)
    history: list[dict[str, float]] = []
    t0 = time.monotonic()
    deadline = None if cfg.max_minutes is None else t0 + 60.0 * cfg.max_minutes
    step = start_step

    def time_left() -> bool:
        local = deadline is None or time.monotonic() < deadline
        return local if agree is None else agree(local)

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("step {task.completed}"),
               TextColumn("{task.fields[metrics]}"), TimeElapsedColumn())
    with Progress(*columns, disable=progress_desc is None, transient=True) as bar:
        task = bar.add_task(progress_desc or "", total=cfg.max_steps, completed=step, metrics="")
        while (cfg.max_steps is None or step < cfg.max_steps) and time_left():
            metrics = trainable.train_step(step)
            step += 1
            if step % cfg.log_every == 0 or step == cfg.max_steps:
                history.append({"step": float(step), **metrics})
                if on_log is not None:
                    on_log(step, metrics)
                text = " ".join(f"{k}={v:.4g}" for k, v in metrics.items())
                bar.update(task, completed=step, metrics=text)
            if write_checkpoint and checkpoint is not None and step % cfg.checkpoint_every == 0:
                _save_checkpoint(checkpoint, trainable, step)
    if write_checkpoint and checkpoint is not None and step > start_step:
        _save_checkpoint(checkpoint, trainable, step)
    return LoopResult(steps=step, seconds=time.monotonic() - t0, history=history)
