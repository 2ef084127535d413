"""An LLM vocabulary for audio tokens: ordered, contiguous id ranges plus special tokens.

Layout of the id space (``base_size`` = the text tokenizer's size, 0 for audio only)::

    [0, base_size)                  text tokens (not ours)
    [base_size, +n_specials)        special tokens: <audio_start>, <audio_end>, <pad>, ...,
                                    one <stream_NAME> marker per codebook, <reserved_i> slots
    then one range per codebook c   vocab_sizes[c] ids each, in codebook order

LLM id of code ``k`` in codebook ``c`` is ``ranges[c].start + k``. The spec is saved as JSON
(``llm_vocab.json``) with the ranges written out, and checked against the tokenizer info on
load, so a file that drifted from its tokenizer is refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..tokenizers.base import TokenizerError, TokenizerInfo, Tokens

__all__ = ["LLMError", "IdRange", "LLMVocab", "SPECIAL_TOKENS", "VOCAB_FILE"]

VOCAB_FILE = "llm_vocab.json"
VOCAB_VERSION = 1
SPECIAL_TOKENS = ("<audio_start>", "<audio_end>", "<pad>", "<text_start>", "<text_end>")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class LLMError(TokenizerError):
    """An LLM vocabulary, layout or BPE model is inconsistent with its input."""


@dataclass(frozen=True)
class IdRange:
    """Ids ``[start, start + size)`` named ``name``."""

    name: str
    start: int
    size: int

    @property
    def stop(self) -> int:
        """One past the last id."""
        return self.start + self.size

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"name", "start", "size"}``."""
        return {"name": self.name, "start": self.start, "size": self.size}


