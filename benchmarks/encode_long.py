"""Long-file encode memory: peak RSS of `encode_manifest` on one 10 min vs longer recording.

Each measurement runs in a fresh process (peak RSS is a per-process high-water mark) that
encodes a one-item manifest into a new token store. Long items are streamed and encoded in
chunks (`audiotokens.longform`); the baseline in the same run is the whole-file path (the
item loaded and encoded in one piece, what encode did before), whose memory grows with the
file. Target: chunked peak RSS flat (ratio ~1.0) from 10 min to 3 h.

    python benchmarks/encode_long.py                      # 10, 60, 180 min, mel-kmeans
    python benchmarks/encode_long.py --minutes 10,30 --whole-minutes 10,30
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000


def write_long_wav(path: Path, minutes: float, seed: int = 0) -> Path:
    """A PCM16 wav of ``minutes`` of speech-like audio, written block by block."""
    import soundfile as sf

    from audiotokens.testing import noisy_speechlike

    pieces = [noisy_speechlike(10.0, SAMPLE_RATE, seed=seed + i, f0=100.0 + 15 * i)
              for i in range(6)]
    rng = np.random.default_rng(seed)
    n_blocks = int(round(minutes * 6))
    with sf.SoundFile(str(path), "w", SAMPLE_RATE, 1, subtype="PCM_16") as f:
        for _ in range(n_blocks):
            f.write(pieces[int(rng.integers(len(pieces)))] * float(rng.uniform(0.5, 1.0)))
    return path


def peak_rss_mib() -> float:
    """Peak resident memory of this process, MiB (``bench.cost.peak_rss_bytes``)."""
    from audiotokens.bench.cost import peak_rss_bytes

    return peak_rss_bytes() / 2**20


def worker(args: argparse.Namespace) -> None:
    """Encode one manifest; print peak RSS (MiB) before and after encoding, and wall time."""
    from audiotokens.encode import encode_manifest
    from audiotokens.longform import ChunkConfig
    from audiotokens.tokenizers.registry import load_tokenizer

    tok = load_tokenizer(args.tokenizer_dir)
    tok.encode(np.zeros(SAMPLE_RATE, np.float32), SAMPLE_RATE)  # warm up lazy buffers
    base = peak_rss_mib()
    start = time.perf_counter()
    summary = encode_manifest(tok, args.manifest, args.store, progress=False,
                              chunking=ChunkConfig(args.chunk_seconds, 2.0))
    wall = time.perf_counter() - start
    if summary.failed:
        raise SystemExit(f"encode failed: {summary.failed}")
    peak = peak_rss_mib()
    print(json.dumps({"base_mib": base, "peak_mib": peak, "wall_s": wall,
                      "audio_s": summary.audio_seconds}))


def measure(tmp: Path, tok_dir: Path, wav: Path, minutes: float, chunk_seconds: float,
            tag: str) -> dict:
    from audiotokens.data.manifest import ManifestItem, write_manifest

    manifest = write_manifest([ManifestItem("long", str(wav), minutes * 60.0)],
                              tmp / f"{tag}.jsonl")
    cmd = [sys.executable, __file__, "--worker", "--tokenizer-dir", str(tok_dir),
           "--manifest", str(manifest), "--store", str(tmp / f"store-{tag}"),
           "--chunk-seconds", str(chunk_seconds)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", default="10,60,180", help="Recording lengths, minutes.")
    parser.add_argument("--whole-minutes", default="10,60", help="Lengths for the whole-file "
                        "baseline (its memory grows with the file).")
    parser.add_argument("--chunk-seconds", type=float, default=60.0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer-dir", help=argparse.SUPPRESS)
    parser.add_argument("--manifest", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    from audiotokens.testing import write_test_corpus
    from audiotokens.tokenizers.registry import load_tokenizer

    minutes = [float(m) for m in args.minutes.split(",")]
    whole = [float(m) for m in args.whole_minutes.split(",") if m.strip()]
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        tok = load_tokenizer("mel-kmeans", k=64)
        tok.fit(write_test_corpus(tmp / "fit", 8))
        tok_dir = tok.save(tmp / "tok")
        rows = []
        for m in sorted(set(minutes) | set(whole)):
            wav = write_long_wav(tmp / f"{m:g}min.wav", m)
            if m in minutes:
                r = measure(tmp, tok_dir, wav, m, args.chunk_seconds, f"chunk-{m:g}")
                rows.append(("chunked", m, r))
            if m in whole:
                r = measure(tmp, tok_dir, wav, m, m * 60.0 + 1, f"whole-{m:g}")
                rows.append(("whole file", m, r))
            wav.unlink()
        print(f"mel-kmeans (k=64), 1 CPU thread, chunks of {args.chunk_seconds:g} s with 2 s "
              "overlap; peak RSS of a fresh process (after imports and model: 'base')")
        print(f"{'path':<11} {'audio':>8} {'base MiB':>9} {'peak MiB':>9} {'encode MiB':>11} "
              f"{'x rt':>7} {'peak vs shortest':>17}")
        for path, m, r in rows:
            ref = next(x for p, mm, x in rows if p == path and mm == min(
                k for pp, k, _ in rows if pp == path))
            print(f"{path:<11} {m:>6g} m {r['base_mib']:>9.0f} {r['peak_mib']:>9.0f} "
                  f"{r['peak_mib'] - r['base_mib']:>11.0f} {r['audio_s'] / r['wall_s']:>7.0f} "
                  f"{r['peak_mib'] / ref['peak_mib']:>17.2f}")


if __name__ == "__main__":
    main()
