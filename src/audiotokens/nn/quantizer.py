"""Residual vector quantization with EMA codebooks (SoundStream / EnCodec recipe).

Each :class:`EMACodebook` is initialised by k-means on real encoder outputs, updated by an
exponential moving average of the vectors assigned to each code (no codebook gradients),
and restarts dead codes (EMA assignment count below a threshold) from random recent encoder
outputs. :class:`ResidualVQ` chains ``n_codebooks`` of them on successive residuals, applies
quantizer dropout (a random number of codebooks per training item, so one model serves several
bitrates), a commitment loss and the straight-through estimator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = [
    "VQConfig",
    "VQOutput",
    "CodebookStats",
    "EMACodebook",
    "ResidualVQ",
    "kmeans",
    "codebook_stats",
]


@dataclass(frozen=True)
class VQConfig:
    """Residual VQ settings.

    ``dead_code_ratio``: a code is dead when its EMA count of assignments per step falls below
    ``dead_code_ratio * vectors_per_step / codebook_size`` (a fraction of a uniform share).
    ``quantizer_dropout``: probability that a training item uses a random number of
    codebooks in [1, n_codebooks] instead of all of them.
    """

    dim: int = 64
    codebook_size: int = 1024
    n_codebooks: int = 8
    decay: float = 0.99
    epsilon: float = 1e-5
    dead_code_ratio: float = 0.1
    kmeans_iters: int = 10
    quantizer_dropout: float = 0.5

    def __post_init__(self) -> None:
        for name in ("dim", "codebook_size", "n_codebooks"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {self.decay}")
        if not 0.0 <= self.quantizer_dropout <= 1.0:
            raise ValueError(f"quantizer_dropout must be in [0, 1], got {self.quantizer_dropout}")
        if self.dead_code_ratio < 0 or self.kmeans_iters < 0:
            raise ValueError("dead_code_ratio and kmeans_iters must be >= 0")


@dataclass
class VQOutput:
    """``quantized`` [B, D, T] (straight-through in training), ``codes`` int64 [B, T, n_q],
    ``commit_loss`` scalar, ``perplexity``/``usage`` per codebook [n_q] (this batch),
    ``restarted`` dead codes replaced this step (0 outside training)."""

    quantized: torch.Tensor
    codes: torch.Tensor
    commit_loss: torch.Tensor
    perplexity: torch.Tensor
    usage: torch.Tensor
    restarted: int = 0


@dataclass(frozen=True)
class CodebookStats:
    """Per-codebook use: ``perplexity`` = exp(entropy) of code frequencies (1..K), ``usage`` =
    fraction of the K codes used at least once."""

    perplexity: float
    usage: float


def kmeans(x: torch.Tensor, k: int, iters: int, generator: torch.Generator | None = None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd k-means of [M, D] float vectors -> (centroids [k, D], counts [k] float).

    k-means++ seeding (D^2 sampling; with M < k some vectors repeat); a cluster that
    empties keeps its previous centroid.
    """
    centroids = _kmeans_pp(x, k, generator)
    counts = torch.zeros(k, device=x.device, dtype=x.dtype)
    for _ in range(max(iters, 1)):
        assign = _nearest(x, centroids)
        counts = torch.bincount(assign, minlength=k).to(x.dtype)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
    return centroids, counts


def _kmeans_pp(x: torch.Tensor, k: int, generator: torch.Generator | None) -> torch.Tensor:
    """k-means++ seeds [k, D]: each next seed drawn with probability ~ squared distance."""
    gen_device = "cpu" if generator is None else generator.device
    u = torch.rand(k, generator=generator, device=gen_device, dtype=torch.float64).to(x.device)
    idx = torch.empty(k, dtype=torch.long, device=x.device)
    idx[0] = torch.clamp((u[0] * x.shape[0]).long(), max=x.shape[0] - 1)
    d2 = (x - x[idx[0]]).pow(2).sum(1).double()
    for i in range(1, k):
        cum = torch.cumsum(d2, 0)
        # u * total; when all distances are 0 (fewer distinct vectors than k) index 0 repeats
        pick = torch.searchsorted(cum, u[i : i + 1] * cum[-1]).clamp_(max=x.shape[0] - 1)
        idx[i] = pick[0]
        d2 = torch.minimum(d2, (x - x[pick]).pow(2).sum(1).double())
    return x[idx].clone()


