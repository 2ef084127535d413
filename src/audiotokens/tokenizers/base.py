"""The tokenizer contract: :class:`Tokenizer`, :class:`TokenizerInfo`, :class:`Tokens`.

Everything outside ``tokenizers/`` (encode jobs, the benchmark, the CLI, LLM export) sees only
this module. Token convention: one item is ``[T, C]`` (frames x codebooks), a batch is
``[B, T, C]`` plus ``lengths`` [B]. Codebook ``c`` holds ids in ``[0, vocab_sizes[c])``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "Tokenizer",
    "TokenizerInfo",
    "Tokens",
    "TokenizerError",
    "NotTrainableError",
    "NoDecoderError",
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "FORMAT_VERSION",
    "config_from_dict",
]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
FORMAT_VERSION = 1


class TokenizerError(RuntimeError):
    """A tokenizer was used in a way it does not support; the message says what to do."""


class NotTrainableError(TokenizerError):
    """``fit`` was called on a tokenizer with nothing to train."""


class NoDecoderError(TokenizerError):
    """``decode`` was called on a tokenizer that cannot turn tokens back into audio."""


@dataclass(frozen=True)
class TokenizerInfo:
    """What a user needs to know about a tokenizer's tokens.

    ``frame_rate`` is token frames per second; ``vocab_sizes`` has one entry per codebook;
    ``codebook_names`` labels them (e.g. ``layer7`` or ``q0``) for plots and reports.
    """

    name: str
    kind: str  # "semantic" | "codec" | "sample" | "continuous"
    sample_rate: int
    frame_rate: float
    vocab_sizes: tuple[int, ...]
    codebook_names: tuple[str, ...] = ()
    source: str = ""
    has_decoder: bool = False
    fitted: bool = True

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.frame_rate <= 0:
            raise ValueError(f"sample_rate and frame_rate must be positive: {self}")
        if not self.vocab_sizes or any(v < 1 for v in self.vocab_sizes):
            raise ValueError(f"vocab_sizes must be non-empty positive ints, got {self.vocab_sizes}")
        if not self.codebook_names:
            names = tuple(f"q{i}" for i in range(len(self.vocab_sizes)))
            object.__setattr__(self, "codebook_names", names)
        if len(self.codebook_names) != len(self.vocab_sizes):
            raise ValueError("codebook_names and vocab_sizes must have the same length")
        object.__setattr__(self, "vocab_sizes", tuple(int(v) for v in self.vocab_sizes))
        object.__setattr__(self, "codebook_names", tuple(self.codebook_names))

    @property
    def n_codebooks(self) -> int:
        """Number of codebooks C."""
        return len(self.vocab_sizes)

    @property
    def bitrate_bps(self) -> float:
        """frame_rate * sum(log2(vocab_size)) over codebooks, in bits per second."""
        return self.frame_rate * sum(math.log2(v) for v in self.vocab_sizes if v > 1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, including the derived ``n_codebooks`` and ``bitrate_bps``."""
        d = dataclasses.asdict(self)
        d["vocab_sizes"] = list(self.vocab_sizes)
        d["codebook_names"] = list(self.codebook_names)
        d["n_codebooks"] = self.n_codebooks
        d["bitrate_bps"] = self.bitrate_bps
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TokenizerInfo:
        """Inverse of :meth:`to_dict` (derived keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["vocab_sizes"] = tuple(kw["vocab_sizes"])
        kw["codebook_names"] = tuple(kw.get("codebook_names", ()))
        return cls(**kw)


@dataclass
class Tokens:
    """Integer token ids with their tokenizer's info.

    ``codes``: int64 array [T, C] for one item or [B, T, C] for a batch; a batch carries
    ``lengths`` [B] (valid frames per item, the rest is padding with id 0).
    """

    codes: np.ndarray
    info: TokenizerInfo
    lengths: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.codes = np.asarray(self.codes, dtype=np.int64)
        if self.codes.ndim not in (2, 3):
            raise ValueError(f"codes must be [T, C] or [B, T, C], got shape {self.codes.shape}")
        if self.codes.shape[-1] != self.info.n_codebooks:
            raise ValueError(
                f"codes have {self.codes.shape[-1]} codebooks, info says {self.info.n_codebooks}"
            )
        if self.codes.ndim == 3:
            if self.lengths is None:
                self.lengths = np.full(self.codes.shape[0], self.codes.shape[1], dtype=np.int64)
            self.lengths = np.asarray(self.lengths, dtype=np.int64)
            if self.lengths.shape != (self.codes.shape[0],):
                raise ValueError("lengths must have shape [B]")
        elif self.lengths is not None:
            raise ValueError("lengths are only for batched [B, T, C] tokens")

    @property
    def is_batch(self) -> bool:
        """True for [B, T, C] tokens."""
        return self.codes.ndim == 3

    @property
    def n_frames(self) -> int:
        """T (the padded length for a batch)."""
        return int(self.codes.shape[-2])

    def items(self) -> list[Tokens]:
        """Split a batch into single-item [T_i, C] tokens (a single item returns [self])."""
        if not self.is_batch:
            return [self]
        assert self.lengths is not None
        return [Tokens(self.codes[i, : int(n)], self.info) for i, n in enumerate(self.lengths)]

    @classmethod
    def stack(cls, items: list[Tokens]) -> Tokens:
        """Pad single-item tokens to one [B, T, C] batch (padding id 0) with lengths."""
        if not items:
            raise ValueError("cannot stack an empty list of Tokens")
        info = items[0].info
        lengths = np.array([t.n_frames for t in items], dtype=np.int64)
        codes = np.zeros((len(items), int(lengths.max()), info.n_codebooks), dtype=np.int64)
        for i, t in enumerate(items):
            codes[i, : t.n_frames] = t.codes
        return cls(codes, info, lengths)

    def select(self, codebooks: list[int]) -> Tokens:
        """Keep only the given codebooks (by index), updating the info to match."""
        info = dataclasses.replace(
            self.info,
            vocab_sizes=tuple(self.info.vocab_sizes[c] for c in codebooks),
            codebook_names=tuple(self.info.codebook_names[c] for c in codebooks),
        )
        return Tokens(self.codes[..., codebooks], info, self.lengths)

    def validate(self) -> None:
        """Raise ValueError if any id is outside its codebook's vocabulary."""
        vocab = np.asarray(self.info.vocab_sizes)
        if (self.codes < 0).any() or (self.codes >= vocab).any():
            raise ValueError(f"token ids out of range for vocab sizes {self.info.vocab_sizes}")


