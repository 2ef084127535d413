"""BPE over audio token sequences with the HF ``tokenizers`` library.

Each frame's codes become symbols (codebook c's code k is symbol ``offset_c + k``, frames in
order), each symbol one code point of an NFKC-stable block (CJK Unified Ideographs from
U+4E00 by default: NFKC leaves every one unchanged, unlike ``chr(id + 97)``, which walks into
letters, digits, combining marks and compatibility characters). An utterance is one "word"
of that text: no normalizer, no pre-tokenizer. Optionally runs of identical frames are
deduplicated first, their run lengths kept, so decode is exact either way.

Files: ``bpe.json`` (the ``tokenizers`` model) and ``bpe_config.json`` (tokenizer info,
code point block, dedup flag).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..tokenizers.base import TokenizerInfo, Tokens
from .dedup import Deduped, dedup, undo_dedup
from .vocab import LLMError

__all__ = ["CodePointMap", "BPEEncoded", "BPEReport", "TokenBPE", "BPE_FILE", "CONFIG_FILE",
           "CJK_BLOCK"]

BPE_FILE = "bpe.json"
CONFIG_FILE = "bpe_config.json"
BPE_VERSION = 1
CJK_BLOCK = (0x4E00, 0x9FFF + 1)  # CJK Unified Ideographs: 20,992 code points


@dataclass(frozen=True)
class CodePointMap:
    """Symbols ``[0, n_symbols)`` <-> code points ``[start, start + n_symbols)`` in the block
    ``[start, stop)``; checked at construction that NFKC leaves every one unchanged."""

    n_symbols: int
    start: int = CJK_BLOCK[0]
    stop: int = CJK_BLOCK[1]

    def __post_init__(self) -> None:
        room = self.stop - self.start
        if not 1 <= self.n_symbols <= room:
            raise LLMError(f"{self.n_symbols} symbols do not fit the code point block "
                           f"U+{self.start:04X}..U+{self.stop - 1:04X} ({room} code points); "
                           "use fewer codebooks or a tokenizer with smaller vocabularies")
        for cp in range(self.start, self.start + self.n_symbols):
            if unicodedata.normalize("NFKC", chr(cp)) != chr(cp):
                raise LLMError(f"code point U+{cp:04X} is not NFKC-stable; choose another block")

    def to_text(self, symbols: np.ndarray) -> str:
        """int symbols [N] -> a string of N code points."""
        symbols = np.asarray(symbols, dtype=np.int64)
        if len(symbols) and (symbols.min() < 0 or symbols.max() >= self.n_symbols):
            raise LLMError(f"symbols must be in [0, {self.n_symbols})")
        return (symbols + self.start).astype(np.uint32).tobytes().decode("utf-32-le")

    def from_text(self, text: str) -> np.ndarray:
        """A string of mapped code points -> int64 symbols [N]."""
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        symbols = points - self.start
        if len(symbols) and (symbols.min() < 0 or symbols.max() >= self.n_symbols):
            raise LLMError("text holds code points outside the mapped block")
        return symbols


@dataclass
class BPEEncoded:
    """One item after BPE: ``ids`` int64 [N] BPE token ids; ``runs`` int64 [U] the run length
    of each deduplicated frame (None when the model does not deduplicate)."""

    ids: np.ndarray
    runs: np.ndarray | None = None


@dataclass(frozen=True)
class BPEReport:
    """Sequence lengths over a corpus: ``frames`` (T summed) of ``codebooks`` codes each,
    ``symbols`` (codes after dedup; T x C without it), ``bpe_tokens``; and how many of the
    ``vocab_size`` BPE tokens occur (``vocab_used``)."""

    items: int
    frames: int
    codebooks: int
    symbols: int
    bpe_tokens: int
    vocab_size: int
    vocab_used: int

    @property
    def reduction(self) -> float:
        """Codes per BPE token relative to the raw frames x codebooks (x shorter)."""
        return self.codes / self.bpe_tokens if self.bpe_tokens else 0.0

    @property
    def codes(self) -> int:
        """Raw sequence length before dedup and BPE (T x C summed)."""
        return self.frames * self.codebooks

    @property
    def vocab_use(self) -> float:
        """Fraction of the BPE vocabulary that occurs in the corpus."""
        return self.vocab_used / self.vocab_size if self.vocab_size else 0.0


class TokenBPE:
    """A trained BPE model over one tokenizer's token sequences (see the module docstring)."""

    def __init__(self, model: Any, info: TokenizerInfo, *, dedup: bool = False,
                 block_start: int = CJK_BLOCK[0]) -> None:
        self.model = model  # tokenizers.Tokenizer
        self.info = info
        self.dedup = dedup
        self.offsets = np.cumsum((0,) + info.vocab_sizes[:-1]).astype(np.int64)
        self.codepoints = CodePointMap(sum(info.vocab_sizes), start=block_start)
        self._pieces = [self.codepoints.from_text(model.id_to_token(i))
                        for i in range(model.get_vocab_size())]

    @property
    def vocab_size(self) -> int:
        """Number of BPE tokens (base symbols + merges)."""
        return int(self.model.get_vocab_size())

    # -- training ---------------------------------------------------------------------------
    @classmethod
    def train(cls, items: Iterable[Tokens], info: TokenizerInfo, vocab_size: int, *,
              dedup: bool = False, min_frequency: int = 2,
              block_start: int = CJK_BLOCK[0]) -> TokenBPE:
        """Learn merges over ``items`` (Tokens [T, C]) up to ``vocab_size`` BPE tokens.

        ``vocab_size`` must be at least the base symbols (sum of vocab sizes), which are all
        in the vocabulary whether the corpus uses them or not.
        """
        from tokenizers import Tokenizer, models, trainers

        mapping = CodePointMap(sum(info.vocab_sizes), start=block_start)
        if vocab_size < mapping.n_symbols:
            raise LLMError(f"vocab size {vocab_size} is below the {mapping.n_symbols} base "
                           f"symbols of {list(info.vocab_sizes)}")
        if min_frequency < 1:
            raise LLMError(f"min_frequency must be >= 1, got {min_frequency}")
        alphabet = [chr(mapping.start + s) for s in range(mapping.n_symbols)]
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                      initial_alphabet=alphabet, limit_alphabet=len(alphabet),
                                      show_progress=False, special_tokens=[])
        model = Tokenizer(models.BPE())
        texts = (_text(t, info, mapping, dedup) for t in items)
        model.train_from_iterator(texts, trainer)
        return cls(model, info, dedup=dedup, block_start=mapping.start)

    # -- encode / decode --------------------------------------------------------------------
    def encode(self, tokens: Tokens) -> BPEEncoded:
        """Tokens [T, C] -> :class:`BPEEncoded` (BPE ids [N], run lengths if dedup)."""
        if tokens.info.vocab_sizes != self.info.vocab_sizes:
            raise LLMError(f"tokens have vocab sizes {list(tokens.info.vocab_sizes)}, this BPE "
                           f"model {list(self.info.vocab_sizes)}")
        units = dedup(tokens.codes) if self.dedup else None
        text = _text(tokens, self.info, self.codepoints, self.dedup)
        ids = np.array(self.model.encode(text).ids, dtype=np.int64)
        return BPEEncoded(ids, units.runs if units is not None else None)

    def decode(self, encoded: BPEEncoded) -> Tokens:
        """Inverse of :meth:`encode`: exactly the original Tokens [T, C]."""
        ids = np.asarray(encoded.ids, dtype=np.int64)
        if len(ids) and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise LLMError(f"BPE ids must be in [0, {self.vocab_size})")
        if (encoded.runs is None) == self.dedup:
            raise LLMError("run lengths are needed exactly when the model deduplicates")
        parts = [self._pieces[i] for i in ids.tolist()]
        symbols = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        c = self.info.n_codebooks
        if len(symbols) % c:
            raise LLMError(f"{len(symbols)} symbols are not whole frames of {c} codebooks")
        codes = symbols.reshape(-1, c) - self.offsets
        if (codes < 0).any() or (codes >= np.asarray(self.info.vocab_sizes)).any():
            raise LLMError("decoded symbols fall in the wrong codebook")
        if encoded.runs is not None:
            codes = undo_dedup(Deduped(codes, encoded.runs))
        return Tokens(codes, self.info)

    def report(self, items: Iterable[Tokens]) -> BPEReport:
        """Encode ``items`` and measure lengths and vocabulary use; raises :class:`LLMError`
        if any item does not decode back exactly."""
        n = frames = symbols = tokens = 0
        used = np.zeros(self.vocab_size, dtype=bool)
        for item in items:
            enc = self.encode(item)
            if not np.array_equal(self.decode(enc).codes, item.codes):
                raise LLMError(f"BPE round trip changed item {n}")
            n += 1
            frames += item.n_frames
            symbols += (len(enc.runs) if enc.runs is not None else item.n_frames) * len(
                self.offsets)
            tokens += len(enc.ids)
            used[enc.ids] = True
        return BPEReport(n, frames, self.info.n_codebooks, symbols, tokens, self.vocab_size,
                         int(used.sum()))

    # -- files ------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write ``bpe.json`` and ``bpe_config.json`` into ``folder``; returns it."""
        from ..tokenizers.persist import atomic_write_bytes

        folder = Path(folder)
        config = {"format_version": BPE_VERSION, "info": self.info.to_dict(),
                  "dedup": self.dedup, "block_start": self.codepoints.start,
                  "vocab_size": self.vocab_size}
        atomic_write_bytes(folder / BPE_FILE, self.model.to_str().encode())
        atomic_write_bytes(folder / CONFIG_FILE, (json.dumps(config, indent=2) + "\n").encode())
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> TokenBPE:
        """Read a folder written by :meth:`save`."""
        from tokenizers import Tokenizer

        folder = Path(folder)
        if not (folder / CONFIG_FILE).is_file():
            raise FileNotFoundError(f"{folder}: no {CONFIG_FILE} (train one with "
                                    "`audiotokens llm bpe`)")
        try:
            config = json.loads((folder / CONFIG_FILE).read_text())
            if config.get("format_version", 0) > BPE_VERSION:
                raise ValueError(f"format_version {config['format_version']} is too new")
            model = Tokenizer.from_file(str(folder / BPE_FILE))
            return cls(model, TokenizerInfo.from_dict(config["info"]),
                       dedup=bool(config["dedup"]), block_start=int(config["block_start"]))
        except LLMError:
            raise
        except Exception as err:  # tokenizers raises a plain Exception on a bad file
            raise LLMError(f"{folder}: unreadable BPE model ({err})") from None


def _text(tokens: Tokens, info: TokenizerInfo, mapping: CodePointMap, deduplicate: bool) -> str:
    codes = tokens.codes
    if tokens.is_batch or codes.shape[1] != info.n_codebooks:
        raise LLMError(f"expected one item [T, {info.n_codebooks}], got shape {codes.shape}")
    tokens.validate()
    if deduplicate:
        codes = dedup(codes).units
    offsets = np.cumsum((0,) + info.vocab_sizes[:-1]).astype(np.int64)
    return mapping.to_text((codes + offsets).reshape(-1))