def _nearest(x: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest code (squared L2) for each row of x: [M, D], [K, D] -> [M]."""
    dist = (x.pow(2).sum(1, keepdim=True) - 2 * x @ codebook.t()
            + codebook.pow(2).sum(1)[None])
    return dist.argmin(dim=1)


def _perplexity(codes: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """codes [M] -> (perplexity, usage fraction) as 0-d float tensors."""
    counts = torch.bincount(codes, minlength=k).float()
    p = counts / counts.sum().clamp_min(1.0)
    entropy = -(p * torch.log(p.clamp_min(1e-12))).sum()
    return entropy.exp(), (counts > 0).float().mean()


def codebook_stats(codes: np.ndarray | torch.Tensor, vocab_sizes: tuple[int, ...]
                   ) -> list[CodebookStats]:
    """Usage of each codebook in int codes [..., C] (any leading shape), one entry per C."""
    arr = torch.as_tensor(np.asarray(codes) if not torch.is_tensor(codes) else codes)
    flat = arr.reshape(-1, arr.shape[-1]).long().cpu()
    if flat.shape[1] != len(vocab_sizes):
        raise ValueError(f"codes have {flat.shape[1]} codebooks, vocab_sizes {len(vocab_sizes)}")
    out = []
    for c, k in enumerate(vocab_sizes):
        ppl, use = _perplexity(flat[:, c], int(k))
        out.append(CodebookStats(perplexity=float(ppl), usage=float(use)))
    return out


class EMACodebook(nn.Module):
    """One codebook [K, D] with EMA updates, k-means init and dead-code restart."""

    def __init__(self, cfg: VQConfig) -> None:
        super().__init__()
        self.cfg = cfg
        k, d = cfg.codebook_size, cfg.dim
        self.register_buffer("initialized", torch.zeros(1))
        self.register_buffer("embed", torch.randn(k, d) / math.sqrt(d))
        self.register_buffer("embed_avg", self.embed.clone())
        self.register_buffer("cluster_size", torch.zeros(k))
        self.embed: torch.Tensor
        self.embed_avg: torch.Tensor
        self.cluster_size: torch.Tensor
        self.initialized: torch.Tensor

    @property
    def is_initialized(self) -> bool:
        """True once k-means (or a loaded state) has set the codebook."""
        return bool(self.initialized.item() > 0)

    @torch.no_grad()
    def init_kmeans(self, x: torch.Tensor, per_step: float | None = None) -> None:
        """Set the codebook by k-means over [M, D] vectors. ``per_step`` (vectors per training
        step) scales the initial EMA counts; default M."""
        centroids, counts = kmeans(x.float(), self.cfg.codebook_size, self.cfg.kmeans_iters)
        scale = (per_step or x.shape[0]) / max(x.shape[0], 1)
        self.embed.copy_(centroids)
        self.cluster_size.copy_(counts * scale)
        self.embed_avg.copy_(centroids * self.cluster_size[:, None])
        self.initialized.fill_(1.0)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """[M, D] -> nearest code ids int64 [M]."""
        return _nearest(x, self.embed)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """int ids [...] -> vectors [..., D]."""
        return nn.functional.embedding(codes, self.embed)

    @torch.no_grad()
    def ema_update(self, x: torch.Tensor, codes: torch.Tensor) -> None:
        """Move each code towards the mean of the [M, D] vectors assigned to it (Laplace-
        smoothed EMA, as in VQ-VAE-2 / SoundStream)."""
        cfg = self.cfg
        counts = torch.bincount(codes, minlength=cfg.codebook_size).to(x.dtype)
        sums = torch.zeros_like(self.embed).index_add_(0, codes, x)
        self.cluster_size.mul_(cfg.decay).add_(counts, alpha=1 - cfg.decay)
        self.embed_avg.mul_(cfg.decay).add_(sums, alpha=1 - cfg.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + cfg.epsilon) / (n + cfg.codebook_size * cfg.epsilon) * n
        self.embed.copy_(self.embed_avg / smoothed[:, None])

    @torch.no_grad()
    def restart_dead(self, x: torch.Tensor) -> int:
        """Replace codes whose EMA count is below the dead threshold by random rows of the
        [M, D] recent vectors ``x``; returns how many were replaced."""
        cfg = self.cfg
        threshold = cfg.dead_code_ratio * x.shape[0] / cfg.codebook_size
        dead = self.cluster_size < threshold
        n_dead = int(dead.sum())
        if n_dead == 0 or x.shape[0] == 0:
            return 0
        pick = torch.randint(0, x.shape[0], (n_dead,), device=x.device)
        self.embed[dead] = x[pick].to(self.embed.dtype)
        self.cluster_size[dead] = threshold
        self.embed_avg[dead] = self.embed[dead] * threshold
        return n_dead


class ResidualVQ(nn.Module):
    """``n_codebooks`` EMA codebooks on successive residuals of [B, D, T] latents."""

    def __init__(self, cfg: VQConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList(EMACodebook(cfg) for _ in range(cfg.n_codebooks))

    @property
    def is_initialized(self) -> bool:
        """True when every codebook has been initialised."""
        return all(layer.is_initialized for layer in self.layers)

    @torch.no_grad()
    def init_kmeans(self, latents: torch.Tensor, per_step: float | None = None) -> None:
        """k-means init of every codebook in turn on [M, D] vectors and their residuals."""
        residual = latents.float()
        for layer in self.layers:
            layer.init_kmeans(residual, per_step)
            residual = residual - layer.decode(layer.encode(residual))

    def _n_q(self, n_q: int | None) -> int:
        n = self.cfg.n_codebooks if n_q is None else int(n_q)
        if not 1 <= n <= self.cfg.n_codebooks:
            raise ValueError(f"n_q must be in [1, {self.cfg.n_codebooks}], got {n}")
        return n

    def forward(self, x: torch.Tensor, n_q: int | None = None) -> VQOutput:
        """Quantize [B, D, T] latents with the first ``n_q`` codebooks (all by default).

        In training mode every codebook is run (EMA update + dead-code restart) and quantizer
        dropout masks, per item, the codebooks beyond that item's random count.
        """
        n = self._n_q(n_q)
        b, d, t = x.shape
        flat = x.permute(0, 2, 1).reshape(-1, d)
        if self.training and not self.is_initialized:
            self.init_kmeans(flat.detach())
        n_run = self.cfg.n_codebooks if self.training else n
        keep = self._dropout_mask(b, n, x.device) if self.training else None
        residual = flat.detach() if self.training else flat
        total = torch.zeros_like(flat)
        commit = x.new_zeros(())
        codes, ppl, use, restarted = [], [], [], 0
        for i, layer in enumerate(self.layers[:n_run]):
            ids = layer.encode(residual)
            q = layer.decode(ids)
            if self.training:
                m = keep[:, i].repeat_interleave(t)[:, None].to(q.dtype)
                commit = commit + ((flat - (total + q).detach()).pow(2) * m).mean()
                total = total + q * m
                layer.ema_update(residual, ids)
                restarted += layer.restart_dead(residual)
            else:
                total = total + q
            residual = residual - q
            codes.append(ids.view(b, t))
            p, u = _perplexity(ids, self.cfg.codebook_size)
            ppl.append(p)
            use.append(u)
        quantized = total.view(b, t, d).permute(0, 2, 1)
        if self.training:
            quantized = x + (quantized - x).detach()
        return VQOutput(quantized=quantized, codes=torch.stack(codes, -1)[..., :n],
                        commit_loss=commit, perplexity=torch.stack(ppl)[:n],
                        usage=torch.stack(use)[:n], restarted=restarted)

    def _dropout_mask(self, batch: int, n: int, device: torch.device) -> torch.Tensor:
        """[B, n_codebooks] bool: item b uses codebooks < its count (random with probability
        ``quantizer_dropout``, else ``n``)."""
        counts = torch.full((batch,), n, device=device)
        drop = torch.rand(batch, device=device) < self.cfg.quantizer_dropout
        rand = torch.randint(1, n + 1, (batch,), device=device)
        counts = torch.where(drop, rand, counts)
        return torch.arange(self.cfg.n_codebooks, device=device)[None] < counts[:, None]

    @torch.no_grad()
    def encode(self, x: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """[B, D, T] latents -> int64 codes [B, T, n_q] (no updates; call in eval mode)."""
        b, d, t = x.shape
        residual = x.permute(0, 2, 1).reshape(-1, d)
        codes = []
        for layer in self.layers[: self._n_q(n_q)]:
            ids = layer.encode(residual)
            residual = residual - layer.decode(ids)
            codes.append(ids.view(b, t))
        return torch.stack(codes, -1)

    def decode(self, codes: torch.Tensor, indices: list[int] | None = None) -> torch.Tensor:
        """int codes [B, T, C] -> latents [B, D, T]: the sum of codebook ``indices[c]``'s vector
        for column c (default indices 0..C-1). Any subset of codebooks decodes."""
        indices = list(range(codes.shape[-1])) if indices is None else indices
        if len(indices) != codes.shape[-1]:
            raise ValueError(f"{len(indices)} codebook indices for {codes.shape[-1]} columns")
        total = None
        for col, idx in enumerate(indices):
            vec = self.layers[idx].decode(codes[..., col])
            total = vec if total is None else total + vec
        assert total is not None
        return total.permute(0, 2, 1)
