"""Optional extras (pyproject ``[project.optional-dependencies]``) and what needs them.

Results that depend on an extra say so when it is missing: :func:`missing` gives the one-line
message naming the extra to install (nothing is imported to find out).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Extra", "EXTRAS", "missing"]


@dataclass(frozen=True)
class Extra:
    """An optional feature: the pip extra that installs it and the modules it imports."""

    feature: str
    extra: str
    modules: tuple[str, ...]


EXTRAS = {
    "spk_sim": Extra("speaker similarity (resemblyzer d-vectors)", "speaker",
                     ("resemblyzer", "librosa", "webrtcvad", "pkg_resources")),
    "dnsmos": Extra("DNSMOS (speechmos)", "dnsmos", ("speechmos", "onnxruntime", "librosa")),
    "codec2": Extra("the codec2 tokenizer (pycodec2)", "codecs", ("pycodec2",)),
}


def missing(name: str, outcome: str = "not measured") -> str | None:
    """None when the extra behind ``name`` (a key of :data:`EXTRAS`) is installed, else
    e.g. "DNSMOS (speechmos) not measured: speechmos is not installed (pip install
    'audiotokens[dnsmos]')" (``outcome`` is the words after the feature)."""
    from importlib.util import find_spec

    try:
        extra = EXTRAS[name]
    except KeyError:
        raise ValueError(f"unknown extra '{name}'; known: {', '.join(EXTRAS)}") from None
    absent = [m for m in extra.modules if find_spec(m) is None]
    if not absent:
        return None
    return (f"{extra.feature} {outcome}: {', '.join(absent)} "
            f"{'is' if len(absent) == 1 else 'are'} not installed "
            f"(pip install 'audiotokens[{extra.extra}]')")
