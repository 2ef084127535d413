"""The unit vocoder: token embeddings (softmax-weighted over codebooks) -> generator.

Composition, not inheritance: :class:`CodebookEmbedding` (or a linear projection of log-mel
frames for the continuous oracle) turns inputs into frame vectors [B, E, T]; the generator
(:func:`make_generator`) turns them into a waveform [B, T * hop_length]: by default
:class:`ISTFTGenerator`, the RVQ codec's Vocos-style decoder (:mod:`audiotokens.nn.spectral`),
or the HiFi-GAN style :class:`Generator`. Any non-empty subset of codebooks can drive it:
masked codebooks are left out of the softmax over codebooks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..nn.seanet import UpsampleConv, conv1d
from ..nn.spectral import ISTFTDecoder
from ..tokenizers.base import Tokens
from .config import GENERATORS, VocoderConfig

__all__ = ["CodebookEmbedding", "MRFBlock", "Generator", "ISTFTGenerator", "UnitVocoder",
           "make_generator"]

_SLOPE = 0.1  # leaky ReLU slope (HiFi-GAN)


class CodebookEmbedding(nn.Module):
    """One embedding table per codebook, combined by learned softmax weights over codebooks."""

    def __init__(self, vocab_sizes: Sequence[int], dim: int) -> None:
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(v, dim) for v in vocab_sizes)
        self.logits = nn.Parameter(torch.zeros(len(vocab_sizes)))

    def weights(self, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Softmax over the kept codebooks: float [C], 0 where ``mask`` (bool [C]) is False."""
        logits = self.logits
        if mask is not None:
            logits = logits.masked_fill(~mask.to(logits.device), float("-inf"))
        return torch.softmax(logits, dim=0)

    def forward(self, codes: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """int64 [B, T, C] -> float [B, T, dim] (sum of kept codebooks' embeddings x weights)."""
        w = self.weights(mask)
        out = 0.0
        for c, table in enumerate(self.tables):
            if mask is None or bool(mask[c]):
                out = out + w[c] * table(codes[..., c])
        assert isinstance(out, torch.Tensor)
        return out


class MRFBlock(nn.Module):
    """HiFi-GAN multi-receptive-field fusion: mean over kernels of dilated residual stacks.

    [B, ch, L] -> [B, ch, L]; each stack does x += conv_1(lrelu(conv_k,d(lrelu(x)))) per
    dilation d.
    """

    def __init__(self, channels: int, kernels: Sequence[int], dilations: Sequence[int]) -> None:
        super().__init__()
        self.stacks = nn.ModuleList()
        for k in kernels:
            convs = nn.ModuleList()
            for d in dilations:
                convs.append(nn.ModuleList([
                    conv1d(channels, channels, k, dilation=d, padding=(k - 1) * d // 2),
                    conv1d(channels, channels, k, padding=(k - 1) // 2),
                ]))
            self.stacks.append(convs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, ch, L] -> [B, ch, L]."""
        total = 0.0
        for stack in self.stacks:
            h = x
            for dilated, plain in stack:  # type: ignore[misc]
                h = h + plain(F.leaky_relu(dilated(F.leaky_relu(h, _SLOPE)), _SLOPE))
            total = total + h
        assert isinstance(total, torch.Tensor)
        return total / len(self.stacks)


class Generator(nn.Module):
    """Frame vectors [B, in_dim, T] -> waveform [B, T * prod(upsample_rates)] in (-1, 1)."""

    def __init__(self, cfg: VocoderConfig, in_dim: int) -> None:
        super().__init__()
        ch = cfg.channels
        self.pre = conv1d(in_dim, ch, 7, padding=3)
        self.ups = nn.ModuleList()
        self.blocks = nn.ModuleList()
        for rate in cfg.upsample_rates:
            self.ups.append(UpsampleConv(ch, ch // 2, rate))
            ch //= 2
            self.blocks.append(MRFBlock(ch, cfg.resblock_kernels, cfg.resblock_dilations))
        self.post = conv1d(ch, 1, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, in_dim, T] -> [B, T * hop_length]."""
        h = self.pre(x)
        for up, block in zip(self.ups, self.blocks, strict=True):
            h = block(up(F.leaky_relu(h, _SLOPE)))
        return torch.tanh(self.post(F.leaky_relu(h, 0.01)))[:, 0]


class ISTFTGenerator(nn.Module):
    """Frame vectors [B, in_dim, T] -> waveform [B, T * hop_length]: ConvNeXt blocks at the
    token rate, upsampling to STFT frames, log-magnitude + phase, inverse STFT (Vocos); the
    :class:`~audiotokens.nn.spectral.ISTFTDecoder` of the RVQ codec, fed embeddings instead
    of quantized latents."""

    def __init__(self, cfg: VocoderConfig, in_dim: int) -> None:
        super().__init__()
        self.decoder = ISTFTDecoder(replace(cfg.spectral(), latent_dim=in_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, in_dim, T] -> [B, T * hop_length]."""
        return self.decoder(x)[:, 0]


def make_generator(cfg: VocoderConfig, in_dim: int) -> nn.Module:
    """The generator ``cfg.generator`` names, taking frame vectors of size ``in_dim``."""
    match cfg.generator:
        case "istft":
            return ISTFTGenerator(cfg, in_dim)
        case "hifigan":
            return Generator(cfg, in_dim)
    raise ValueError(f"unknown generator {cfg.generator!r}; choose one of {list(GENERATORS)}")


class UnitVocoder(nn.Module):
    """Discrete tokens [B, T, C] (+ optional speaker vector) -> waveform [B, T * hop_length]."""

    def __init__(self, config: VocoderConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.embed_dim
        if config.continuous_input_dim > 0:
            self.embedding: nn.Module = nn.Linear(config.continuous_input_dim, dim)
        else:
            self.embedding = CodebookEmbedding(config.vocab_sizes, dim)
        self.speaker = nn.Linear(config.speaker_dim, dim) if config.speaker_dim > 0 else None
        self.generator = make_generator(config, dim)
        self.last_layers: tuple[str, ...] = ()

    @property
    def device(self) -> torch.device:
        """Where the weights live (inputs are moved here by :meth:`synthesize`)."""
        return next(self.parameters()).device

    def forward(self, codes: torch.Tensor, mask: torch.Tensor | None = None,
                speaker: torch.Tensor | None = None) -> torch.Tensor:
        """int64 codes [B, T, C] (oracle: float log-mel [B, T, D]), bool ``mask`` [C] of the
        codebooks to use (None = all), ``speaker`` float [B, speaker_dim] when
        ``speaker_dim`` > 0 -> float waveform [B, T * hop_length]."""
        cfg = self.config
        if cfg.continuous_input_dim > 0:
            h = self.embedding(codes.float())
        else:
            if codes.ndim != 3 or codes.shape[-1] != cfg.n_codebooks:
                raise ValueError(f"codes must be [B, T, {cfg.n_codebooks}], "
                                 f"got shape {tuple(codes.shape)}")
            if mask is not None and not bool(mask.any()):
                raise ValueError("mask keeps no codebook; keep at least one")
            h = self.embedding(codes, mask)
        if self.speaker is not None:
            if speaker is None or speaker.shape != (codes.shape[0], cfg.speaker_dim):
                got = None if speaker is None else tuple(speaker.shape)
                raise ValueError(f"this vocoder needs speaker [B, {cfg.speaker_dim}], got {got}")
            h = h + self.speaker(speaker.float())[:, None, :]
        return self.generator(h.transpose(1, 2))

    def resolve_layers(self, layers: Sequence[str | int] | None) -> tuple[int, ...]:
        """Codebook indices for names (e.g. "layer7") or indices; None = all codebooks."""
        names = self.config.codebook_names
        if layers is None:
            return tuple(range(len(names)))
        out: list[int] = []
        for layer in layers:
            if isinstance(layer, str) and layer in names:
                out.append(names.index(layer))
            elif isinstance(layer, (int, np.integer)) and 0 <= int(layer) < len(names):
                out.append(int(layer))
            else:
                raise ValueError(f"unknown codebook {layer!r}; choose names {list(names)} "
                                 f"or indices 0..{len(names) - 1}")
        if not out:
            raise ValueError(f"layers must name at least one codebook of {list(names)}")
        return tuple(sorted(set(out)))

    def layer_mask(self, layers: Sequence[str | int] | None) -> torch.Tensor:
        """bool [C] mask for :meth:`forward` from names/indices (see :meth:`resolve_layers`)."""
        mask = torch.zeros(self.config.n_codebooks, dtype=torch.bool)
        mask[list(self.resolve_layers(layers))] = True
        return mask

    def synthesize(self, tokens: Tokens, layers: Sequence[str | int] | None = None,
                   speaker: np.ndarray | torch.Tensor | None = None) -> np.ndarray:
        """Tokens [T, C] -> float32 audio [T * hop_length] at ``config.sample_rate``.

        ``layers`` picks the codebooks used (names or indices; None = all); the subset used is
        kept in :attr:`last_layers` (names). ``speaker``: float [speaker_dim] when the vocoder
        was trained with speaker conditioning.
        """
        cfg = self.config
        if tokens.is_batch:
            raise ValueError("synthesize takes one item's Tokens [T, C]; use tokens.items()")
        tokens.validate()
        codes_np, present = self._expand(tokens)
        if layers is None:
            layers = present
        elif not set(self.resolve_layers(layers)) <= set(self.resolve_layers(present)):
            raise ValueError(f"layers {list(layers)} are not all in the tokens "
                             f"({list(tokens.info.codebook_names)})")
        index = self.resolve_layers(layers)
        mask = self.layer_mask(list(index)).to(self.device)
        codes = torch.as_tensor(codes_np, dtype=torch.int64, device=self.device)[None]
        spk = None
        if speaker is not None:
            spk = torch.as_tensor(np.asarray(speaker, dtype=np.float32)).reshape(1, -1)
            spk = spk.to(self.device)
        self.last_layers = tuple(cfg.codebook_names[i] for i in index)
        if tokens.n_frames == 0:
            return np.zeros(0, dtype=np.float32)
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                wav = self(codes, mask, spk)[0]
        finally:
            self.train(was_training)
        return wav.float().cpu().numpy()

    def _expand(self, tokens: Tokens) -> tuple[np.ndarray, tuple[str, ...]]:
        """Codes [T, C_all] for all of this vocoder's codebooks, from tokens that carry all of
        them or a named subset (``Tokens.select``); absent codebooks are zero and masked out."""
        cfg = self.config
        names, vocab = tokens.info.codebook_names, tokens.info.vocab_sizes
        if names == cfg.codebook_names and tuple(vocab) == cfg.vocab_sizes:
            return tokens.codes, names
        full = dict(zip(cfg.codebook_names, cfg.vocab_sizes, strict=True))
        if any(full.get(n) != v for n, v in zip(names, vocab, strict=True)):
            raise ValueError(f"tokens have codebooks {list(names)} with vocab sizes {list(vocab)};"
                             f" this vocoder was trained for {list(cfg.codebook_names)} with "
                             f"{list(cfg.vocab_sizes)}")
        codes = np.zeros((tokens.n_frames, cfg.n_codebooks), dtype=np.int64)
        for j, name in enumerate(names):
            codes[:, cfg.codebook_names.index(name)] = tokens.codes[:, j]
        return codes, names

    def codebook_weights(self, layers: Sequence[str | int] | None = None) -> dict[str, float]:
        """Softmax weight of each codebook (over ``layers``, default all): name -> weight."""
        names = self.config.codebook_names
        if not isinstance(self.embedding, CodebookEmbedding):
            return {}
        with torch.no_grad():
            w = self.embedding.weights(self.layer_mask(layers)).cpu().tolist()
        return dict(zip(names, (float(x) for x in w), strict=True))

    def n_parameters(self) -> int:
        """Trainable parameter count."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
