"""Encode throughput with `--engine ray` vs the local engine, and the scaling model.

One run, the same items and tokenizer: the local engine (this process), then a local Ray
with ``--workers`` actors of ``--cpus-per-worker`` CPUs running two jobs, with shards of
``--shard-items`` and of a fifth of that (per-shard costs).
Throughput is audio seconds per second (x real time), per wall second and per CPU second.
CPU time: the local engine's is this process's (``time.process_time``, loader threads
included); a Ray job's is the driver's plus that of every process below it (raylet, GCS,
workers), sampled from /proc every 0.2 s (Linux; a process's last sample counts once it
exits). Per-worker figures come from the shards' success markers (each records its worker,
wall and CPU seconds). Wall times depend on what else runs on the machine; CPU times less.

The scaling model: aggregate = per-worker throughput x workers, until the first of these
caps: the CPUs (cores / CPUs per worker), the shared filesystem's read bandwidth (audio
bytes per audio second, measured here, at ``--fs-mb-s``), and the driver (one core; its
CPU time per shard, measured here as all its CPU time in the job of small shards over their
number, an upper bound, at ``--shard-items`` items a shard). The bottleneck named is the
lowest cap. The local engine is timed on its second run (the first pays lazy init); each
Ray worker pays that once, inside its first shard.

    python benchmarks/encode_ray.py                       # FSDD (../shared/data), mel-kmeans
    python benchmarks/encode_ray.py --items 3000 --workers 2 --shard-items 250
    python benchmarks/encode_ray.py --tokenizer runs/hubert --manifest corpus.jsonl

Measured tables are in the README section "Running on a Ray cluster".
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from audiotokens.data.manifest import ManifestItem, read_manifest, write_manifest
from audiotokens.encode import encode_manifest
from audiotokens.shards import ShardResult
from audiotokens.store import DONE_DIR, TokenStore
from audiotokens.testing import write_test_corpus
from audiotokens.tokenizers.registry import load_tokenizer

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"


def corpus(args: argparse.Namespace, tmp: Path) -> Path:
    """``--manifest``, else ``--items`` FSDD recordings, else a synthetic corpus."""
    if args.manifest is not None:
        return args.manifest
    if FSDD.is_dir():
        from audiotokens.audio import probe_audio

        paths = sorted(FSDD.glob("*.wav"))[: args.items]
        items = [ManifestItem(p.stem, str(p), probe_audio(p).duration) for p in paths]
        return write_manifest(items, tmp / "fsdd.jsonl")
    return write_test_corpus(tmp / "synth", args.items, min_seconds=0.5, max_seconds=2.0)


class TreeCPU:
    """CPU seconds of the processes below this one, sampled from /proc every ``interval``
    seconds by a thread (a process that exited counts with its last sample)."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval, self.seen = interval, {}
        self.tick = os.sysconf("SC_CLK_TCK")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeCPU:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self._sample()

    def total(self) -> float:
        return sum(self.seen.values())

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        stats: dict[int, tuple[int, str, float]] = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited meanwhile
            # after the name: state ppid ... utime stime (fields 14, 15 of stat) ... starttime
            cpu = (int(fields[11]) + int(fields[12])) / self.tick
            stats[int(name)] = (int(fields[1]), fields[19], cpu)
        below, todo = set(), [os.getpid()]
        while todo:
            parent = todo.pop()
            kids = [pid for pid, (ppid, _, _) in stats.items() if ppid == parent]
            below.update(kids)
            todo.extend(kids)
        for pid in below:
            self.seen[(pid, stats[pid][1])] = stats[pid][2]


