"""Extend a local transformers text tokenizer with an :class:`LLMVocab`'s audio tokens."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .vocab import LLMError, LLMVocab

if TYPE_CHECKING:
    from ..tokenizers.base import TokenizerInfo

__all__ = ["ExtendedTokenizer", "check_ids", "extend_text_tokenizer", "load_text_tokenizer"]


@dataclass
class ExtendedTokenizer:
    """A text tokenizer with the audio tokens added, and the vocabulary whose ids it holds."""

    tokenizer: Any  # transformers PreTrainedTokenizerBase
    vocab: LLMVocab


def load_text_tokenizer(folder: str | Path) -> Any:
    """A transformers tokenizer from a local ``save_pretrained`` folder (never the hub)."""
    from transformers import AutoTokenizer

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: text tokenizer folder not found")
    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, TypeError, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise LLMError(f"{folder}: not a transformers tokenizer folder ({first})") from None


def extend_text_tokenizer(text_tokenizer: Any, info: TokenizerInfo, *,
                          reserved: int = 0) -> ExtendedTokenizer:
    """Add the audio vocabulary of ``info`` to ``text_tokenizer`` (modified in place) in one
    ``add_tokens`` call; the new ids must be exactly ``[len(text_tokenizer), vocab.size)``.

    Special tokens are added as special (never split, skipped by ``skip_special_tokens``);
    any clash with an existing token or non-contiguous ids raise :class:`LLMError`.
    """
    from transformers import AddedToken

    base = len(text_tokenizer)
    vocab = LLMVocab(info, base_size=base, reserved=reserved)
    strings = vocab.token_strings()
    clash = sorted(set(strings) & set(text_tokenizer.get_vocab()))
    if clash:
        raise LLMError(f"the text tokenizer already has token(s) {clash[:5]}; audio tokens must "
                       "be new to it")
    n_special = vocab.special_range.size
    new = [AddedToken(s, special=i < n_special, normalized=False, single_word=False)
           for i, s in enumerate(strings)]
    text_tokenizer.add_tokens(new)
    check_ids(text_tokenizer, vocab)
    return ExtendedTokenizer(text_tokenizer, vocab)


def check_ids(text_tokenizer: Any, vocab: LLMVocab) -> None:
    """Raise :class:`LLMError` unless the tokenizer maps the vocabulary's strings to exactly
    its ids ``[base_size, size)`` and has ``vocab.size`` tokens."""
    strings = vocab.token_strings()
    ids = text_tokenizer.convert_tokens_to_ids(strings)
    expected = list(range(vocab.base_size, vocab.size))
    if ids != expected:
        wrong = next(i for i, (a, b) in enumerate(zip(ids, expected, strict=True)) if a != b)
        raise LLMError(f"audio token {strings[wrong]!r} got id {ids[wrong]}, expected "
                       f"{expected[wrong]}: the added ids are not contiguous after the text "
                       f"vocabulary ({vocab.base_size} tokens)")
    if len(text_tokenizer) != vocab.size:
        raise LLMError(f"the extended tokenizer has {len(text_tokenizer)} tokens, the "
                       f"vocabulary {vocab.size}")
