"""Data parallelism under ``torchrun``: read the rank from the environment, join the process
group, agree on stopping. One process (``WORLD_SIZE`` unset or 1) needs none of it."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

__all__ = ["DistInfo", "dist_from_env", "init_distributed", "agree_all", "close_distributed"]


@dataclass(frozen=True)
class DistInfo:
    """This process's ``rank`` of ``world_size``; ``local_rank`` picks its GPU."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    def __post_init__(self) -> None:
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError(f"invalid rank {self.rank} of world size {self.world_size}")

    @property
    def is_main(self) -> bool:
        """True for the process that writes checkpoints, models and logs."""
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        """True when more than one process trains."""
        return self.world_size > 1


def dist_from_env() -> DistInfo:
    """``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` as ``torchrun`` sets them (defaults 0/1/0)."""
    env = os.environ
    return DistInfo(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)),
                    int(env.get("LOCAL_RANK", 0)))


def init_distributed(info: DistInfo, device: str) -> str:
    """Join the process group (``env://``: MASTER_ADDR/PORT from torchrun) if not joined yet;
    NCCL on CUDA, gloo on CPU. Returns the device this process uses (``cuda:LOCAL_RANK`` when
    ``device`` is ``cuda``)."""
    if device == "cuda" and info.parallel:
        device = f"cuda:{info.local_rank}"
        torch.cuda.set_device(device)
    if info.parallel and not torch.distributed.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        torch.distributed.init_process_group(backend, rank=info.rank,
                                             world_size=info.world_size)
    return device


def agree_all(flag: bool) -> bool:
    """True only if ``flag`` is True in every process (an all-reduce MIN); the flag itself
    when no process group is running."""
    if not torch.distributed.is_initialized():
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    if torch.distributed.get_backend() == "nccl":
        t = t.cuda()
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MIN)
    return bool(t.item())


def close_distributed() -> None:
    """Leave the process group if one is running."""
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