def run_local(tok: Any, manifest: Path, out: Path, args: argparse.Namespace) -> dict[str, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    s = encode_manifest(tok, manifest, out, shard_items=args.shard_items,
                        batch_seconds=args.batch_seconds, progress=False)
    assert s.encoded == s.total - len(s.failed)
    return {"audio": s.audio_seconds, "wall": time.perf_counter() - wall,
            "cpu": time.process_time() - cpu}


def run_ray(tok: Any, manifest: Path, outs: dict[int, Path], args: argparse.Namespace
            ) -> dict[str, dict[str, float]]:
    """ray.init, then one job per shard size in ``outs``: wall and CPU seconds of each."""
    import ray

    from audiotokens.encode_ray import RayConfig, RayEngine

    engine = RayEngine(RayConfig(max_workers=args.workers,
                                 cpus_per_worker=args.cpus_per_worker))
    runs: dict[str, dict[str, float]] = {}
    with TreeCPU() as tree:
        cpu, wall = time.process_time(), time.perf_counter()
        ray.init(num_cpus=args.ray_cpus, include_dashboard=False,
                 logging_level=logging.WARNING)
        runs["init"] = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                        "tree": tree.total()}
        for shard_items, out in outs.items():
            driver, tree0, wall = time.process_time(), tree.total(), time.perf_counter()
            s = encode_manifest(tok, manifest, out, shard_items=shard_items,
                                batch_seconds=args.batch_seconds, progress=False,
                                engine=engine)
            assert s.encoded == s.total - len(s.failed)
            runs[str(shard_items)] = {"wall": time.perf_counter() - wall,
                                      "driver": time.process_time() - driver,
                                      "tree": tree.total() - tree0, "audio": s.audio_seconds}
        ray.shutdown()
    return runs


def markers(out: Path) -> list[ShardResult]:
    return [ShardResult.from_json(p.read_text()) for p in sorted((out / DONE_DIR).iterdir())
            if p.suffix == ".json"]


