"""Encode throughput: `encode_manifest` vs the backbone's bare batched forward, same audio.

Both numbers are audio seconds per wall second (x real time), measured in this run on the
same items with the same batches. The baseline has no file I/O, no k-means and no store
writes; the target is encode >= 0.9x the bare forward.

    python benchmarks/encode.py                                  # mel-kmeans, synthetic corpus
    python benchmarks/encode.py --tokenizer hubert               # tiny random-init HuBERT
    python benchmarks/encode.py --tokenizer hubert --model /models/hubert-base-ls960 \\
        --layers 6,9 --manifest corpus.jsonl --device cuda --batch-seconds 300
    python benchmarks/encode.py --tokenizer runs/my-tokenizer --manifest corpus.jsonl
    python benchmarks/encode.py --tokenizer energy               # the testing tokenizer
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from audiotokens.audio import load_audio
from audiotokens.data.manifest import read_manifest
from audiotokens.encode import encode_manifest, plan_batches
from audiotokens.testing import EnergyTokenizer, write_test_corpus
from audiotokens.tokenizers.registry import load_tokenizer

SSL = ("hubert", "wavlm", "wav2vec2", "data2vec")


def tiny_hubert(folder: Path) -> Path:
    """Save a small random-init HuBERT (2 layers, 64 dims) as a stand-in SSL model."""
    from transformers import HubertConfig, HubertModel

    config = HubertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=128, conv_dim=(64,) * 7,
                          num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    HubertModel(config).save_pretrained(folder)
    return folder


def build_tokenizer(args: argparse.Namespace, manifest: Path, tmp: Path) -> Any:
    """The tokenizer under test, fitted on ``manifest`` when it came from a name."""
    if Path(args.tokenizer).is_dir():
        return load_tokenizer(args.tokenizer)
    if args.tokenizer == "energy":
        tok = EnergyTokenizer(EnergyTokenizer.Config(k=args.k))
    else:
        options: dict[str, Any] = {"k": args.k}
        if args.tokenizer in SSL:
            options["model"] = args.model or str(tiny_hubert(tmp / "tiny-hubert"))
            options["layers"] = [int(x) for x in args.layers.split(",")]
        tok = load_tokenizer(args.tokenizer, **options)
    tok.fit(manifest)
    return tok


def bare_forward(tok: Any) -> Callable[[list[np.ndarray]], Any]:
    """The same model's batched forward over padded audio (no k-means, no I/O)."""
    import torch

    if isinstance(tok, EnergyTokenizer):
        return lambda batch: tok.frame_db(batch, tok.info.sample_rate)
    if not hasattr(tok, "backbone"):
        raise SystemExit(f"tokenizer '{tok.name}' has no .backbone to compare against")
    from audiotokens.tokenizers.features import pad_batch

    layers = list(getattr(tok.config, "layers", None) or [0])

    def forward(batch: list[np.ndarray]) -> Any:
        wav, lengths = pad_batch([torch.from_numpy(x) for x in batch])
        out = tok.backbone.forward(wav.to(tok.backbone.device), lengths, layers)
        if out.features[0].is_cuda:
            torch.cuda.synchronize()
        return out

    return forward


def time_bare(forward: Callable, signals: list[np.ndarray], durations: list[float],
              batch_seconds: float, sample_rate: int) -> float:
    """x real time of the bare forward over the same batches encode_manifest builds."""
    batches = [[signals[i] for i in b] for b in plan_batches(durations, batch_seconds)]
    forward(batches[-1])  # warm-up (lazy init, allocator)
    start = time.perf_counter()
    for batch in batches:
        forward(batch)
    seconds = sum(len(x) for x in signals) / sample_rate
    return seconds / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", default="mel-kmeans",
                        help="registered name, 'energy', or a saved tokenizer folder")
    parser.add_argument("--model", default=None, help="SSL hub id or local folder "
                        "(default for SSL names: a tiny random-init HuBERT)")
    parser.add_argument("--layers", default="1,2", help="SSL layers, e.g. 6,9")
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--manifest", type=Path, default=None,
                        help="JSONL manifest (default: a synthetic corpus)")
    parser.add_argument("--items", type=int, default=60, help="synthetic corpus size")
    parser.add_argument("--batch-seconds", type=float, default=60.0)
    parser.add_argument("--shard-items", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4, help="audio loading threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2, help="best of N for both timings")
    args = parser.parse_args()

    import torch

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        manifest = args.manifest or write_test_corpus(tmp / "corpus", args.items,
                                                      min_seconds=2.0, max_seconds=8.0)
        tok = build_tokenizer(args, manifest, tmp).to(args.device)
        sample_rate = tok.info.sample_rate
        items = read_manifest(manifest)
        signals = [load_audio(it.path, sample_rate).samples for it in items]
        durations = [it.duration for it in items]
        forward = bare_forward(tok)
        bare, enc = 0.0, 0.0
        for r in range(args.repeats):
            bare = max(bare, time_bare(forward, signals, durations, args.batch_seconds,
                                       sample_rate))
            summary = encode_manifest(tok, manifest, tmp / f"store{r}",
                                      batch_seconds=args.batch_seconds, device=args.device,
                                      shard_items=args.shard_items, workers=args.workers,
                                      progress=False)
            assert summary.encoded == len(items) and not summary.failed, summary.failed
            enc = max(enc, summary.throughput)
    audio_min = sum(len(x) for x in signals) / sample_rate / 60
    print(f"tokenizer {tok.name} ({tok.info.source or '-'}), {len(items)} items, "
          f"{audio_min:.1f} min audio, device {args.device}, torch threads "
          f"{torch.get_num_threads()}, batch {args.batch_seconds:g} s, best of {args.repeats}")
    print(f"bare batched forward : {bare:10.1f}x real time")
    print(f"encode_manifest      : {enc:10.1f}x real time")
    ratio = enc / bare
    print(f"ratio encode / bare  : {ratio:10.2f}  (target >= 0.90: "
          f"{'met' if ratio >= 0.9 else 'NOT met'})")


if __name__ == "__main__":
    main()
