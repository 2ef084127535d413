"""Bench memory: peak RSS of one `audiotokens bench` job on 1x vs 4x the same corpus.

A small synthetic corpus is synthesized once and replicated (same audio, distinct ids) into a
1x and a 4x corpus. Each measurement is a fresh process (VmHWM: peak RSS is a per-process
high-water mark) running the bench on one corpus: continuous-mel (the largest per-item
arrays of the defaults: 80 float32 per frame, 50 frames/s), the prosody-proxy task, a tiny
head. It encodes the corpus into its features store, then trains and tests the head reading
batches from the shards. Two settings of the decoded-row-group cache (``cache_mb``): a small
one (heads stream from disk; target: peak flat, 4x/1x ~1.0) and one larger than the corpus,
which keeps every decoded array in memory as the bench did before its store (the baseline,
whose memory grows with the corpus). Per row, two processes: the first run encodes the
corpus into the store and trains; the second (another run name, same store) encodes
nothing and trains again: its peak is that of heads streaming from the store alone.

    python benchmarks/bench_memory.py                  # 1 min synthesized, x24 and x96
    python benchmarks/bench_memory.py --minutes 2 --copies 4
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def peak_rss_mib() -> float:
    """Peak resident memory of this process, MiB (``bench.cost.peak_rss_bytes``)."""
    from audiotokens.bench.cost import peak_rss_bytes

    return peak_rss_bytes() / 2**20


def replicate(source: Path, out: Path, copies: int) -> Path:
    """A synthetic-corpus folder whose all.jsonl lists every item of ``source`` ``copies``
    times under distinct ids (``<id>~<copy>``), pointing at the same audio."""
    from audiotokens.data.manifest import read_manifest, write_manifest

    items = read_manifest(source / "all.jsonl")
    write_manifest([replace(it, id=f"{it.id}~{c}") for c in range(copies) for it in items],
                   out / "all.jsonl")
    return out


def worker(args: argparse.Namespace) -> None:
    """Run the bench once on ``args.data``; print peak RSS (MiB), wall time and counts."""
    import torch

    from audiotokens.bench.runner import BenchConfig, run_benchmark
    from audiotokens.bench.tasks.loop import TrainConfig

    torch.set_num_threads(1)
    head = TrainConfig(max_steps=40, eval_every=20, patience=2, batch_size=16, dim=16,
                       hidden=16)
    cfg = BenchConfig(out=Path(args.out), data=Path(args.data), tokenizers=("continuous-mel",),
                      tasks=("prosody-proxy",), seeds=1, train=head, cost=False, report=False,
                      verbose=False, cache_mb=args.cache_mb, run=args.run)
    start = time.perf_counter()
    summary = run_benchmark(cfg)
    wall = time.perf_counter() - start
    if summary.trained != 1:
        raise SystemExit(f"bench did not train its cell: {summary.cells}")
    print(json.dumps({"peak_mib": peak_rss_mib(), "wall_s": wall}))


def measure(data: Path, out: Path, cache_mb: float, run: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--data", str(data), "--out", str(out),
           "--cache-mb", str(cache_mb), "--run", run]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0, help="Audio synthesized once.")
    parser.add_argument("--copies", type=int, default=24, help="Copies in the 1x corpus (4x "
                        "has four times as many); enough that 1x fills several encode batches "
                        "and a shard, whose buffers are bounded, not per corpus.")
    parser.add_argument("--cache-mb", type=float, default=8.0, help="Row-group cache of the "
                        "streamed setting, MiB.")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--run", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    from audiotokens.data import SynthConfig, synthesize_corpus
    from audiotokens.data.manifest import read_manifest

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        synthesize_corpus(tmp / "synth", SynthConfig(minutes=args.minutes, n_speakers=6,
                                                     valid_speakers=1, test_speakers=1),
                          overwrite=True)
        sizes = {"1x": args.copies, "4x": 4 * args.copies}
        corpora = {k: replicate(tmp / "synth", tmp / k, n) for k, n in sizes.items()}
        audio_min = {k: sum(it.duration for it in read_manifest(c / "all.jsonl")) / 60
                     for k, c in corpora.items()}
        decoded = {k: m * 60 * 50 * 80 * 4 / 2**20 for k, m in audio_min.items()}  # float32
        everything = 2 * decoded["4x"]  # a cache that keeps every decoded array
        settings = {f"streamed (cache {args.cache_mb:g} MiB)": args.cache_mb,
                    "all in memory (baseline)": everything}
        rows = []
        for label, cache_mb in settings.items():
            for k, corpus in corpora.items():
                out = tmp / f"out-{cache_mb:g}-{k}"
                first = measure(corpus, out, cache_mb, "encode")
                again = measure(corpus, out, cache_mb, "from-store")
                rows.append((label, k, {"encode": first["peak_mib"], **again}))
        print("bench peak RSS: continuous-mel, prosody-proxy, tiny head (40 steps), 1 CPU "
              f"thread; a fresh process per row; 1x = {audio_min['1x']:.0f} min of audio, "
              f"4x = {audio_min['4x']:.0f} min")
        print("peak MiB: 'encode+train' = first run (encodes the store), 'train' = second run "
              "(reads the store, encodes nothing); wall s of the second")
        print(f"{'setting':<28} {'corpus':>6} {'arrays MiB':>11} {'encode+train':>13} "
              f"{'train':>6} {'wall s':>7} {'4x/1x encode+train':>19} {'4x/1x train':>12}")
        for label, k, r in rows:
            one = next(x for lb, kk, x in rows if lb == label and kk == "1x")
            ratios = (f"{r['encode'] / one['encode']:>19.2f} "
                      f"{r['peak_mib'] / one['peak_mib']:>12.2f}") if k == "4x" else ""
            print(f"{label:<28} {k:>6} {decoded[k]:>11.1f} {r['encode']:>13.0f} "
                  f"{r['peak_mib']:>6.0f} {r['wall_s']:>7.1f} {ratios}")


if __name__ == "__main__":
    main()
