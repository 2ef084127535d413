"""Phone quality of every layer of a pretraining run: k-means tokens (same k for every
source) of each layer of each iteration's model, and of MFCC and log-mel frames, scored with
the HuBERT paper's PNMI, phone purity and cluster purity (``analysis.phones``) against the
manifest's phone alignments, on the training items and on held-out speakers.

Procedure, identical for every source: features of (at most ``max_items``) training items,
k-means (the project's ``fit_kmeans``) on them, tokens of the training and held-out items by
nearest centroid, scores over all their frames. Frame labels: the phone at each frame's
centre, with the alignment shifted so that "centre" is the source's true one (MFCC / log-mel
frame t is centred at t / 50 s, a model frame at (320 t + receptive field / 2) / 16000 s).

**Rule for the best layer**: the (iteration, layer) with the highest PNMI on the *training*
items; held-out speakers only report how it generalises, they never choose.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.manifest import ManifestItem
from . import SSLError

__all__ = ["LayerScore", "LayerReport", "score_sources", "score_run", "BEST_LAYER_RULE"]

BEST_LAYER_RULE = "highest PNMI on the training items (k-means tokens, same k for all layers)"
FRAME_RATE = 50.0
SPLITS = ("train", "held_out")


@dataclass
class LayerScore:
    """Scores of one source's tokens on one split; ``source``: mfcc, mel or iter{i};
    ``layer``: the model layer (0 = input of the first transformer layer), 0 for mfcc/mel."""

    source: str
    layer: int
    split: str
    pnmi: float
    phone_purity: float
    cluster_purity: float
    frames: int


@dataclass
class LayerReport:
    """All scores, ``k``, and the chosen best (source, layer) by :data:`BEST_LAYER_RULE`."""

    k: int
    rows: list[LayerScore]
    best_source: str | None
    best_layer: int | None
    rule: str = BEST_LAYER_RULE

    def get(self, source: str, layer: int, split: str) -> LayerScore | None:
        """The row for (source, layer, split), or None."""
        return next((r for r in self.rows
                     if (r.source, r.layer, r.split) == (source, layer, split)), None)

    def save(self, path: str | Path) -> Path:
        """Write the report as JSON."""
        path = Path(path)
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> LayerReport:
        """Read a report written by :meth:`save`."""
        d = json.loads(Path(path).read_text())
        return cls(d["k"], [LayerScore(**r) for r in d["rows"]], d["best_source"],
                   d["best_layer"], d["rule"])


@dataclass(frozen=True)
class _Source:
    name: str
    backbone: object
    layers: tuple[int, ...]
    centre_s: float  # seconds from the item start to frame 0's centre


def _sources(run: Path | None, iterations: Sequence[str]) -> list[_Source]:
    from ..tokenizers.features import build_backbone

    out = [_Source("mfcc", build_backbone("mfcc"), (0,), 0.0),
           _Source("mel", build_backbone("mel"), (0,), 0.0)]
    for name in iterations:
        assert run is not None
        bb = build_backbone("hubert", str(run / name))
        out.append(_Source(name, bb, tuple(range(bb.layer_count)),
                           bb.min_samples / 2 / bb.sample_rate))
    return out


def _features(src: _Source, items: Sequence[ManifestItem]) -> dict[int, list[torch.Tensor]]:
    """Per layer, one float32 [T_i, D] tensor per item (one item per forward: no padding)."""
    from ..audio import load_audio

    feats: dict[int, list[torch.Tensor]] = {i: [] for i in src.layers}
    for item in items:
        wav = torch.from_numpy(load_audio(item.path, 16000).samples)[None]
        out = src.backbone.forward(wav, torch.tensor([wav.shape[1]]), src.layers)
        for i in src.layers:
            feats[i].append(out.items(i)[0].cpu())
    return feats


def _phones(items: Sequence[ManifestItem], lengths: Sequence[int], centre_s: float,
            inventory: object) -> list[np.ndarray]:
    from ..analysis.phones import frame_phones

    shift = 0.5 / FRAME_RATE - centre_s  # frame_phones reads the phone at (t + 0.5) / rate
    return [frame_phones([(p, s + shift, e + shift) for p, s, e in it.alignment or ()], n,
                         FRAME_RATE, inventory) for it, n in zip(items, lengths, strict=True)]


def score_sources(sources: Sequence[_Source], train: Sequence[ManifestItem],
                  held_out: Sequence[ManifestItem], k: int, seed: int = 0) -> list[LayerScore]:
    """Scores of every layer of every source (see the module docstring)."""
    from ..analysis.phones import PhoneInventory, phone_scores
    from ..tokenizers.kmeans import KMeansConfig, assign, fit_kmeans

    inventory = PhoneInventory.from_alignments(it.alignment for it in [*train, *held_out])
    splits = {"train": list(train), "held_out": list(held_out)}
    rows: list[LayerScore] = []
    for src in sources:
        feats = {name: _features(src, items) for name, items in splits.items() if items}
        for layer in src.layers:
            fit_on = torch.cat(feats["train"][layer]).numpy()
            if len(fit_on) < k:
                raise SSLError(f"only {len(fit_on)} training frames for k={k}; use more data "
                               "or a smaller --k")
            result = fit_kmeans(fit_on, KMeansConfig(k=k, iterations=50, seed=seed))
            for split, per_item in feats.items():
                tokens = [np.asarray(assign(x.numpy(), result.centroids))
                          for x in per_item[layer]]
                phones = _phones(splits[split], [len(t) for t in tokens], src.centre_s,
                                 inventory)
                s = phone_scores(tokens, phones, n_tokens=k, n_phones=len(inventory))
                rows.append(LayerScore(src.name, layer, split, round(s.pnmi, 4),
                                       round(s.phone_purity, 4), round(s.cluster_purity, 4),
                                       s.n_frames))
    return rows


def score_run(run: str | Path, train: Sequence[ManifestItem], held_out: Sequence[ManifestItem],
              k: int, iterations: Sequence[str], max_items: int = 300,
              seed: int = 0) -> LayerReport:
    """Score MFCC, log-mel and every layer of ``run/iter*`` (``iterations``, e.g.
    ``["iter1", "iter2"]``) on items with alignments (at most ``max_items`` per split, in
    manifest order) -> :class:`LayerReport` with the best (iteration, layer)."""
    train = [it for it in train if it.alignment][:max_items]
    held_out = [it for it in held_out if it.alignment][:max_items]
    if not train:
        raise SSLError("no training item has a phone alignment; the layer scores need the "
                       "manifest's `alignment` field (e.g. `audiotokens data synth`)")
    rows = score_sources(_sources(Path(run), iterations), train, held_out, k, seed)
    model_rows = [r for r in rows if r.split == "train" and r.source.startswith("iter")]
    best = max(model_rows, key=lambda r: r.pnmi, default=None)
    return LayerReport(k, rows, best.source if best else None, best.layer if best else None)
