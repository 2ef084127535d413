"""Tokenizers: the contract (base), the registry, and the families (semantic, codecs, rvq)."""

from .base import (
    NoDecoderError,
    NotTrainableError,
    Tokenizer,
    TokenizerError,
    TokenizerInfo,
    Tokens,
)
from .registry import REGISTRY, load_tokenizer, tokenizer_names

__all__ = [
    "NoDecoderError",
    "NotTrainableError",
    "REGISTRY",
    "Tokenizer",
    "TokenizerError",
    "TokenizerInfo",
    "Tokens",
    "load_tokenizer",
    "tokenizer_names",
]