@dataclass(frozen=True)
class LLMVocab:
    """Audio codebooks of one tokenizer (``info``) mapped onto LLM ids after ``base_size``.

    ``specials`` are the fixed special tokens; a ``<stream_NAME>`` marker per codebook and
    ``reserved`` spare ``<reserved_i>`` slots follow them, so later specials keep ids stable.
    """

    info: TokenizerInfo
    base_size: int = 0
    specials: tuple[str, ...] = SPECIAL_TOKENS
    reserved: int = 0
    special_range: IdRange = field(init=False)
    ranges: tuple[IdRange, ...] = field(init=False)

    def __post_init__(self) -> None:
        if self.base_size < 0 or self.reserved < 0:
            raise LLMError(f"base_size and reserved must be >= 0, got {self.base_size}, "
                           f"{self.reserved}")
        object.__setattr__(self, "specials", tuple(self.specials))
        bad = [n for n in self.info.codebook_names if not _NAME.match(n)]
        if bad:
            raise LLMError(f"codebook names {bad} cannot name tokens (use letters, digits, _.-)")
        names = self.special_tokens
        if len(set(names)) != len(names):
            raise LLMError(f"special tokens must be unique, got {list(names)}")
        special = IdRange("special", self.base_size, len(names))
        ranges, start = [], special.stop
        for name, size in zip(self.info.codebook_names, self.info.vocab_sizes, strict=True):
            ranges.append(IdRange(name, start, size))
            start += size
        object.__setattr__(self, "special_range", special)
        object.__setattr__(self, "ranges", tuple(ranges))

    # -- the id space -----------------------------------------------------------------------
    @property
    def special_tokens(self) -> tuple[str, ...]:
        """All special token strings in id order: specials, stream markers, reserved."""
        markers = tuple(f"<stream_{n}>" for n in self.info.codebook_names)
        spare = tuple(f"<reserved_{i}>" for i in range(self.reserved))
        return self.specials + markers + spare

    @property
    def size(self) -> int:
        """Total LLM vocabulary size: text + specials + every codebook."""
        return self.ranges[-1].stop

    @property
    def n_new(self) -> int:
        """Ids this vocabulary adds on top of the text tokenizer (``size - base_size``)."""
        return self.size - self.base_size

    @property
    def offsets(self) -> np.ndarray:
        """int64 [C]: the first LLM id of each codebook."""
        return np.array([r.start for r in self.ranges], dtype=np.int64)

    def special_id(self, token: str) -> int:
        """The LLM id of a special token string, e.g. ``"<pad>"`` or ``"<stream_q0>"``."""
        names = self.special_tokens
        if token not in names:
            raise LLMError(f"no special token {token!r}; known: {', '.join(names)}")
        return self.base_size + names.index(token)

    def token_strings(self) -> list[str]:
        """The strings of ids ``[base_size, size)`` in id order (what ``add_tokens`` gets):
        special tokens, then ``<a_NAME_k>`` for code k of each codebook."""
        out = list(self.special_tokens)
        for r in self.ranges:
            out.extend(f"<a_{r.name}_{k}>" for k in range(r.size))
        return out

    # -- Tokens <-> LLM ids -----------------------------------------------------------------
    def to_ids(self, tokens: Tokens) -> np.ndarray:
        """Tokens [T, C] -> int64 LLM ids [T, C] (column c shifted by its range start)."""
        self._check_info(tokens.info)
        if tokens.is_batch:
            raise LLMError("to_ids takes one item [T, C]; split a batch with tokens.items()")
        tokens.validate()
        return tokens.codes + self.offsets

    def from_ids(self, ids: np.ndarray) -> Tokens:
        """int LLM ids [T, C] (column c within codebook c's range) -> Tokens [T, C]."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim != 2 or ids.shape[1] != len(self.ranges):
            raise LLMError(f"ids must be [T, {len(self.ranges)}], got shape {ids.shape}")
        codes = ids - self.offsets
        bad = (codes < 0) | (codes >= np.asarray(self.info.vocab_sizes))
        if bad.any():
            frame, book = map(int, np.argwhere(bad)[0])
            r = self.ranges[book]
            raise LLMError(f"id {ids[frame, book]} at frame {frame} is outside codebook "
                           f"{r.name!r} range [{r.start}, {r.stop})")
        return Tokens(codes, self.info)

    def _check_info(self, info: TokenizerInfo) -> None:
        if (info.vocab_sizes, info.codebook_names) != (self.info.vocab_sizes,
                                                       self.info.codebook_names):
            raise LLMError(f"tokens of '{info.name}' {list(info.vocab_sizes)} do not match this "
                           f"vocabulary's '{self.info.name}' {list(self.info.vocab_sizes)}")

    # -- JSON -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready spec, ranges written out."""
        return {
            "format_version": VOCAB_VERSION,
            "size": self.size,
            "base_size": self.base_size,
            "specials": list(self.specials),
            "reserved": self.reserved,
            "special_range": self.special_range.to_dict(),
            "special_tokens": list(self.special_tokens),
            "ranges": [r.to_dict() for r in self.ranges],
            "info": self.info.to_dict(),
        }

    def save(self, path: str | Path) -> Path:
        """Write the spec as JSON to ``path`` (a file, or a folder -> ``llm_vocab.json``)."""
        from ..tokenizers.persist import atomic_write_bytes

        path = Path(path)
        if path.is_dir() or not path.suffix:
            path = path / VOCAB_FILE
        atomic_write_bytes(path, (json.dumps(self.to_dict(), indent=2) + "\n").encode())
        return path

    @classmethod
    def load(cls, path: str | Path) -> LLMVocab:
        """Read a spec written by :meth:`save` (a file or its folder); checks the ranges."""
        path = Path(path)
        if path.is_dir():
            path = path / VOCAB_FILE
        try:
            d = json.loads(path.read_text())
            if d.get("format_version", 0) > VOCAB_VERSION:
                raise ValueError(f"format_version {d['format_version']} is too new")
            vocab = cls(TokenizerInfo.from_dict(d["info"]), int(d["base_size"]),
                        tuple(d["specials"]), int(d["reserved"]))
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no LLM vocabulary (make one with "
                                    "`audiotokens llm vocab`)") from None
        except (OSError, ValueError, TypeError, KeyError) as err:
            raise LLMError(f"{path}: unreadable LLM vocabulary ({err})") from None
        if [vocab.special_range.to_dict(), *[r.to_dict() for r in vocab.ranges]] != [
                d.get("special_range"), *d.get("ranges", [])]:
            raise LLMError(f"{path}: id ranges do not match its tokenizer info and specials")
        return vocab
