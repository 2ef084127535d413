"""A tokenizer spec fitted on one manifest and saved, for studies that fit the same spec on
several sets of items (the bench runner fits on its own tasks' items, see
:meth:`~.runner._Runner.source`)."""

from __future__ import annotations

from pathlib import Path

from ..data.manifest import ManifestError, read_manifest
from ..tokenizers.registry import REGISTRY, Registry, load_tokenizer
from .cells import safe_name
from .keys import digest, items_digest
from .runner import BenchError, fit_options, parse_tokenizer_spec

__all__ = ["fit_saved"]


def fit_saved(spec: str, manifest: Path, root: Path, label: str, full: bool = False,
              device: str = "cpu", registry: Registry = REGISTRY) -> Path:
    """``spec`` (a registry spec, e.g. ``mel-kmeans:k=100``) fitted on ``manifest`` with the
    bench's quick (or ``full``) fit budget, saved as ``root/fit-<key>/<label>`` (the key: the
    spec, the budget and the fitting items) and reused when saved before. A spec whose
    tokenizer needs no fit (e.g. a saved folder, codec2) raises :class:`BenchError`."""
    name, options = parse_tokenizer_spec(spec)
    if Path(name).is_dir():
        raise BenchError(f"{name}: a saved tokenizer is fitted already; this study fits the "
                         "tokenizer itself: give a registry spec (e.g. mel-kmeans:k=100)")
    try:
        items = read_manifest(manifest)
    except ManifestError as err:
        raise BenchError(str(err)) from None
    fit = fit_options(name, full)
    folder = root / f"fit-{digest(spec, fit, items_digest(items))}" / safe_name(label)
    if not (folder / "config.json").is_file():
        tok = load_tokenizer(name, registry, **options)
        if tok.info.fitted:
            raise BenchError(f"{spec}: needs no fit; this study compares fits of a trainable "
                             "tokenizer (mel-kmeans, mfcc-kmeans, hubert, ..., rvq)")
        tok.to(device).fit(manifest, **fit)
        tok.save(folder)
    return folder
