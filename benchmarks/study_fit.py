"""Fitting a layer x k grid: `fit_grid` (one backbone pass for every layer, k-means per cell,
combinations from the single-layer centroids) vs fitting each cell's tokenizer from scratch
(what `audiotokens bench` does for each spec: one backbone pass and one k-means per cell).

Both are CPU seconds (user + sys of this process, ``time.process_time``, so other load on
the machine does not count) on the same manifest, in this run; the check at the end is that
both give the same tokenizers (equal checksums). A third number is the encode cost per cell
(one backbone pass over every item of the manifest), which `fit_grid` does not share.

    python benchmarks/study_fit.py                              # tiny random-init HuBERT
    python benchmarks/study_fit.py --model runs/ssl/iter2 --manifest corpus/train.jsonl \\
        --layers 1,2,3 --k 100,1000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from audiotokens.bench.study_grid import grid_cells
from audiotokens.bench.study_layers import fit_grid
from audiotokens.tokenizers.features import ssl_family
from audiotokens.tokenizers.registry import load_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="SSL folder (default: a tiny random-init HuBERT)")
    parser.add_argument("--manifest", help="fitting items (default: a 0.5-minute synthetic "
                        "corpus's training split)")
    parser.add_argument("--layers", default="1,2,3")
    parser.add_argument("--k", default="100,1000")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="study-fit-"))
    model = args.model
    if model is None:
        from audiotokens.testing import save_tiny_ssl

        model = str(save_tiny_ssl("hubert", tmp / "ssl", layer_norm=True))
    manifest = Path(args.manifest) if args.manifest else _corpus(tmp / "corpus")
    layers = [int(x) for x in args.layers.split(",")]
    ks = [int(x) for x in args.k.split(",")]
    cells = grid_cells(ssl_family(model), layers, ks, combine=True)

    t0 = time.process_time()
    shared = fit_grid(cells, model, manifest, tmp / "grid", {})
    shared_s = time.process_time() - t0
    t0 = time.process_time()
    alone = {}
    for c in cells:
        tok = load_tokenizer(c.family, model=model, layers=list(c.layers), k=c.k)
        tok.fit(manifest)
        alone[c] = tok.checksum()
    alone_s = time.process_time() - t0
    same = all(load_tokenizer(shared.folders[c]).checksum() == alone[c] for c in cells)
    tok = load_tokenizer(shared.folders[cells[0]])
    t0 = time.process_time()
    from audiotokens.encode import encode_manifest

    encode_manifest(tok, manifest, tmp / "store", progress=False)
    encode_s = time.process_time() - t0
    print(f"{len(cells)} cells ({len(layers)} layers x k {ks} + combinations) on {manifest}")
    print(f"  per-cell fits (baseline): {alone_s:7.1f} CPU s")
    print(f"  fit_grid (shared pass):   {shared_s:7.1f} CPU s  ({alone_s / shared_s:.1f}x "
          "faster)")
    print(f"  encode one cell:          {encode_s:7.1f} CPU s  (x {len(cells)} cells, not "
          "shared)")
    print(f"  same tokenizers: {same}")


def _corpus(root: Path) -> Path:
    from audiotokens.data import SynthConfig, synthesize_corpus

    synthesize_corpus(root, SynthConfig(minutes=0.5, n_speakers=4, valid_speakers=1,
                                        test_speakers=1), overwrite=True)
    return root / "train.jsonl"


if __name__ == "__main__":
    main()
