"""What a token means: its most likely phones, and for each phone the tokens that stand for it.

Both views read the joint phone x token counts of :class:`~.phones.PhoneScores`:

- per used token ``z``: the ``top`` phones by ``p(y | z)``;
- per phone ``y``: the tokens whose most likely phone is ``y`` (the tokens that *stand for*
  it), ordered by ``p(z | y)``, the share of the phone's frames they cover; a phone no token
  prefers has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .phones import PhoneInventory, PhoneScores

__all__ = ["TokenPhones", "PhoneTokens", "TokenPhoneMap", "token_phone_map"]


@dataclass(frozen=True)
class TokenPhones:
    """One token: its frame count and its top phones as ``(phone, p(phone | token))``."""

    token: int
    count: int
    phones: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class PhoneTokens:
    """One phone: its frame count and the tokens that stand for it, as
    ``(token, p(phone | token), p(token | phone))``, by ``p(token | phone)`` descending."""

    phone: str
    count: int
    tokens: tuple[tuple[int, float, float], ...]

    @property
    def coverage(self) -> float:
        """Share of the phone's frames that carry one of its tokens."""
        return float(sum(share for _, _, share in self.tokens))


@dataclass(frozen=True)
class TokenPhoneMap:
    """The token -> phone map of one codebook (used tokens by id; phones with frames)."""

    codebook: int
    tokens: tuple[TokenPhones, ...]
    phones: tuple[PhoneTokens, ...]

    def token_rows(self) -> list[dict[str, Any]]:
        """One row per (token, rank) for a CSV: codebook, token, count, rank, phone, prob."""
        return [{"codebook": self.codebook, "token": t.token, "count": t.count, "rank": rank,
                 "phone": phone, "prob": round(prob, 6)}
                for t in self.tokens for rank, (phone, prob) in enumerate(t.phones, 1)]

    def phone_rows(self) -> list[dict[str, Any]]:
        """One row per (phone, token standing for it) for a CSV."""
        return [{"codebook": self.codebook, "phone": p.phone, "phone_frames": p.count,
                 "token": token, "p_phone_given_token": round(purity, 6),
                 "p_token_given_phone": round(share, 6)}
                for p in self.phones for token, purity, share in p.tokens]


def token_phone_map(scores: PhoneScores, inventory: PhoneInventory, codebook: int = 0,
                    top: int = 3) -> TokenPhoneMap:
    """Both views of ``scores.counts`` [n_phones, n_tokens], phone names from ``inventory``."""
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    counts = scores.counts
    if counts.shape[0] > len(inventory):
        raise ValueError(f"counts have {counts.shape[0]} phone rows but the inventory has "
                         f"{len(inventory)} phones")
    per_token, per_phone = counts.sum(axis=0), counts.sum(axis=1)
    given_token = scores.phones_given_token
    best_phone = counts.argmax(axis=0)
    tokens = []
    for z in np.flatnonzero(per_token):
        order = np.argsort(-given_token[:, z], kind="stable")[:top]
        tokens.append(TokenPhones(int(z), int(per_token[z]), tuple(
            (inventory.phones[y], float(given_token[y, z])) for y in order if counts[y, z])))
    phones = []
    for y in np.flatnonzero(per_phone):
        own = [z for z in np.flatnonzero(per_token) if best_phone[z] == y]
        entries = sorted(((int(z), float(given_token[y, z]), float(counts[y, z] / per_phone[y]))
                          for z in own), key=lambda e: (-e[2], e[0]))
        phones.append(PhoneTokens(inventory.phones[y], int(per_phone[y]), tuple(entries)))
    return TokenPhoneMap(codebook, tuple(tokens), tuple(phones))
