"""audiotokens: audio -> discrete tokens for multimodal LLMs, and a benchmark of their quality.

>>> import audiotokens as at
>>> tok = at.load_tokenizer("mulaw")
>>> tok.info.n_codebooks
1
"""

from .audio import Audio, AudioError, load_audio
from .tokenizers import (
    NoDecoderError,
    NotTrainableError,
    Tokenizer,
    TokenizerError,
    TokenizerInfo,
    Tokens,
    load_tokenizer,
    tokenizer_names,
)

__version__ = "0.1.0"

__all__ = [
    "Audio",
    "AudioError",
    "NoDecoderError",
    "NotTrainableError",
    "Tokenizer",
    "TokenizerError",
    "TokenizerInfo",
    "Tokens",
    "load_audio",
    "load_tokenizer",
    "tokenizer_names",
    "__version__",
]