def same_tokens(a: Path, b: Path) -> bool:
    ref = dict(TokenStore.open(a))
    got = dict(TokenStore.open(b))
    return ref.keys() == got.keys() and all(
        np.array_equal(ref[k].codes, got[k].codes) for k in ref)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", default="mel-kmeans",
                        help="a k-means name (fitted here on the corpus) or a saved folder")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--manifest", type=Path, default=None)
    parser.add_argument("--items", type=int, default=1500, help="FSDD recordings to use")
    parser.add_argument("--shard-items", type=int, default=100)
    parser.add_argument("--batch-seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2, help="Ray actors")
    parser.add_argument("--cpus-per-worker", type=float, default=1.0)
    parser.add_argument("--ray-cpus", type=int, default=os.cpu_count(),
                        help="CPUs of the local Ray")
    parser.add_argument("--fs-mb-s", type=float, default=1000.0,
                        help="shared filesystem read bandwidth for the model, MB/s")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(max(1, int(args.cpus_per_worker)))  # local = one worker's threads
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        manifest = corpus(args, tmp)
        if Path(args.tokenizer).is_dir():
            tok = load_tokenizer(args.tokenizer)
        else:
            tok = load_tokenizer(args.tokenizer, k=args.k, kmeans_iterations=10)
            tok.fit(manifest, minutes=2.0)
        items = read_manifest(manifest)
        audio_bytes = sum(os.path.getsize(it.path) for it in items)
        run_local(tok, manifest, tmp / "warm-up", args)  # first encode: lazy init
        local = run_local(tok, manifest, tmp / "local", args)
        sizes = (args.shard_items, max(1, args.shard_items // 5))
        runs = run_ray(tok, manifest, {n: tmp / f"ray-{n}" for n in sizes}, args)
        results = {n: markers(tmp / f"ray-{n}") for n in sizes}
        identical = all(same_tokens(tmp / "local", tmp / f"ray-{n}") for n in sizes)
        store_bytes = sum(p.stat().st_size for p in TokenStore.open(tmp / "local").shards())
    report(args, tok, items, local, runs, results, identical, audio_bytes, store_bytes)


def worker_rates(results: list[ShardResult]) -> tuple[float, float, float]:
    """(x RT per busy wall second, x RT per CPU second, busiest worker's busy seconds)."""
    busy: dict[str, float] = defaultdict(float)
    for r in results:
        busy[r.worker] += r.wall_seconds
    audio = sum(r.audio_seconds for r in results)
    return (audio / sum(busy.values()), audio / sum(r.cpu_seconds for r in results),
            max(busy.values()))


def report(args: argparse.Namespace, tok: Any, items: list[ManifestItem],
           local: dict[str, float], runs: dict[str, dict[str, float]],
           results: dict[int, list[ShardResult]], identical: bool, audio_bytes: int,
           store_bytes: int) -> None:
    audio = local["audio"]
    big, small = results
    print(f"tokenizer {tok.name}, {len(items)} items, {audio / 60:.1f} min audio, "
          f"{args.workers} Ray workers x {args.cpus_per_worker:g} CPU, {os.cpu_count()} "
          f"cores (shared with other work); tokens identical to local: {identical}")
    print(f"{'':34}{'wall s':>8}{'CPU s':>8}{'x RT wall':>11}{'x RT CPU':>10}")
    init = runs["init"]
    print(f"{'ray.init':34}{init['wall']:8.1f}{init['cpu'] + init['tree']:8.1f}")
    print(f"{'local engine, shards of ' + str(big):34}{local['wall']:8.1f}{local['cpu']:8.1f}"
          f"{audio / local['wall']:11.1f}{audio / local['cpu']:10.1f}")
    for n in (big, small):
        run = runs[str(n)]
        cpu = run["driver"] + run["tree"]
        print(f"{f'ray job, {len(results[n])} shards of {n}':34}{run['wall']:8.1f}{cpu:8.1f}"
              f"{audio / run['wall']:11.1f}{audio / cpu:10.1f}")
    rate, cpu_rate, busiest = worker_rates(results[big])
    small_rate = worker_rates(results[small])[0]
    job = runs[str(big)]
    print(f"per worker (shards of {big}): {rate:.1f}x RT per busy second, {cpu_rate:.1f}x per "
          f"CPU second; shards of {small}: {small_rate:.1f}x per busy second")
    print(f"worker start + scheduling: {job['wall'] - busiest:.1f} s of the "
          f"{job['wall']:.1f} s job")
    print(f"ratio ray job / local, wall             : {local['wall'] / job['wall']:.2f}")
    print(f"ratio ray init + job / local, wall      : "
          f"{local['wall'] / (job['wall'] + init['wall']):.2f}")
    print(f"ratio ray job / local, per CPU second   : "
          f"{local['cpu'] / (job['driver'] + job['tree']):.2f}")
    print(f"ratio ray worker / local, per CPU second: {cpu_rate * local['cpu'] / audio:.2f}")
    per_shard = runs[str(small)]["driver"] / len(results[small])  # fixed costs included
    print(f"driver CPU: {job['driver']:.2f} s for {len(results[big])} shards, "
          f"{runs[str(small)]['driver']:.2f} s for {len(results[small])}")
    scaling(args, rate, audio, audio_bytes, store_bytes, per_shard, audio / len(results[big]))


def scaling(args: argparse.Namespace, worker_rate: float, audio: float, audio_bytes: int,
            store_bytes: int, driver_per_shard: float, shard_audio: float) -> None:
    """Aggregate = per-worker x workers, capped by CPUs, filesystem reads and the driver."""
    bytes_per_audio_s = audio_bytes / audio
    caps = {
        f"CPUs here ({os.cpu_count()} cores / {args.cpus_per_worker:g} per worker)":
            worker_rate * (os.cpu_count() or 1) / args.cpus_per_worker,
        f"filesystem reads ({args.fs_mb_s:g} MB/s / {bytes_per_audio_s / 1e3:.1f} kB per "
        "audio s)": args.fs_mb_s * 1e6 / bytes_per_audio_s,
        f"driver (<= {1000 * driver_per_shard:.0f} ms CPU per shard, shards of "
        f"{shard_audio:.0f} audio s)": shard_audio / max(driver_per_shard, 1e-4),
    }
    print(f"scaling model: {worker_rate:.1f}x RT per worker x workers; store writes "
          f"{store_bytes / audio / 1e3:.2f} kB per audio s")
    for workers in (1, 2, 8, 64, 512):
        print(f"  {workers:4d} workers -> {min(workers * worker_rate, *caps.values()):10.0f}x RT")
    for name, cap in sorted(caps.items(), key=lambda kv: kv[1]):
        print(f"  cap {cap:10.0f}x RT at {cap / worker_rate:6.0f} workers: {name}")
    print(f"bottleneck: {min(caps, key=caps.get)}")


if __name__ == "__main__":
    main()
