"""Tokenizers by name. Built-in entries are imported lazily so the CLI starts instantly.

``load_tokenizer("mel-kmeans", k=500)`` builds one from options; ``load_tokenizer(folder)``
loads a saved one. An unknown name raises listing the known names.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import CONFIG_FILE, Tokenizer, TokenizerError

__all__ = ["TokenizerEntry", "Registry", "REGISTRY", "load_tokenizer", "tokenizer_names"]


@dataclass(frozen=True)
class TokenizerEntry:
    """A registered name: ``target`` is "module:Class"; ``defaults`` pre-fill its config."""

    name: str
    target: str
    defaults: dict[str, Any] = field(default_factory=dict)
    summary: str = ""

    def resolve(self) -> type[Tokenizer]:
        """Import and return the tokenizer class."""
        module, _, cls = self.target.partition(":")
        return getattr(importlib.import_module(module), cls)


class Registry:
    """Name -> :class:`TokenizerEntry`. Instances are independent (no global mutation needed)."""

    def __init__(self, entries: list[TokenizerEntry] | None = None) -> None:
        self._entries: dict[str, TokenizerEntry] = {}
        for entry in entries or []:
            self.add(entry)

    def add(self, entry: TokenizerEntry) -> None:
        """Register an entry; a duplicate name is an error."""
        if entry.name in self._entries:
            raise ValueError(f"tokenizer name '{entry.name}' is already registered")
        self._entries[entry.name] = entry

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def get(self, name: str) -> TokenizerEntry:
        """The entry for ``name``; an unknown name raises listing the known ones."""
        try:
            return self._entries[name]
        except KeyError:
            raise TokenizerError(
                f"unknown tokenizer '{name}'; known: {', '.join(self.names())} "
                "(or a folder written by tok.save)"
            ) from None

    def create(self, name: str, **options: Any) -> Tokenizer:
        """Build an (unfitted where applicable) tokenizer from its name and config options."""
        from .base import config_from_dict

        entry = self.get(name)
        cls = entry.resolve()
        config = config_from_dict(cls.Config, {**entry.defaults, **options})
        return cls(config, name=entry.name)


_P = "audiotokens.tokenizers."
# the shipped model's layer with the highest PNMI on its training speakers (its
# training.json, "chosen"; a test keeps the two equal)
SHIPPED_LAYER = 3
REGISTRY = Registry(
    [
        TokenizerEntry("mel-kmeans", _P + "semantic:SemanticTokenizer", {"backbone": "mel"},
                       "log-mel frames clustered with k-means (no weights needed)"),
        TokenizerEntry("mfcc-kmeans", _P + "semantic:SemanticTokenizer", {"backbone": "mfcc"},
                       "MFCC frames clustered with k-means (no weights needed)"),
        TokenizerEntry("hubert", _P + "semantic:SemanticTokenizer", {"backbone": "hubert"},
                       "HuBERT hidden layers + k-means (hub id or local folder)"),
        TokenizerEntry("ssl-kmeans", _P + "semantic:SemanticTokenizer",
                       {"backbone": "hubert", "model": "shipped", "layers": [SHIPPED_LAYER],
                        "k": 100},
                       "k-means on the HuBERT shipped here (pretrained on synthetic speech "
                       "by `fit ssl`), its best-PNMI layer"),
        TokenizerEntry("wavlm", _P + "semantic:SemanticTokenizer", {"backbone": "wavlm"},
                       "WavLM hidden layers + k-means (hub id or local folder)"),
        TokenizerEntry("wav2vec2", _P + "semantic:SemanticTokenizer", {"backbone": "wav2vec2"},
                       "wav2vec 2.0 hidden layers + k-means (hub id or local folder)"),
        TokenizerEntry("data2vec", _P + "semantic:SemanticTokenizer", {"backbone": "data2vec"},
                       "Data2VecAudio hidden layers + k-means (hub id or local folder)"),
        TokenizerEntry("encodec", _P + "hf_codecs:EncodecTokenizer", {},
                       "EnCodec RVQ codes via transformers (24 kHz)"),
        TokenizerEntry("dac", _P + "hf_codecs:DacTokenizer", {},
                       "Descript Audio Codec RVQ codes via transformers"),
        TokenizerEntry("mimi", _P + "hf_codecs:MimiTokenizer", {},
                       "Kyutai Mimi RVQ codes via transformers"),
        TokenizerEntry("codec2", _P + "classic:Codec2Tokenizer", {},
                       "Codec2 frames (700-3200 bps), classical baseline"),
        TokenizerEntry("mulaw", _P + "classic:MuLawTokenizer", {},
                       "8-bit mu-law samples (256 ids, 1 codebook)"),
        TokenizerEntry("rvq", _P + "rvq:RVQTokenizer", {},
                       "the project's own trainable convolutional RVQ codec"),
    ]
)


def tokenizer_names(registry: Registry = REGISTRY) -> list[str]:
    """Registered tokenizer names (for CLI choices and error messages)."""
    return registry.names()


def load_tokenizer(name_or_path: str | Path, registry: Registry = REGISTRY,
                   **options: Any) -> Tokenizer:
    """A registered name (+ config options) or a folder saved by ``Tokenizer.save``."""
    path = Path(name_or_path)
    if (path / CONFIG_FILE).is_file():
        if options:
            raise TokenizerError(
                f"{path}: options {sorted(options)} cannot change a saved tokenizer"
            )
        from .persist import load_saved

        return load_saved(path, registry)
    if path.exists() or str(name_or_path).endswith(("/", "\\")):
        raise TokenizerError(f"{path}: not a saved tokenizer folder (no {CONFIG_FILE})")
    return registry.create(str(name_or_path), **options)
