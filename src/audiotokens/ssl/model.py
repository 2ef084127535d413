"""The HuBERT pretraining model: a transformers ``HubertModel`` plus the HuBERT head.

The head (paper, Sec. II-B): the last layer's output o_t is projected (``final_proj``,
hidden -> ``proj_dim``) and scored against one learned embedding e_c per cluster with
cosine similarity / temperature; the loss is cross-entropy on the masked frames only (the
paper's alpha = 1). Only ``hubert`` is saved with ``save_pretrained``; the head lives in the
training checkpoint, so the saved folder is a plain transformers HuBERT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["SSLModelConfig", "PretrainOutput", "HubertPretrainModel", "SAMPLE_RATE"]

SAMPLE_RATE = 16000
FRAME_RATE = 50


@dataclass(frozen=True)
class SSLModelConfig:
    """A small HuBERT: conv feature encoder (``conv_*``: channels, kernels, strides; strides
    multiply to 320 samples = 50 frames/s at 16 kHz), ``layers`` transformer layers of width
    ``hidden_size``; head: ``proj_dim`` projection, cosine logits / ``temperature``.

    Layer-norm conv encoder and pre-LN transformer (``do_stable_layer_norm``, the "large"
    layout), so a padded batch takes an attention mask and batched encoding equals one by one.

    The defaults are sized for minutes of CPU training (0.8 M parameters, 3 MB). Two of them
    depart from HuBERT-base for that reason, measured on the 3-minute synthetic corpus with
    4 CPU-minutes of iteration 1 (best layer's PNMI, k = 100, training speakers): the
    unmasked-frame loss (``unmasked_weight`` 1; the paper's best for long runs is 0) took
    it from 0.34 to 0.49 in the same 116 steps, as the frame-level term trains the
    waveform front end directly; and no dropout (nothing to regularise in a few hundred
    steps). For long GPU runs, set ``unmasked_weight=0`` and ``dropout=0.1``.
    """

    hidden_size: int = 128
    layers: int = 3
    heads: int = 4
    intermediate_size: int = 512
    conv_dim: tuple[int, ...] = (32, 64, 64, 128)
    conv_kernel: tuple[int, ...] = (10, 8, 4, 4)
    conv_stride: tuple[int, ...] = (5, 4, 4, 4)
    pos_kernel: int = 64
    pos_groups: int = 16
    proj_dim: int = 128
    temperature: float = 0.1
    dropout: float = 0.0
    unmasked_weight: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "conv_dim", tuple(int(c) for c in self.conv_dim))
        object.__setattr__(self, "conv_kernel", tuple(int(c) for c in self.conv_kernel))
        object.__setattr__(self, "conv_stride", tuple(int(c) for c in self.conv_stride))
        if not len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride) >= 1:
            raise ValueError("conv_dim, conv_kernel and conv_stride need the same length >= 1")
        if math.prod(self.conv_stride) != SAMPLE_RATE // FRAME_RATE:
            raise ValueError(f"conv strides must multiply to {SAMPLE_RATE // FRAME_RATE} "
                             f"(50 frames/s at 16 kHz), got {math.prod(self.conv_stride)}")
        for name in ("hidden_size", "layers", "heads", "intermediate_size", "proj_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden_size % self.heads or self.hidden_size % self.pos_groups:
            raise ValueError(f"hidden_size {self.hidden_size} must divide by heads "
                             f"({self.heads}) and pos_groups ({self.pos_groups})")
        if self.temperature <= 0 or not 0 <= self.dropout < 1:
            raise ValueError("temperature must be > 0 and dropout in [0, 1)")
        if self.unmasked_weight < 0:
            raise ValueError(f"unmasked_weight must be >= 0, got {self.unmasked_weight}")

    def frames(self, samples: int) -> int:
        """Model frames for an input of ``samples`` samples (valid convolutions, as
        transformers computes them; 0 when shorter than the receptive field)."""
        n = int(samples)
        for kernel, stride in zip(self.conv_kernel, self.conv_stride, strict=True):
            n = (n - kernel) // stride + 1
            if n <= 0:
                return 0
        return n

    def hubert_config(self) -> object:
        """The ``transformers.HubertConfig``. ``mask_time_prob`` stays at the library default
        (0.05) only so that ``masked_spec_embed`` exists; training always passes its own
        ``mask_time_indices``."""
        from transformers import HubertConfig

        return HubertConfig(
            hidden_size=self.hidden_size, num_hidden_layers=self.layers,
            num_attention_heads=self.heads, intermediate_size=self.intermediate_size,
            conv_dim=self.conv_dim, conv_kernel=self.conv_kernel, conv_stride=self.conv_stride,
            num_conv_pos_embeddings=self.pos_kernel,
            num_conv_pos_embedding_groups=self.pos_groups,
            feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True,
            hidden_dropout=self.dropout, attention_dropout=self.dropout,
            activation_dropout=0.0, feat_proj_dropout=self.dropout, layerdrop=0.0,
            mask_time_prob=0.05,
        )


@dataclass
class PretrainOutput:
    """``loss``: mean cross-entropy over masked frames (scalar tensor); ``accuracy``: share of
    masked frames whose best-scoring cluster is the target; ``n_masked``: masked frames."""

    loss: torch.Tensor
    accuracy: float
    n_masked: int


class HubertPretrainModel(nn.Module):
    """``HubertModel`` + projection + cluster embeddings [k, proj_dim]."""

    def __init__(self, cfg: SSLModelConfig, k: int) -> None:
        super().__init__()
        from transformers import HubertModel

        if k < 2:
            raise ValueError(f"k must be >= 2 clusters, got {k}")
        self.cfg = cfg
        self.k = k
        self.hubert = HubertModel(cfg.hubert_config())
        self.final_proj = nn.Linear(cfg.hidden_size, cfg.proj_dim)
        self.label_embs = nn.Parameter(torch.randn(k, cfg.proj_dim) * 0.1)

    def frame_lengths(self, samples: torch.Tensor) -> torch.Tensor:
        """Model frames for inputs of ``samples`` samples: int64 [B] -> int64 [B]."""
        out = self.hubert._get_feat_extract_output_lengths(samples.to(torch.int64))
        return torch.as_tensor(out, dtype=torch.int64).clamp_min(0)

    def forward(self, wav: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                attention_mask: torch.Tensor | None = None) -> PretrainOutput:
        """wav float32 [B, N] (normalised, 16 kHz); targets int64 [B, T] (cluster ids, -100 =
        ignore); mask bool [B, T] (T = model frames) -> :class:`PretrainOutput`."""
        out = self.hubert(wav, attention_mask=attention_mask, mask_time_indices=mask)
        hidden = out.last_hidden_state  # [B, T, H]
        if hidden.shape[1] != targets.shape[1]:
            raise ValueError(f"targets have {targets.shape[1]} frames, model gives "
                             f"{hidden.shape[1]}")
        valid = targets >= 0
        selected = mask & valid
        labels = targets[selected]
        if len(labels) == 0:  # nothing masked: a zero loss that still touches the graph
            return PretrainOutput(hidden.sum() * 0.0, 0.0, 0)
        logits = self._logits(hidden[selected])
        loss = nn.functional.cross_entropy(logits, labels)
        unmasked = ~mask & valid
        if self.cfg.unmasked_weight > 0 and bool(unmasked.any()):
            loss = loss + self.cfg.unmasked_weight * nn.functional.cross_entropy(
                self._logits(hidden[unmasked]), targets[unmasked])
        with torch.no_grad():
            acc = float((logits.argmax(-1) == labels).float().mean())
        return PretrainOutput(loss, acc, int(selected.sum()))

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Frames [M, H] -> cosine similarity / temperature to every cluster, [M, k]."""
        proj = nn.functional.normalize(self.final_proj(hidden).float(), dim=-1)
        embs = nn.functional.normalize(self.label_embs.float(), dim=-1)
        return proj @ embs.T / self.cfg.temperature
