"""Compression tokenizers side by side: encode / decode real-time factor and peak memory for
the same 16 s of real speech, all measured in this run.

- RTF = wall seconds / audio seconds (lower is better; < 1 is faster than real time), after
  one warm-up encode+decode of the same signal (so neither the tokenizer nor the bare
  baseline pays first-call costs).
- Peak memory = highest process RSS while the call runs minus the RSS just before it,
  sampled every 1 ms from /proc/self/statm by a background thread (captures torch's and C
  libraries' allocations, which tracemalloc does not see). The script re-runs itself with
  ``MALLOC_MMAP_THRESHOLD_=65536`` so glibc returns freed blocks to the OS instead of
  keeping them from the warm-up call (which would hide the next call's peak). On CUDA, the peak of
  ``torch.cuda.max_memory_allocated`` above the pre-call allocation is reported instead.
- EnCodec / DAC / Mimi are random-init models with the REAL default architectures
  (facebook/encodec_24khz, descript/dac_16khz, kyutai/mimi sizes; no weights needed for
  timing), saved to a temp folder and loaded by path like a user's local model; at
  ``bitrate=high``. Baseline: the same model's bare ``encode`` / ``decode`` on a ready tensor
  (no resampling, no numpy, no Tokens); "x bare" = tokenizer time / bare time.
- rvq (the project's own codec, untrained: same compute as trained) if it imports.

    python benchmarks/codecs.py                       # all, 16 s of LibriSpeech test-other
    python benchmarks/codecs.py --only mulaw,codec2-3200,encodec --seconds 8 --device cuda
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiotokens.audio import load_audio
from audiotokens.tokenizers.registry import load_tokenizer

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CODEC2_TIERS = ("700C", "1300", "2400", "3200")


@dataclass
class Measure:
    """One timed call: wall seconds and peak extra memory in MiB."""

    seconds: float
    peak_mib: float


class _RssPeak:
    """Samples process RSS every ``interval`` seconds on a thread; ``peak`` in bytes."""

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.peak = self.start = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self.page

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(self.interval)

    def __enter__(self) -> _RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def measure(fn: Callable[[], Any], device: str) -> tuple[Any, Measure]:
    """Run ``fn`` once; return its result and wall time / peak extra memory."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        t0 = time.perf_counter()
        out = fn()
        torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        return out, Measure(seconds, (torch.cuda.max_memory_allocated() - base) / 2**20)
    with _RssPeak() as rss:
        t0 = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - t0
    return out, Measure(seconds, (rss.peak - rss.start) / 2**20)


def speech(seconds: float) -> tuple[np.ndarray, int]:
    """``seconds`` of real LibriSpeech test-other speech at 16 kHz (files concatenated)."""
    files = sorted((DATA / "librispeech_test_other_10spk").rglob("*.flac"))
    if not files:
        raise SystemExit(f"no LibriSpeech flac files under {DATA}; see shared/data")
    parts, total = [], 0
    for f in files:
        parts.append(load_audio(f, 16000).samples)
        total += len(parts[-1])
        if total >= seconds * 16000:
            break
    return np.concatenate(parts)[: int(seconds * 16000)], 16000


def default_models(folder: Path, names: list[str]) -> dict[str, Path]:
    """Random-init EnCodec / DAC / Mimi with the published default architectures."""
    from transformers import DacConfig, DacModel, EncodecConfig, EncodecModel, MimiConfig, MimiModel

    builders = {  # EncodecConfig() / MimiConfig() defaults are the 24 kHz / kyutai models;
        "encodec": lambda: EncodecModel(EncodecConfig()),  # DacConfig() is not dac_16khz:
        "dac": lambda: DacModel(DacConfig(  # descript/dac_16khz config.json values
            encoder_hidden_size=64, downsampling_ratios=[2, 4, 5, 8], decoder_hidden_size=1536,
            n_codebooks=12, codebook_size=1024, codebook_dim=8, sampling_rate=16000)),
        "mimi": lambda: MimiModel(MimiConfig()),
    }
    out = {}
    for name in names:
        if name in builders:
            builders[name]().save_pretrained(folder / name)
            out[name] = folder / name
    return out


def bare_calls(tok: Any, x16k: np.ndarray) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """The model's own encode/decode on a prepared tensor (the baseline for HF codecs)."""
    import torch

    from audiotokens.audio import resample

    g, n = tok.geometry, tok.n_codebooks
    model = tok._load_model()
    x = torch.from_numpy(resample(x16k, 16000, g.sample_rate))[None, None].to(tok.device)
    pad = (-x.shape[-1]) % g.hop_length
    x = torch.nn.functional.pad(x, (0, pad))
    mask = torch.ones(1, x.shape[-1], dtype=torch.bool, device=tok.device)
    with torch.no_grad():
        codes = tok.backend.encode(model, x, mask, n, g)

    def enc() -> Any:
        with torch.no_grad():
            return tok.backend.encode(model, x, mask, n, g)

    def dec() -> Any:
        with torch.no_grad():
            return tok.backend.decode(model, codes)

    return enc, dec