class Tokenizer(ABC):
    """Audio -> discrete tokens (and back, when ``info.has_decoder``).

    Subclasses set ``Config`` (a dataclass) and a default ``name`` (the registry passes the
    registered name, so one class can serve several), implement :meth:`info`,
    :meth:`encode` and, when they have weights, :meth:`state_tensors` /
    :meth:`load_state_tensors`. Trainable ones implement :meth:`fit`.
    """

    name: str = ""
    Config: ClassVar[type]

    def __init__(self, config: Any, name: str | None = None) -> None:
        self.config = config
        self.name = name or type(self).name
        self.device = "cpu"
        self.vocoder: Any = None  # a unit vocoder attached with attach_vocoder()

    # -- the contract -------------------------------------------------------------------
    @property
    @abstractmethod
    def info(self) -> TokenizerInfo:
        """Sample rate, frame rate, codebooks, vocab sizes, bitrate, kind, source."""

    @abstractmethod
    def encode(self, samples: np.ndarray, sample_rate: int) -> Tokens:
        """Mono float32 samples [N] at ``sample_rate`` -> Tokens [T, C] (resampled inside)."""

    def encode_batch(self, batch: list[np.ndarray], sample_rate: int) -> Tokens:
        """A list of mono signals -> batched Tokens [B, T, C] with lengths.

        The default encodes one at a time; tokenizers with a batched forward override it.
        """
        return Tokens.stack([self.encode(x, sample_rate) for x in batch])

    def decode(self, tokens: Tokens) -> np.ndarray:
        """Tokens [T, C] -> mono float32 samples [N] at ``info.sample_rate``.

        Tokenizers without a decoder of their own decode through an attached unit vocoder;
        tokens may carry a subset of the codebooks (``tokens.select``) when it was trained
        with layer dropout.
        """
        if self.vocoder is None:
            raise NoDecoderError(
                f"tokenizer '{self.name}' has no decoder; train a unit vocoder for it "
                "(`audiotokens fit vocoder FOLDER --manifest M`) or use a codec"
            )
        return self.vocoder.synthesize(tokens)

    def attach_vocoder(self, vocoder: Any) -> None:
        """Decode through ``vocoder`` (an ``audiotokens.vocoder.UnitVocoder``) from now on;
        ``save`` writes it to the tokenizer folder's ``vocoder/`` and ``load`` restores it."""
        self.vocoder = vocoder.to(self.device)

    def codebook_vectors(self) -> list[np.ndarray] | None:
        """The vectors the ids stand for, one float32 [vocab_sizes[c], E_c] array per codebook
        in use (k-means centroids, codec codebook entries), or None when the tokenizer has
        none (or is not fitted). Downstream heads can start their embeddings from them."""
        return None

    def fit(self, manifest: str | Path, **options: Any) -> None:
        """Train the tokenizer on the audio listed in a JSONL manifest."""
        raise NotTrainableError(f"tokenizer '{self.name}' has nothing to fit; use it as is")

    def to(self, device: str) -> Tokenizer:
        """Move any torch modules to ``device`` ("cpu", "cuda", "cuda:1", "mps").

        Subclasses that hold modules move them and call ``super().to(device)``."""
        self.device = device
        if self.vocoder is not None:
            self.vocoder.to(device)
        return self

    # -- persistence ----------------------------------------------------------------------
    def state_tensors(self) -> dict[str, Any]:
        """Named tensors (numpy or torch) that, with the config, reproduce this tokenizer."""
        return {}

    def load_state_tensors(self, tensors: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state_tensors` returned."""
        if tensors:
            raise TokenizerError(f"tokenizer '{self.name}' does not take weights")

    def config_dict(self) -> dict[str, Any]:
        """The config as a JSON-ready dict."""
        return _jsonable(dataclasses.asdict(self.config))

    def save(self, path: str | Path) -> Path:
        """Write ``config.json`` (+ ``weights.safetensors``) to the folder ``path``."""
        from .persist import save_tokenizer

        return save_tokenizer(self, Path(path))

    def checksum(self) -> str:
        """sha256 over config and weights: identifies exactly which tokenizer made tokens."""
        h = hashlib.sha256(json.dumps(self.config_dict(), sort_keys=True).encode())
        h.update(self.name.encode())
        for key, value in sorted(self.state_tensors().items()):
            arr = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
            h.update(key.encode())
            h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


def _jsonable(value: Any) -> Any:
    """Tuples -> lists, Paths -> str, recursively, so configs serialise as plain JSON."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def config_from_dict(config_cls: type, data: dict[str, Any]) -> Any:
    """Build a config dataclass from a dict, rejecting unknown keys with the allowed ones."""
    allowed = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise TypeError(
            f"unknown option(s) {unknown} for {config_cls.__name__}; allowed: {sorted(allowed)}"
        )
    return config_cls(**data)

