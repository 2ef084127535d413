"""The one definition of bitrate tiers (DASB's bands), used by codecs, ``info``, the bench
runner and the report.

DASB compares tokenizers at low (about 1 kbps and below 1.5 kbps), medium (about 3 to 6 kbps)
and high (24 kbps) bitrate. The bands here put every bitrate in one of them: **low** up to
1.5 kbps, **medium** up to 12 kbps (halfway, in octaves, between DASB's 6 and 24 kbps),
**high** above; continuous features (no bitrate) are "continuous".
"""

from __future__ import annotations

__all__ = ["BITRATE_TIERS", "LOW_MAX_BPS", "MEDIUM_MAX_BPS", "bitrate_tier"]

BITRATE_TIERS = ("low", "medium", "high")
LOW_MAX_BPS = 1500.0
MEDIUM_MAX_BPS = 12000.0


def bitrate_tier(bitrate_bps: float | None) -> str:
    """"low" (<= 1.5 kbps), "medium" (<= 12 kbps), "high" (above), or "continuous" for
    feature inputs (``None``)."""
    if bitrate_bps is None:
        return "continuous"
    if bitrate_bps <= LOW_MAX_BPS:
        return "low"
    return "medium" if bitrate_bps <= MEDIUM_MAX_BPS else "high"
