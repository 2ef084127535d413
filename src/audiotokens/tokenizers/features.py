"""Feature backbones: padded 16 kHz audio -> per-layer frame features.

Three families share one :class:`Backbone` interface, independent of any quantizer so the
continuous benchmark baseline can reuse them:

- ``mel``: log-mel frames (:func:`audiotokens.dsp.log_mel`, 80 mels, 50 frames/s), 1 layer.
- ``mfcc``: DCT of the log-mel frames, optionally with deltas and delta-deltas, 1 layer.
- ``hubert`` / ``wavlm`` / ``wav2vec2`` / ``data2vec``: a transformers SSL model loaded with
  ``from_pretrained(hub id or local folder)``. Layer 0 is the encoder input (CNN features
  after projection and positional convolution, ``hidden_states[0]``); layer i is the output
  of transformer layer i (``hidden_states[i]``). Transformer layers above the deepest
  requested one are dropped at load time, so a low layer costs only the layers below it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..dsp import MelConfig, dct_matrix, log_mel, mel_filterbank

__all__ = [
    "BACKBONES",
    "SSL_BACKBONES",
    "Backbone",
    "BackboneOutput",
    "MelBackbone",
    "MfccBackbone",
    "SSLBackbone",
    "build_backbone",
    "pad_batch",
    "ssl_frame_rate",
    "ssl_family",
    "ssl_layer_count",
]

SAMPLE_RATE = 16000
SSL_BACKBONES = ("hubert", "wavlm", "wav2vec2", "data2vec")
BACKBONES = ("mel", "mfcc", *SSL_BACKBONES)
# backbone name -> (transformers model class, config.model_type it must have)
_SSL_CLASSES = {
    "hubert": ("HubertModel", "hubert"),
    "wavlm": ("WavLMModel", "wavlm"),
    "wav2vec2": ("Wav2Vec2Model", "wav2vec2"),
    "data2vec": ("Data2VecAudioModel", "data2vec-audio"),
}


@dataclass
class BackboneOutput:
    """Features of a padded batch.

    ``features[j]`` is float32 [B, T, D] for ``layers[j]``; ``lengths`` is int64 [B], the
    valid frames per item (frames past an item's length are padding and meaningless).
    """

    layers: tuple[int, ...]
    features: tuple[torch.Tensor, ...]
    lengths: torch.Tensor

    def layer(self, index: int) -> torch.Tensor:
        """Features [B, T, D] of layer ``index`` (one of ``layers``)."""
        if index not in self.layers:
            raise KeyError(f"layer {index} was not computed; have {list(self.layers)}")
        return self.features[self.layers.index(index)]

    def items(self, index: int) -> list[torch.Tensor]:
        """Layer ``index`` split into unpadded per-item features, each [T_i, D]."""
        feats = self.layer(index)
        return [feats[i, : int(n)] for i, n in enumerate(self.lengths.tolist())]


class Backbone(ABC):
    """Padded 16 kHz mono audio [B, N] + lengths [B] -> per-layer features [B, T, D]."""

    sample_rate: int = SAMPLE_RATE
    name: str = ""
    # whether a padded item's features equal encoding it alone (see SSLBackbone)
    pads_exactly: bool = True

    @property
    @abstractmethod
    def frame_rate(self) -> float:
        """Feature frames per second."""

    @property
    @abstractmethod
    def layer_count(self) -> int:
        """Selectable layers are ``0 .. layer_count - 1``."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Feature size D of every layer."""

    @property
    def min_samples(self) -> int:
        """Shortest input (samples at 16 kHz) that yields at least one frame."""
        return 1

    @property
    def source(self) -> str:
        """What the features come from (for reports)."""
        return self.name

    @abstractmethod
    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Valid frames for inputs of ``lengths`` samples: int64 [B] -> int64 [B]."""

    @abstractmethod
    def forward(
        self, wav: torch.Tensor, lengths: torch.Tensor, layers: Sequence[int]
    ) -> BackboneOutput:
        """Padded float32 [B, N] at 16 kHz + int64 [B] sample lengths -> :class:`BackboneOutput`."""

    @abstractmethod
    def to(self, device: str | torch.device) -> Backbone:
        """Move weights/buffers to ``device``; returns self."""

    @property
    def device(self) -> torch.device:
        """Where inputs must live."""
        return torch.device("cpu")

    def check_layers(self, layers: Sequence[int]) -> None:
        """Raise ValueError naming the valid range if a layer does not exist."""
        bad = [i for i in layers if not 0 <= i < self.layer_count]
        if bad or not layers:
            raise ValueError(
                f"layers {list(layers)} invalid for backbone '{self.name}': "
                f"choose from 0..{self.layer_count - 1}"
            )


def pad_batch(items: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """1-D float tensors -> zero-padded [B, N_max] float32 and int64 lengths [B]."""
    if not items:
        raise ValueError("cannot pad an empty batch")
    lengths = torch.tensor([len(x) for x in items], dtype=torch.int64)
    out = torch.zeros(len(items), int(lengths.max()), dtype=torch.float32)
    for i, x in enumerate(items):
        out[i, : len(x)] = torch.as_tensor(x, dtype=torch.float32)
    return out, lengths


# -- weightless backbones --------------------------------------------------------------------
class MelBackbone(Backbone):
    """Log-mel frames [B, T, n_mels] (natural log), T = N // hop_length; one layer (0)."""

    name = "mel"

    def __init__(self, mel: MelConfig | None = None) -> None:
        self.mel = mel or MelConfig()
        if self.mel.sample_rate != SAMPLE_RATE:
            raise ValueError(f"mel backbone runs at {SAMPLE_RATE} Hz, got {self.mel.sample_rate}")
        self._fb = mel_filterbank(self.mel)

    @property
    def frame_rate(self) -> float:
        return self.mel.frame_rate

    @property
    def layer_count(self) -> int:
        return 1

    @property
    def dim(self) -> int:
        return self.mel.n_mels

    @property
    def min_samples(self) -> int:
        return self.mel.hop_length

    @property
    def device(self) -> torch.device:
        return self._fb.device

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return torch.div(lengths, self.mel.hop_length, rounding_mode="floor").to(torch.int64)

    def to(self, device: str | torch.device) -> MelBackbone:
        self._fb = self._fb.to(device)
        return self

    def _log_mel(self, wav: torch.Tensor) -> torch.Tensor:
        wav = wav.to(self.device, torch.float32)
        with torch.inference_mode():
            return log_mel(wav, self.mel, self._fb)

    def forward(
        self, wav: torch.Tensor, lengths: torch.Tensor, layers: Sequence[int] = (0,)
    ) -> BackboneOutput:
        self.check_layers(layers)
        feats = self._log_mel(wav)
        return BackboneOutput((0,), (feats,), self.frame_lengths(lengths.cpu()))


class MfccBackbone(MelBackbone):
    """MFCCs [B, T, n_coeffs * (3 if deltas else 1)]: log-mel @ DCT-II, + deltas, ΔΔ."""

    name = "mfcc"

    def __init__(self, n_coeffs: int = 13, deltas: bool = True, mel: MelConfig | None = None,
                 delta_width: int = 2) -> None:
        super().__init__(mel)
        if not 1 <= n_coeffs <= self.mel.n_mels:
            raise ValueError(f"n_coeffs must be in 1..{self.mel.n_mels}, got {n_coeffs}")
        self.n_coeffs = n_coeffs
        self.deltas = deltas
        self.delta_width = delta_width
        self._dct = dct_matrix(self.mel.n_mels, n_coeffs)

    @property
    def dim(self) -> int:
        return self.n_coeffs * (3 if self.deltas else 1)

    def to(self, device: str | torch.device) -> MfccBackbone:
        super().to(device)
        self._dct = self._dct.to(device)
        return self

    def forward(
        self, wav: torch.Tensor, lengths: torch.Tensor, layers: Sequence[int] = (0,)
    ) -> BackboneOutput:
        self.check_layers(layers)
        frame_lengths = self.frame_lengths(lengths.cpu())
        mfcc = self._log_mel(wav) @ self._dct
        if self.deltas:
            # deltas per item over its valid frames only, so padding never leaks in
            out = torch.zeros(*mfcc.shape[:2], self.dim, device=mfcc.device)
            for i, n in enumerate(frame_lengths.tolist()):
                if n > 0:
                    d1 = _delta(mfcc[i, :n], self.delta_width)
                    out[i, :n] = torch.cat([mfcc[i, :n], d1, _delta(d1, self.delta_width)], -1)
            mfcc = out
        return BackboneOutput((0,), (mfcc,), frame_lengths)


def _delta(x: torch.Tensor, width: int) -> torch.Tensor:
    """Regression deltas over time of [T, D] features (edge frames replicated) -> [T, D]."""
    padded = torch.cat([x[:1].expand(width, -1), x, x[-1:].expand(width, -1)], 0)
    t = x.shape[0]
    num = sum(n * (padded[width + n: width + n + t] - padded[width - n: width - n + t])
              for n in range(1, width + 1))
    return num / (2 * sum(n * n for n in range(1, width + 1)))


# -- SSL backbones via transformers ----------------------------------------------------------
class SSLBackbone(Backbone):
    """A transformers HuBERT / WavLM / wav2vec 2.0 / Data2VecAudio model, eval mode.

    ``max_layer`` keeps only transformer layers 1..max_layer (None keeps all). Padding: an
    attention mask is passed only when the model takes one (``feat_extract_norm ==
    "layer"``, and Data2VecAudio, whose CNN is always layer-normed). Two kinds of model
    cannot batch padded items exactly: group-norm models (the "base" checkpoints), whose
    first conv normalises over the whole padded length, and Data2VecAudio, which stacks
    positional convolutions without re-masking between them (a padded item's last
    (layers - 1) x kernel / 2 frames change). For those (:attr:`pads_exactly` False),
    ``exact_batches`` (default) runs each group of equal-length items as its own forward,
    so every item's features equal encoding it alone, whatever else is in the batch;
    ``exact_batches=False`` pads them into one forward (faster on a GPU, not batch
    invariant). Waveforms are normalised to zero mean and unit variance per item (over its
    valid samples) when the model's feature extractor says ``do_normalize`` (its default
    when the folder has no preprocessor config).
    """

    def __init__(self, family: str, model: str, max_layer: int | None = None,
                 exact_batches: bool = True) -> None:
        if family not in _SSL_CLASSES:
            raise ValueError(f"unknown SSL backbone '{family}'; allowed: {list(_SSL_CLASSES)}")
        import transformers

        class_name, model_type = _SSL_CLASSES[family]
        self.name = family
        self.model_id = str(model)
        self.path = _resolve(self.model_id)  # "shipped" -> the package's own model folder
        config = _load_config(self.model_id)
        if config.model_type != model_type:
            raise ValueError(
                f"{self.model_id}: holds a '{config.model_type}' model, not '{model_type}' "
                f"(backbone '{family}'); pick the backbone that matches the checkpoint"
            )
        total = int(config.num_hidden_layers)
        if max_layer is not None and not 0 <= max_layer <= total:
            raise ValueError(
                f"max_layer must be in 0..{total} for {self.model_id}, got {max_layer}"
            )
        self._layer_count = total + 1
        self.kept_layers = total if max_layer is None else max_layer
        model_cls = getattr(transformers, class_name)
        self.model = model_cls.from_pretrained(self.path).eval()
        if self.kept_layers < total:  # early stop: drop the transformer layers never used
            self.model.encoder.layers = self.model.encoder.layers[: self.kept_layers]
        # Data2VecAudio has no feat_extract_norm: its CNN is always layer-normed and its
        # feature extractor returns attention masks
        self.use_attention_mask = config.model_type == "data2vec-audio" or getattr(
            config, "feat_extract_norm", "group") == "layer"
        self.pads_exactly = self.use_attention_mask and config.model_type != "data2vec-audio"
        self.exact_batches = exact_batches
        self.do_normalize = _wants_normalize(self.model_id)
        self._stride = math.prod(config.conv_stride)
        self._min_samples = _receptive_field(config.conv_kernel, config.conv_stride)
        self._dim = int(config.hidden_size)

    @property
    def source(self) -> str:
        return f"{self.name}:{self.model_id}"

    @property
    def frame_rate(self) -> float:
        return SAMPLE_RATE / self._stride

    @property
    def layer_count(self) -> int:
        return self._layer_count

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def min_samples(self) -> int:
        return self._min_samples

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> SSLBackbone:
        self.model.to(device)
        return self

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        out = self.model._get_feat_extract_output_lengths(lengths.to(torch.int64))
        return torch.as_tensor(out, dtype=torch.int64).clamp_min(0)

    def check_layers(self, layers: Sequence[int]) -> None:
        super().check_layers(layers)
        if max(layers) > self.kept_layers:
            raise ValueError(
                f"layer {max(layers)} was dropped at load (max_layer={self.kept_layers}); "
                "build the backbone with a larger max_layer"
            )

    def forward(
        self, wav: torch.Tensor, lengths: torch.Tensor, layers: Sequence[int]
    ) -> BackboneOutput:
        self.check_layers(layers)
        if self.exact_batches and not self.pads_exactly and len(set(lengths.tolist())) > 1:
            return self._forward_by_length(wav, lengths, layers)
        device = self.device
        wav = wav.to(device, torch.float32)
        lengths_dev = lengths.to(device)
        mask = torch.arange(wav.shape[1], device=device)[None] < lengths_dev[:, None]
        if self.do_normalize:
            wav = _normalize(wav, mask, lengths_dev)
        kwargs: dict[str, Any] = {"output_hidden_states": True}
        if self.use_attention_mask:
            kwargs["attention_mask"] = mask.long()
        with torch.inference_mode():
            hidden = self.model(wav, **kwargs).hidden_states
        feats = tuple(hidden[i].float() for i in layers)
        return BackboneOutput(tuple(layers), feats, self.frame_lengths(lengths.cpu()))


    def _forward_by_length(
        self, wav: torch.Tensor, lengths: torch.Tensor, layers: Sequence[int]
    ) -> BackboneOutput:
        """One unpadded forward per group of equal-length items, re-padded into one batch."""
        frames = self.frame_lengths(lengths.cpu())
        t_max = max(int(frames.max()), 0)
        feats = [torch.zeros(len(lengths), t_max, self.dim) for _ in layers]
        for n in sorted(set(lengths.tolist()), reverse=True):
            rows = torch.nonzero(lengths.cpu() == n).flatten()
            if int(frames[rows[0]]) == 0:  # shorter than one frame: nothing to compute
                continue
            group = self.forward(wav[rows, :n], lengths[rows], layers)
            t = group.features[0].shape[1]
            for out, f in zip(feats, group.features, strict=True):
                out[rows, :t] = f.cpu()
        device = self.device
        return BackboneOutput(tuple(layers), tuple(f.to(device) for f in feats), frames)


def _normalize(wav: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Per-item zero mean / unit variance over valid samples (as Wav2Vec2FeatureExtractor)."""
    m = mask.float()
    n = lengths.clamp_min(1).float()[:, None]
    mean = (wav * m).sum(1, keepdim=True) / n
    var = (((wav - mean) * m) ** 2).sum(1, keepdim=True) / n
    return (wav - mean) / torch.sqrt(var + 1e-7) * m


def _receptive_field(kernels: Sequence[int], strides: Sequence[int]) -> int:
    """Input samples needed for one output frame of a stack of valid convolutions."""
    field, jump = 1, 1
    for k, s in zip(kernels, strides, strict=True):
        field += (k - 1) * jump
        jump *= s
    return field


def _resolve(model: str) -> str:
    from ..ssl.shipped import resolve_model

    return resolve_model(model)


def _load_config(model: str) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(_resolve(model))
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"{model}: cannot load a model config (not a local model folder or a cached hub id: "
            f"{first})"
        ) from None


def ssl_frame_rate(model: str) -> float:
    """Frames per second of an SSL model, read from its config only (weights not loaded)."""
    return SAMPLE_RATE / math.prod(_load_config(model).conv_stride)


def ssl_family(model: str) -> str:
    """The SSL backbone name (one of :data:`SSL_BACKBONES`) of a model, read from its config;
    ValueError naming the model type and the supported ones otherwise."""
    model_type = _load_config(model).model_type
    for family, (_, wanted) in _SSL_CLASSES.items():
        if wanted == model_type:
            return family
    raise ValueError(f"{model}: holds a '{model_type}' model; supported SSL models: "
                     f"{', '.join(t for _, t in _SSL_CLASSES.values())}")


def ssl_layer_count(model: str) -> int:
    """Transformer layers of an SSL model (layers 1..N; layer 0 is the CNN output), read from
    its config."""
    return int(_load_config(model).num_hidden_layers)


def _wants_normalize(model: str) -> bool:
    """``do_normalize`` from the folder's preprocessor config; True (the default) if absent."""
    from transformers import AutoFeatureExtractor

    try:
        extractor = AutoFeatureExtractor.from_pretrained(_resolve(model))
    except (OSError, ValueError):
        return True
    return bool(getattr(extractor, "do_normalize", True))


def build_backbone(
    name: str,
    model: str | None = None,
    *,
    max_layer: int | None = None,
    n_mfcc: int = 13,
    deltas: bool = True,
    exact_batches: bool = True,
) -> Backbone:
    """A backbone by name (one of :data:`BACKBONES`); SSL ones need ``model`` (hub id/folder);
    ``exact_batches``: see :class:`SSLBackbone`."""
    match name:
        case "mel":
            return MelBackbone()
        case "mfcc":
            return MfccBackbone(n_coeffs=n_mfcc, deltas=deltas)
        case "hubert" | "wavlm" | "wav2vec2" | "data2vec":
            if not model:
                raise ValueError(f"backbone '{name}' needs model= (a hub id or a local folder)")
            return SSLBackbone(name, model, max_layer, exact_batches)
        case _:
            raise ValueError(f"unknown backbone '{name}'; allowed: {list(BACKBONES)}")
