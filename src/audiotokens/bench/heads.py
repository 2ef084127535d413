"""Downstream heads for the benchmark (DASB-style): input modules + task heads.

An input module turns what a tokenizer produced into frame vectors [B, T', D]:
:class:`TokenEmbedding` (one table per codebook, combined over codebooks by learned softmax
weights or DASB's per-frame attention MLP) or :class:`ContinuousInput` (the continuous
baseline, a projection of features). Both may average-pool time by ``stride`` so sample-rate
tokens (mu-law) reach a frame rate a head can afford. A task head then maps frames to outputs:
:class:`CTCHead` (sequence core + linear over characters), :class:`PooledClassifier` (conv
context + attentive statistics pooling + MLP) or :class:`TokenEnhancer` (token-to-token:
clean-token logits per frame and codebook). :class:`DownstreamModel` composes the two. The
sequence cores (a BiLSTM by default, or dilated convolutions) live in :mod:`.cores`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .cores import CORE_KINDS, length_mask, make_core, packed_lstm

__all__ = [
    "COMBINE_MODES",
    "CORE_KINDS",
    "HeadOutput",
    "TokenEmbedding",
    "ContinuousInput",
    "CTCHead",
    "PooledClassifier",
    "TokenEnhancer",
    "DownstreamModel",
    "pool_time",
    "length_mask",
    "stack_frames",
    "packed_lstm",
]

COMBINE_MODES = ("softmax", "attention")


def pool_time(
    x: torch.Tensor, lengths: torch.Tensor, stride: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Average-pool frames [B, T, D] by ``stride`` -> ([B, ceil(T/stride), D], lengths [B]).

    Padding frames are excluded from each window's mean; a no-op when ``stride == 1``.
    """
    if stride == 1:
        return x, lengths
    b, t, d = x.shape
    t_out = -(-t // stride)
    mask = length_mask(lengths, t).to(x.dtype)[..., None]
    pad = t_out * stride - t
    xs = nn.functional.pad(x * mask, (0, 0, 0, pad)).reshape(b, t_out, stride, d).sum(2)
    counts = nn.functional.pad(mask, (0, 0, 0, pad)).reshape(b, t_out, stride, 1).sum(2)
    new_lengths = torch.div(lengths + stride - 1, stride, rounding_mode="floor")
    return xs / counts.clamp_min(1.0), new_lengths


def stack_frames(x: torch.Tensor, lengths: torch.Tensor, stack: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate ``stack`` consecutive frames (order kept): [B, T, D] ->
    ([B, ceil(T/stack), stack * D] with zeros past each item's end, step lengths [B])."""
    b, t, d = x.shape
    steps = -(-t // stack)
    x = nn.functional.pad(x * length_mask(lengths, t)[..., None].to(x.dtype),
                          (0, 0, 0, steps * stack - t))
    return x.reshape(b, steps, stack * d), torch.div(lengths + stack - 1, stack,
                                                     rounding_mode="floor")


def _fit_vectors(vectors: torch.Tensor, dim: int) -> torch.Tensor:
    """Project [V, E] vectors to [V, dim] (PCA when E > dim, zero-pad what is left short of
    dim, e.g. E < dim or V < dim), unit RMS."""
    v = vectors.float() - vectors.float().mean(0, keepdim=True)
    if v.shape[1] > dim:
        _, _, basis = torch.linalg.svd(v, full_matrices=False)
        v = v @ basis[:dim].T  # fewer than dim columns when V < dim: padded below
    if v.shape[1] < dim:
        v = nn.functional.pad(v, (0, dim - v.shape[1]))
    return v / v.pow(2).mean().sqrt().clamp_min(1e-8)


class TokenEmbedding(nn.Module):
    """Token ids [B, T, C] -> frames [B, T', D]: per-codebook tables combined over codebooks.

    ``combine="softmax"``: one learned weight per codebook, softmax-normalised (DASB default).
    ``combine="attention"``: DASB's per-frame Linear-ReLU-Linear score per codebook, softmax
    over codebooks. Either way :meth:`weights` reports the (mean) weight per codebook.
    ``init_vectors``: optional [V_c, E] float tensors per codebook (e.g. k-means centroids),
    projected to ``dim`` to initialise the tables. The benchmark's heads pass the tokenizer's
    ``codebook_vectors()`` only with ``TrainConfig(init_embeddings=True)``; by default their
    tables start random. With ``stride > 1`` each table averages the
    embeddings of ``stride`` consecutive ids in one ``EmbeddingBag`` lookup (the same as
    embedding then :func:`pool_time`, without materialising every frame), and attention scores
    the pooled frames. ``freeze``: the tables (random or from ``init_vectors``) stay as
    they start (no gradient); the combine weights and the head still train.
    """

    def __init__(
        self,
        vocab_sizes: Sequence[int],
        dim: int = 64,
        combine: str = "softmax",
        init_vectors: Sequence[torch.Tensor | None] | None = None,
        stride: int = 1,
        freeze: bool = False,
    ) -> None:
        super().__init__()
        if combine not in COMBINE_MODES:
            raise ValueError(f"combine must be one of {COMBINE_MODES}, got {combine!r}")
        if not vocab_sizes or stride < 1 or dim < 1:
            raise ValueError("need at least one codebook, dim >= 1 and stride >= 1")
        self.combine, self.stride, self.dim = combine, stride, dim
        # row 0 is padding (ids are shifted by one), so padded frames drop out of each mean
        self.tables = nn.ModuleList(nn.EmbeddingBag(int(v) + 1, dim, mode="mean", padding_idx=0)
                                    for v in vocab_sizes)
        for c, vec in enumerate(init_vectors or []):
            if vec is None:
                continue
            if vec.shape[0] != vocab_sizes[c]:
                raise ValueError(f"init_vectors[{c}] has {vec.shape[0]} rows, "
                                 f"codebook {c} has {vocab_sizes[c]} ids")
            with torch.no_grad():
                self.tables[c].weight[1:].copy_(_fit_vectors(vec, dim))
        for tab in self.tables:
            tab.weight.requires_grad_(not freeze)
        self.logits = nn.Parameter(torch.zeros(len(vocab_sizes)))
        self.scorer = (nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, 1))
                       if combine == "attention" else None)
        self.register_buffer("weight_sum", torch.zeros(len(vocab_sizes)), persistent=False)
        self.register_buffer("weight_count", torch.zeros(()), persistent=False)

    @property
    def out_dim(self) -> int:
        """D, the size of each output frame vector."""
        return self.dim

    def table(self, codebook: int) -> torch.Tensor:
        """The embedding vectors of one codebook: [vocab_size, D] (without the padding row)."""
        return self.tables[codebook].weight[1:]

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """ids [B, T, C] int64, lengths [B] -> (frames [B, ceil(T/stride), D], lengths [B])."""
        if ids.shape[-1] != len(self.tables):
            raise ValueError(f"expected {len(self.tables)} codebooks, got ids {tuple(ids.shape)}")
        b, t, _ = ids.shape
        t_out = -(-t // self.stride)
        shifted = (ids + 1) * length_mask(lengths, t)[..., None]  # padding -> row 0
        shifted = nn.functional.pad(shifted, (0, 0, 0, t_out * self.stride - t))
        bags = shifted.reshape(b * t_out, self.stride, -1)
        emb = torch.stack([tab(bags[..., c]) for c, tab in enumerate(self.tables)], dim=1)
        emb = emb.reshape(b, t_out, len(self.tables), self.dim)  # B, T', C, D
        out_lengths = torch.div(lengths + self.stride - 1, self.stride, rounding_mode="floor")
        if self.scorer is None:
            w = torch.softmax(self.logits, 0)
            return torch.einsum("btcd,c->btd", emb, w), out_lengths
        w = torch.softmax(self.scorer(emb).squeeze(-1), dim=-1)  # B, T', C
        if not self.training:
            with torch.no_grad():
                mask = length_mask(out_lengths, t_out).to(w.dtype)[..., None]
                self.weight_sum += (w * mask).sum((0, 1))
                self.weight_count += mask.sum()
        return (emb * w[..., None]).sum(2), out_lengths

    def weights(self) -> list[float]:
        """Weight per codebook, summing to 1: the softmax weights, or (attention) the mean
        per-frame weight over frames seen in eval mode since :meth:`reset_weight_stats`."""
        if self.scorer is None:
            return torch.softmax(self.logits.detach(), 0).cpu().tolist()
        if float(self.weight_count) == 0:
            raise RuntimeError("no eval-mode forward yet: run the model in eval() first")
        return (self.weight_sum / self.weight_count).cpu().tolist()

    def reset_weight_stats(self) -> None:
        """Forget the attention weights accumulated so far."""
        self.weight_sum.zero_()
        self.weight_count.zero_()


class ContinuousInput(nn.Module):
    """Continuous features [B, T, F] -> frames [B, T', D]: LayerNorm + linear projection."""

    def __init__(self, in_features: int, dim: int = 64, stride: int = 1) -> None:
        super().__init__()
        if in_features < 1 or dim < 1 or stride < 1:
            raise ValueError("in_features, dim and stride must be >= 1")
        self.stride, self.dim = stride, dim
        self.norm = nn.LayerNorm(in_features)
        self.proj = nn.Linear(in_features, dim)

    @property
    def out_dim(self) -> int:
        """D, the size of each output frame vector."""
        return self.dim

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """feats [B, T, F] float, lengths [B] -> (frames [B, ceil(T/stride), D], lengths [B])."""
        return pool_time(self.proj(self.norm(feats)), lengths, self.stride)


@dataclass
class HeadOutput:
    """``logits``: [B, n_classes] (classifier) or [B, T, V] log-probs (CTC); ``lengths`` [B]
    valid frames of a CTC output (None for a classifier); ``embedding``: [B, E] pooled vector
    (classifier only) used for speaker verification."""

    logits: torch.Tensor
    lengths: torch.Tensor | None = None
    embedding: torch.Tensor | None = None


class CTCHead(nn.Module):
    """Sequence core + linear over ``n_symbols`` (index 0 = CTC blank); greedy decoding.

    ``core``: ``"lstm"`` (BiLSTM, the default) or ``"conv"`` (dilated residual convolutions),
    ``hidden`` wide (see :func:`~audiotokens.bench.cores.make_core`), ``layers`` deep (None:
    the core's default). ``stack`` > 1 runs the core at 1/``stack`` of the frame rate
    (``stack`` consecutive frames concatenated into one step) and emits ``stack`` output
    frames per step, so the CTC output keeps the input frame rate (room for fast speech) at
    a fraction of the core's cost. ``blank_bias`` initialises the blank's output bias (CTC's
    early all-blank phase); ``dropout`` applies to the core's input and output (and inside
    conv blocks) in training.
    """

    def __init__(self, in_dim: int, n_symbols: int, hidden: int = 128,
                 layers: int | None = None, stack: int = 1, blank_bias: float = 0.0,
                 dropout: float = 0.0, core: str = "lstm") -> None:
        super().__init__()
        if n_symbols < 2:
            raise ValueError("n_symbols must include the blank and at least one character")
        if stack < 1 or (layers is not None and layers < 1) or hidden < 1:
            raise ValueError(f"stack, layers and hidden must be >= 1, got {stack}, {layers}, "
                             f"{hidden}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.stack, self.n_symbols = stack, n_symbols
        self.dropout = nn.Dropout(dropout)
        self.core = make_core(core, in_dim * stack, hidden, layers, dropout)
        self.out = nn.Linear(self.core.out_dim, n_symbols * stack)
        with torch.no_grad():
            self.out.bias.view(stack, n_symbols)[:, 0] += blank_bias

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> HeadOutput:
        """x [B, T, D] float, lengths [B] -> HeadOutput(log-probs [B, T, n_symbols], lengths)."""
        b, t, _ = x.shape
        x, step_lengths = stack_frames(x, lengths, self.stack)
        h = self.core(self.dropout(x), step_lengths)
        logits = self.out(self.dropout(h)).reshape(b, -1, self.n_symbols)[:, :t]
        return HeadOutput(torch.log_softmax(logits, -1), lengths)

    @staticmethod
    def loss(out: HeadOutput, targets: torch.Tensor, target_lengths: torch.Tensor) -> torch.Tensor:
        """Mean CTC loss; targets are concatenated symbol ids [sum(target_lengths)] (no 0)."""
        assert out.lengths is not None
        log_probs = out.logits.transpose(0, 1).float()  # T, B, V
        return nn.functional.ctc_loss(log_probs, targets, out.lengths, target_lengths,
                                      blank=0, zero_infinity=True)

    @staticmethod
    def greedy_decode(out: HeadOutput) -> list[list[int]]:
        """Best path: argmax per frame, collapse repeats, drop blanks -> symbol ids per item."""
        assert out.lengths is not None
        best = out.logits.argmax(-1).cpu()
        result = []
        for row, n in zip(best, out.lengths.cpu().tolist(), strict=True):
            ids = torch.unique_consecutive(row[: int(n)]).tolist()
            result.append([i for i in ids if i != 0])
        return result


class PooledClassifier(nn.Module):
    """Conv context + attentive statistics pooling + MLP -> class logits (and the embedding)."""

    def __init__(self, in_dim: int, n_classes: int, hidden: int = 128, embed_dim: int = 128,
                 context_layers: int = 2, kernel_size: int = 5, dropout: float = 0.2) -> None:
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"need at least 2 classes, got {n_classes}")
        convs: list[nn.Module] = []
        dim = in_dim
        for _ in range(context_layers):
            convs += [nn.Conv1d(dim, hidden, kernel_size, padding=kernel_size // 2), nn.ReLU(),
                      nn.Dropout(dropout)]
            dim = hidden
        self.context = nn.Sequential(*convs)
        self.attention = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.embed = nn.Sequential(nn.Linear(2 * dim, embed_dim), nn.ReLU(), nn.Dropout(dropout))
        self.classify = nn.Linear(embed_dim, n_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> HeadOutput:
        """x [B, T, D] float, lengths [B] -> HeadOutput(logits [B, n_classes], embedding [B, E])."""
        mask = length_mask(lengths.clamp_min(1), x.shape[1])
        h = x * mask[..., None]
        if len(self.context):
            h = self.context(h.transpose(1, 2)).transpose(1, 2)
        scores = self.attention(h).squeeze(-1).masked_fill(~mask, float("-inf"))
        w = torch.softmax(scores, dim=1)[..., None]  # B, T, 1
        mean = (w * h).sum(1)
        std = ((w * (h - mean[:, None]) ** 2).sum(1)).clamp_min(1e-6).sqrt()
        emb = self.embed(torch.cat([mean, std], -1))
        return HeadOutput(self.classify(emb), embedding=emb)


class TokenEnhancer(nn.Module):
    """Token-to-token head: frames [B, T, D] -> logits [B, T, C, V] of output ids (T padded up
    to a multiple of ``stride``).

    ``stride`` consecutive input frames are stacked into one step (order kept, unlike
    average pooling), run through a conv layer and a sequence core (``core``: ``"lstm"``, the
    default, or ``"conv"``; see :func:`~audiotokens.bench.cores.make_core`) at 1/``stride``
    of the frame rate, and one linear layer emits the ``stride`` output frames of each step
    from the core's output concatenated with the stacked input (a skip that makes copying
    easy). ``V = max(vocab_sizes)``; ids at or past a codebook's own vocabulary get -inf.
    Given ``copy_ids`` (the input ids), a learned per-codebook copy bias (initialised to
    log V, so an untrained head already favours its input) is added to each frame's input
    id: the head learns what to change, starting from "change nothing".

    ``out_rank`` > 0 factorises the output layer: the linear layer emits an ``out_rank``-dim
    vector per output frame and codebook, scored against that codebook's own table of
    ``V`` output embeddings (plus a bias per id). For many ids (an RVQ's 6 x 1024) this
    costs ``out_rank / (core width + stacked input)`` of the full layer's multiply-adds,
    the bulk of the head's step time.
    """

    def __init__(self, in_dim: int, vocab_sizes: Sequence[int], hidden: int = 128,
                 stride: int = 1, kernel_size: int = 5, dropout: float = 0.1,
                 core: str = "lstm", layers: int | None = None, out_rank: int = 0) -> None:
        super().__init__()
        if not vocab_sizes or min(vocab_sizes) < 1 or stride < 1 or hidden < 1 or out_rank < 0:
            raise ValueError("need >= 1 codebook of >= 1 id, stride >= 1, hidden >= 1 and "
                             "out_rank >= 0")
        self.stride, self.n_codebooks = stride, len(vocab_sizes)
        self.vocab = int(max(vocab_sizes))
        step_dim = in_dim * stride
        self.context = nn.Sequential(
            nn.Conv1d(step_dim, hidden, kernel_size, padding=kernel_size // 2), nn.ReLU(),
            nn.Dropout(dropout))
        self.core = make_core(core, hidden, hidden, layers, dropout)
        self.out_rank = out_rank
        width = out_rank or self.vocab  # per output frame and codebook
        self.out = nn.Linear(self.core.out_dim + step_dim, stride * self.n_codebooks * width)
        if out_rank:
            self.table = nn.Parameter(torch.randn(self.n_codebooks, self.vocab, out_rank)
                                      / math.sqrt(out_rank))
            self.table_bias = nn.Parameter(torch.zeros(self.n_codebooks, self.vocab))
        invalid = torch.arange(self.vocab)[None, :] >= torch.tensor(list(vocab_sizes))[:, None]
        self.register_buffer("invalid", invalid, persistent=False)  # C, V
        self.ragged = bool(invalid.any())  # codebooks of different sizes: some ids masked
        self.copy_bias = nn.Parameter(torch.log(torch.tensor(list(vocab_sizes), dtype=torch.float)))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor,
                copy_ids: torch.Tensor | None = None) -> HeadOutput:
        """x [B, T, D] float, lengths [B], optional copy_ids [B, T, C] int64 (ids < 0 are
        padding) -> HeadOutput(logits [B, T', C, V], lengths [B]) with T' = T rounded up to
        a multiple of ``stride``."""
        b = x.shape[0]
        x, step_lengths = stack_frames(x, lengths, self.stride)
        steps = x.shape[1]
        h = self.core(self.context(x.transpose(1, 2)).transpose(1, 2), step_lengths)
        out = self.out(torch.cat([h, x], -1))
        if self.out_rank:
            vectors = out.reshape(-1, self.n_codebooks, self.out_rank).transpose(0, 1)
            logits = torch.baddbmm(self.table_bias[:, None], vectors, self.table.transpose(1, 2))
            logits = logits.transpose(0, 1).reshape(b, steps * self.stride, self.n_codebooks,
                                                    self.vocab)
        else:
            logits = out.reshape(b, steps * self.stride, self.n_codebooks, self.vocab)
        if copy_ids is not None:
            ids = nn.functional.pad(copy_ids, (0, 0, 0, steps * self.stride - copy_ids.shape[1]),
                                    value=-1)
            bias = self.copy_bias.to(logits.dtype).expand(*ids.shape)
            bias = bias * (ids >= 0).to(logits.dtype)
            # in place: the linear layer's fresh output, which its backward does not need
            logits = logits.scatter_add_(-1, ids.clamp_min(0)[..., None], bias[..., None])
        if self.ragged:
            logits = logits.masked_fill(self.invalid, float("-inf"))
        return HeadOutput(logits, lengths)


class DownstreamModel(nn.Module):
    """An input module (tokens or features) followed by a task head."""

    def __init__(self, inputs: TokenEmbedding | ContinuousInput,
                 head: CTCHead | PooledClassifier | TokenEnhancer) -> None:
        super().__init__()
        self.inputs, self.head = inputs, head

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> HeadOutput:
        """x [B, T, C] int64 ids or [B, T, F] float features, lengths [B] -> the head's output."""
        frames, frame_lengths = self.inputs(x, lengths)
        return self.head(frames, frame_lengths)

    def codebook_weights(self) -> list[float] | None:
        """Per-codebook weights of a token input (None for continuous input)."""
        return self.inputs.weights() if isinstance(self.inputs, TokenEmbedding) else None