def candidates(names: list[str], models: dict[str, Path]) -> list[tuple[str, Callable[[], Any]]]:
    """(label, builder) for every requested tokenizer."""
    out: list[tuple[str, Callable[[], Any]]] = []
    for name in names:
        if name == "mulaw":
            out.append((name, lambda: load_tokenizer("mulaw")))
        elif name.startswith("codec2-"):
            mode = name.split("-", 1)[1]
            out.append((name, lambda mode=mode: load_tokenizer("codec2", mode=mode)))
        elif name in models:
            out.append((name, lambda name=name: load_tokenizer(name, model=str(models[name]),
                                                               bitrate="high")))
        elif name == "rvq":
            out.append((name, lambda: load_tokenizer("rvq")))
        else:
            raise SystemExit(f"unknown benchmark entry {name!r}")
    return out


def run_one(label: str, build: Callable[[], Any], x: np.ndarray, sr: int, device: str,
            repeats: int = 1) -> dict:
    """Warm up on ``x``, then time encode and decode of ``x`` (best of ``repeats``); HF codecs
    also the bare model."""
    try:
        tok = build().to(device)
        tok.decode(tok.encode(x, sr))
    except Exception as err:  # noqa: BLE001 - report and go on to the next tokenizer
        return {"label": label, "error": f"{type(err).__name__}: {str(err)[:80]}"}
    seconds = len(x) / sr
    bare = bare_calls(tok, x) if hasattr(tok, "backend") else None
    enc = dec = b_enc = b_dec = Measure(math.inf, 0.0)
    for _ in range(repeats):  # interleaved, best time (and its memory) of each
        if bare is not None:
            b_enc = min(b_enc, measure(bare[0], device)[1], key=lambda m: m.seconds)
            b_dec = min(b_dec, measure(bare[1], device)[1], key=lambda m: m.seconds)
        tokens, m = measure(lambda: tok.encode(x, sr), device)
        enc = min(enc, m, key=lambda m: m.seconds)
        m = measure(lambda tokens=tokens: tok.decode(tokens), device)[1]
        dec = min(dec, m, key=lambda m: m.seconds)
    row = {"label": label, "bps": tok.info.bitrate_bps, "shape": tokens.codes.shape,
           "enc_rtf": enc.seconds / seconds, "dec_rtf": dec.seconds / seconds,
           "enc_mib": enc.peak_mib, "dec_mib": dec.peak_mib}
    if bare is not None:
        row["enc_vs_bare"] = enc.seconds / b_enc.seconds
        row["dec_vs_bare"] = dec.seconds / b_dec.seconds
    return row


def main() -> None:
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") is None and sys.platform == "linux":
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = ["mulaw", *(f"codec2-{m}" for m in CODEC2_TIERS), "encodec", "dac", "mimi", "rvq"]
    parser.add_argument("--only", default=",".join(default), help="comma-separated entries")
    parser.add_argument("--seconds", type=float, default=16.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=1, help="best of N timed calls")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    x, sr = speech(args.seconds)
    from rich.console import Console
    from rich.table import Table

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        models = default_models(Path(tmp), names)
        for label, build in candidates(names, models):
            rows.append(run_one(label, build, x, sr, args.device, args.repeats))
            print(f"done: {rows[-1]}", flush=True)
    memory = "CUDA max_memory_allocated" if args.device.startswith("cuda") else "RSS peak"
    table = Table(title=f"{len(x) / sr:.0f} s of real speech on {args.device}; "
                        f"RTF = time / audio time; memory = {memory} above pre-call, MiB")
    for col in ("tokenizer", "bitrate bps", "tokens [T, C]", "enc RTF", "dec RTF",
                "enc MiB", "dec MiB", "enc x bare", "dec x bare"):
        table.add_column(col, justify="left" if col == "tokenizer" else "right")
    for r in rows:
        if "error" in r:
            table.add_row(r["label"], f"skipped: {r['error']}", *[""] * 7)
            continue
        vs = [f"{r[k]:.2f}" if k in r else "-" for k in ("enc_vs_bare", "dec_vs_bare")]
        table.add_row(r["label"], f"{r['bps']:,.0f}", str(list(r["shape"])),
                      f"{r['enc_rtf']:.4f}", f"{r['dec_rtf']:.4f}", f"{r['enc_mib']:.1f}",
                      f"{r['dec_mib']:.1f}", *vs)
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
