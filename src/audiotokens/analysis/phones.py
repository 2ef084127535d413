"""Phone labels per frame, and how well tokens predict them (HuBERT's purity and PNMI).

Frames and phones: frame ``t`` of a tokenizer at ``frame_rate`` frames/s gets the phone
sounding at its centre, ``(t + 0.5) / frame_rate`` seconds, i.e. the aligned segment
``[phone, start, end]`` with ``start <= centre < end`` (the later one in alignment order where
segments overlap). A frame that no segment covers (pauses, leading and trailing silence, or
past the alignment's end) gets :data:`SILENCE` (id :data:`SILENCE_ID` = 0): silence is a class
of its own, as in the forced alignments the HuBERT paper scores against. Phone ids come from
an explicit :class:`PhoneInventory`, so ids mean the same thing across items and runs.

Scores (Hsu et al., 2021, "HuBERT", section IV-E), from the joint distribution
``p(y, z)`` of phone ``y`` and token ``z`` over all frames:

- phone purity   ``E_z[max_y p(y | z)]``: how pure a token is in phones;
- cluster purity ``E_y[max_z p(z | y)]``: how concentrated a phone is on one token;
- PNMI           ``I(y; z) / H(y)``: the fraction of phone uncertainty a token removes.

These are plug-in estimates: with few frames per table cell they run high (unrelated tokens
score well above 0). :func:`shuffled_pnmi` measures that bias for a given table; compare
PNMIs only over the same frames, or against it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["SILENCE", "SILENCE_ID", "MAX_MISMATCH", "AnalysisError", "PhoneInventory",
           "PhoneCounter", "PhoneScores", "frame_labels", "frame_phones", "phone_scores",
           "shuffled_pnmi"]

SILENCE = "<sil>"
SILENCE_ID = 0
MAX_MISMATCH = 2  # frames: token and phone sequences may differ by this much (edge effects)

Alignment = Sequence[tuple[str, float, float]]


class AnalysisError(ValueError):
    """Tokens and labels cannot be analysed together; the message names the item."""


@dataclass(frozen=True)
class PhoneInventory:
    """The phone set: ``phones[i]`` is the name of phone id ``i``; ``phones[0]`` is
    :data:`SILENCE` (frames no segment covers)."""

    phones: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "phones", tuple(str(p) for p in self.phones))
        if not self.phones or self.phones[0] != SILENCE:
            raise ValueError(f"a phone inventory starts with {SILENCE!r} (id {SILENCE_ID}), "
                             f"got {self.phones[:3]!r}")
        if len(set(self.phones)) != len(self.phones):
            dupes = sorted({p for p in self.phones if self.phones.count(p) > 1})
            raise ValueError(f"phone inventory has duplicates: {dupes}")

    @classmethod
    def from_alignments(cls, alignments: Iterable[Alignment | None]) -> PhoneInventory:
        """:data:`SILENCE` then every phone of ``alignments`` (``None`` skipped), sorted."""
        names = {str(p) for alignment in alignments for p, _, _ in alignment or ()}
        return cls((SILENCE, *sorted(names - {SILENCE})))

    @functools.cached_property
    def index(self) -> dict[str, int]:
        """Phone name -> id."""
        return {p: i for i, p in enumerate(self.phones)}

    def id(self, phone: str) -> int:
        """The id of ``phone``; a phone outside the inventory raises :class:`AnalysisError`."""
        try:
            return self.index[phone]
        except KeyError:
            raise AnalysisError(f"phone {phone!r} is not in the inventory of {len(self)} phones "
                                "(build it from every alignment scored)") from None

    def __len__(self) -> int:
        return len(self.phones)


def frame_phones(alignment: Alignment | None, n_frames: int, frame_rate: float,
                 inventory: PhoneInventory) -> np.ndarray:
    """Phone id per frame, int64 [n_frames]: the phone at each frame centre, else
    :data:`SILENCE_ID` (see the module docstring). ``alignment``: ``[phone, start_s, end_s]``
    segments; a phone outside ``inventory`` raises :class:`AnalysisError`."""
    return frame_labels(alignment, n_frames, frame_rate, inventory.id)


def frame_labels(alignment: Alignment | None, n_frames: int, frame_rate: float,
                 label: Callable[[str], int]) -> np.ndarray:
    """int64 [n_frames]: ``label(phone)`` of the segment sounding at each frame centre, else
    :data:`SILENCE_ID`; :func:`frame_phones` with any phone -> id rule (e.g. a dict lookup
    that maps unknown phones to silence)."""
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    if not frame_rate > 0:
        raise ValueError(f"frame_rate must be > 0 frames/s, got {frame_rate}")
    centres = (np.arange(n_frames) + 0.5) / frame_rate
    out = np.full(n_frames, SILENCE_ID, dtype=np.int64)
    for phone, start, end in alignment or ():
        first, stop = np.searchsorted(centres, [float(start), float(end)], side="left")
        out[first:stop] = label(str(phone))
    return out


@dataclass(frozen=True)
class PhoneScores:
    """Tokens against phones over ``n_frames`` frames.

    ``counts``: int64 [n_phones, n_tokens], frames with phone ``i`` and token ``j``;
    entropies and mutual information in bits; ``pnmi`` is NaN when ``H(y) = 0`` (one phone
    only: nothing to explain). ``n_trimmed``: frames dropped to even out sequence lengths.
    """

    pnmi: float
    phone_purity: float
    cluster_purity: float
    n_frames: int
    n_tokens_used: int
    counts: np.ndarray
    phone_entropy_bits: float
    mutual_information_bits: float
    n_trimmed: int = 0

    @property
    def joint(self) -> np.ndarray:
        """p(y, z), float64 [n_phones, n_tokens], summing to 1."""
        return self.counts / self.n_frames

    @property
    def phones_given_token(self) -> np.ndarray:
        """p(y | z), float64 [n_phones, n_tokens]; columns of unused tokens are 0."""
        per_token = self.counts.sum(axis=0, keepdims=True)
        return np.divide(self.counts, per_token, out=np.zeros(self.counts.shape),
                         where=per_token > 0)

    @classmethod
    def from_counts(cls, counts: np.ndarray, n_trimmed: int = 0) -> PhoneScores:
        """Scores of a joint count table, int [n_phones, n_tokens] (phones as rows)."""
        counts = np.asarray(counts)
        if counts.ndim != 2 or (counts.size and counts.min() < 0):
            raise ValueError(f"counts must be a non-negative [n_phones, n_tokens] table, got "
                             f"shape {counts.shape}")
        counts = counts.astype(np.int64)
        total = int(counts.sum())
        if total == 0:
            raise AnalysisError("no frames to score (every item is empty)")
        joint = counts / total
        p_phone, p_token = joint.sum(axis=1), joint.sum(axis=0)
        nz = joint > 0
        ratio = joint[nz] / np.outer(p_phone, p_token)[nz]
        mutual = max(float(np.sum(joint[nz] * np.log2(ratio))), 0.0)  # >= 0 up to rounding
        h_phone = _entropy_bits(p_phone)
        return cls(
            pnmi=mutual / h_phone if h_phone > 0 else float("nan"),
            # E_z max_y p(y|z) = sum_z max_y p(y, z); E_y max_z p(z|y) = sum_y max_z p(y, z)
            phone_purity=float(joint.max(axis=0).sum()),
            cluster_purity=float(joint.max(axis=1).sum()),
            n_frames=total,
            n_tokens_used=int(np.count_nonzero(counts.sum(axis=0))),
            counts=counts,
            phone_entropy_bits=h_phone,
            mutual_information_bits=mutual,
            n_trimmed=n_trimmed,
        )


def _entropy_bits(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-np.sum(p * np.log2(p))) + 0.0


class PhoneCounter:
    """The joint phone x token count table, accumulated item by item (a corpus need not fit
    in memory). ``add`` checks lengths and id ranges as :func:`phone_scores` documents."""

    def __init__(self, n_tokens: int, n_phones: int, *, max_mismatch: int = MAX_MISMATCH,
                 skip_silence: bool = False) -> None:
        if n_tokens < 1 or n_phones < 1:
            raise ValueError(f"n_tokens and n_phones must be >= 1, got {n_tokens}, {n_phones}")
        if max_mismatch < 0:
            raise ValueError(f"max_mismatch must be >= 0, got {max_mismatch}")
        self.n_tokens, self.n_phones = n_tokens, n_phones
        self.max_mismatch, self.skip_silence = max_mismatch, skip_silence
        self.counts = np.zeros(n_phones * n_tokens, dtype=np.int64)
        self.n_trimmed = 0

    def add(self, tokens: np.ndarray, phones: np.ndarray, name: str) -> None:
        """Count one item: token ids int [T], phone ids int [T'] (|T - T'| <= max_mismatch)."""
        tok, ph = _trimmed(np.asarray(tokens), np.asarray(phones), name, self.max_mismatch)
        self.n_trimmed += max(len(tokens), len(phones)) - len(tok)
        _check_range(tok, self.n_tokens, name, "token")
        _check_range(ph, self.n_phones, name, "phone")
        if self.skip_silence:
            keep = ph != SILENCE_ID
            tok, ph = tok[keep], ph[keep]
        self.counts += np.bincount(ph * self.n_tokens + tok, minlength=self.counts.size)

    def scores(self) -> PhoneScores:
        """The scores of everything added so far."""
        table = self.counts.reshape(self.n_phones, self.n_tokens)
        return PhoneScores.from_counts(table, n_trimmed=self.n_trimmed)


def phone_scores(tokens: Sequence[np.ndarray], phones: Sequence[np.ndarray], *,
                 n_tokens: int | None = None, n_phones: int | None = None,
                 ids: Sequence[str] | None = None, max_mismatch: int = MAX_MISMATCH,
                 skip_silence: bool = False) -> PhoneScores:
    """Purity and PNMI of per-item token ids against per-item phone ids.

    ``tokens[i]``: int [T_i] ids of one codebook (pass ``codes[:, c]`` for codebook ``c``);
    ``phones[i]``: int [T'_i] phone ids (e.g. from :func:`frame_phones`). When T_i and T'_i
    differ by at most ``max_mismatch`` frames both are cut to the shorter (frames dropped at
    the end, counted in ``n_trimmed``); a bigger difference raises :class:`AnalysisError`
    naming the item (``ids[i]``, else its index). ``n_tokens`` / ``n_phones`` fix the table
    size (default: largest id + 1); ``skip_silence`` leaves out frames labelled
    :data:`SILENCE_ID`.
    """
    if len(tokens) != len(phones):
        raise AnalysisError(f"{len(tokens)} token sequences but {len(phones)} phone sequences")
    if ids is not None and len(ids) != len(tokens):
        raise AnalysisError(f"{len(ids)} ids for {len(tokens)} sequences")
    names = list(ids) if ids is not None else [f"#{i}" for i in range(len(tokens))]
    counter = PhoneCounter(_top_id(tokens, "token") + 1 if n_tokens is None else n_tokens,
                           _top_id(phones, "phone") + 1 if n_phones is None else n_phones,
                           max_mismatch=max_mismatch, skip_silence=skip_silence)
    for tok, ph, name in zip(tokens, phones, names, strict=True):
        counter.add(tok, ph, name)
    return counter.scores()


def _top_id(arrays: Sequence[np.ndarray], what: str) -> int:
    top = max((int(np.max(a)) for a in arrays if np.size(a)), default=-1)
    if top < 0:
        raise AnalysisError(f"no {what} ids to score (every item is empty)")
    return top


def _trimmed(tok: np.ndarray, ph: np.ndarray, name: str,
             max_mismatch: int) -> tuple[np.ndarray, np.ndarray]:
    """Both cut to the shorter length, int64; a bigger gap than ``max_mismatch`` raises."""
    if tok.ndim != 1 or ph.ndim != 1:
        raise AnalysisError(f"item {name}: expected 1-D token and phone ids, got shapes "
                            f"{tok.shape} and {ph.shape} (pass one codebook: codes[:, c])")
    if abs(len(tok) - len(ph)) > max_mismatch:
        raise AnalysisError(f"item {name}: {len(tok)} token frames but {len(ph)} phone "
                            f"frames (more than {max_mismatch} apart); are both from the "
                            "same audio at the same frame rate?")
    n = min(len(tok), len(ph))
    return tok[:n].astype(np.int64), ph[:n].astype(np.int64)


def _check_range(values: np.ndarray, size: int, name: str, what: str) -> None:
    if len(values) and (values.min() < 0 or values.max() >= size):
        raise AnalysisError(f"item {name}: {what} ids must be in [0, {size}), got "
                            f"{int(values.min())}..{int(values.max())}")


def shuffled_pnmi(counts: np.ndarray, n_shuffles: int = 3, seed: int = 0) -> float:
    """PNMI of tokens shuffled across frames (same phone and token frequencies, no relation):
    the plug-in estimate's bias at this table size, mean over ``n_shuffles``. Compare it with
    the real PNMI: on few frames and many tokens the plug-in MI is far above 0 even for
    unrelated tokens. ``counts``: int [n_phones, n_tokens] (phones as rows)."""
    if n_shuffles < 1:
        raise ValueError(f"n_shuffles must be >= 1, got {n_shuffles}")
    counts = np.asarray(counts, dtype=np.int64)
    n_phones, n_tokens = counts.shape
    phones = np.repeat(np.arange(n_phones), counts.sum(axis=1))
    tokens = np.repeat(np.arange(n_tokens), counts.sum(axis=0))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_shuffles):
        table = np.bincount(phones * n_tokens + rng.permutation(tokens),
                            minlength=n_phones * n_tokens).reshape(n_phones, n_tokens)
        values.append(PhoneScores.from_counts(table).pnmi)
    return float(np.mean(values))
