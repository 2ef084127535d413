"""Decoder quality bar: tokens + unit vocoder vs its continuous oracle vs the rvq codec vs
classical codecs, scored on held-out LibriSpeech speakers.

Systems (all at 16 kHz unless noted; every score is against the 16 kHz original):

- ``mel-kmeans k=500 + vocoder``: log-mel k-means tokens (50 Hz x log2(500) = 448 bps) fitted
  on the training audio, decoded by a unit vocoder trained ``--minutes``.
- ``oracle log-mel vocoder``: the same vocoder architecture fed the continuous 80-band
  log-mel frames (``VocoderConfig.continuous_input_dim``), trained the same minutes: the
  ceiling of what this vocoder can do with perfect (un-quantised) input.
- ``rvq low/medium/high``: the project's own RVQ codec trained ``--minutes`` (one model,
  3/6/8 of its 8 codebooks of 1024 at 50 Hz = 1.5/3/4 kbps).
- baselines needing no training: Codec2 1300 and 3200 bps (8 kHz codec: band-limited to
  4 kHz, which wide-band PESQ penalises), package mu-law (always 8 bits/sample) at 1 kHz
  (8 kbps, the lowest rate the tokenizer allows and the closest to the codecs' bitrates),
  4 kHz (32 kbps) and 8 kHz (64 kbps, telephone quality).

Split: the 10-speaker LibriSpeech test-other set; speakers 1688 (M) and 3331 (F) are the
test set (never trained on), the other 8 speakers' utterances (+ LJSpeech clips unless
``--no-ljspeech``) are the training set. The trainable systems train in parallel
processes with one torch thread each (with 2 cores that beats sequential runs), then the
systems are scored by a pool of ``--jobs`` processes. ``--only`` picks systems by substring,
and only the models those systems need are trained (``--only rvq,codec2,mu-law`` trains the
rvq codec alone, so its training minutes are not shared with the vocoders');
``--rvq-option KEY=VALUE`` (repeatable) overrides the rvq config, e.g. the older waveform
architecture with ``--rvq-option encoder=waveform --rvq-option decoder=waveform``.

Measured 2026-12-02 on the 2-core CPU (``--only rvq,codec2,mu-law --jobs 1``, rvq trained
alone for 10 minutes on one thread; PESQ-WB / STOI / mel distance over the 20 test clips):
rvq spectral/istft (the default, 6636 steps) low 1.46/0.821/0.642, medium 1.67/0.864/0.565,
high 1.73/0.874/0.547; the waveform pair (4239 steps) 1.04/0.641/1.368 at every tier;
codec2 1300 1.16/0.624/1.634, codec2 3200 1.26/0.630/1.589, mu-law @ 1 kHz (8 kbps)
1.64/0.575/3.142, @ 4 kHz 2.12/0.845/1.855, @ 8 kHz 2.56/0.981/0.998.

Models are kept in ``--out``; a re-run reuses them (only evaluates) unless ``--retrain``.
Results: a printed table, ``OUT/quality.md`` and ``OUT/quality.json``.

    OMP_NUM_THREADS=1 nice python benchmarks/quality.py --out /tmp/quality --minutes 10
    OMP_NUM_THREADS=1 nice python benchmarks/quality.py --out /tmp/q --only rvq,codec2,mu-law
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
TEST_SPEAKERS = ("1688", "3331")
K = 500
N_MELS = 80
TRAINED = ("units", "oracle", "rvq")
RVQ_TIERS = ("low", "medium", "high")
CODEC2_MODES = ("1300", "3200")
MULAW_RATES = (1000, 4000, 8000)
WAVEFORM_KINDS = ("codec", "sample")


@dataclass
class TrainRecord:
    """What training one system cost: total ``steps``, wall ``minutes`` of the run that
    trained it, and whether this run ``reused`` a saved model."""

    steps: int
    minutes: float
    reused: bool = False
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class Row:
    """Mean scores of one system over the test clips (NaN-free means; ``n_pesq`` clips had a
    computable PESQ). ``bitrate_bps`` is the token bitrate; ``kind``: vocoder/codec/sample."""

    system: str
    kind: str
    bitrate_bps: float
    pesq_wb: float
    stoi: float
    mel_distance: float
    si_sdr: float
    n_clips: int
    n_pesq: int
    steps: int | None = None
    train_minutes: float | None = None


# -- data -----------------------------------------------------------------------------------
def build_manifests(data: Path, out: Path, ljspeech: bool) -> tuple[Path, Path]:
    """Write OUT/manifests/{train,test}.jsonl; test = the held-out speakers' utterances."""
    from audiotokens.data.corpora import librispeech_manifest, ljspeech_manifest
    from audiotokens.data.manifest import write_manifest

    libri = librispeech_manifest(data / "librispeech_test_other_10spk",
                                 held_out_speakers=TEST_SPEAKERS)
    train = [it for it in libri if it.split != "test"]
    test = [it for it in libri if it.split == "test"]
    lj_root = data / "ljspeech_32"
    if ljspeech and lj_root.is_dir():
        train += ljspeech_manifest(lj_root)
    folder = out / "manifests"
    folder.mkdir(parents=True, exist_ok=True)
    return (write_manifest(train, folder / "train.jsonl"),
            write_manifest(test, folder / "test.jsonl"))


def _record_path(out: Path, name: str) -> Path:
    return out / name / "train.json"


def _write_record(out: Path, name: str, record: TrainRecord) -> None:
    _record_path(out, name).write_text(json.dumps(asdict(record), indent=2) + "\n")


def _read_record(out: Path, name: str) -> TrainRecord | None:
    path = _record_path(out, name)
    if not path.is_file():
        return None
    return TrainRecord(**{**json.loads(path.read_text()), "reused": True})


# -- training -------------------------------------------------------------------------------
def fit_kmeans(train: Path, out: Path, retrain: bool) -> TrainRecord:
    """Fit (or reuse) the mel-kmeans k=500 tokenizer in OUT/units/tokenizer."""
    from audiotokens.tokenizers.registry import load_tokenizer

    folder = out / "units" / "tokenizer"
    if (folder / "config.json").is_file() and not retrain:
        return TrainRecord(steps=0, minutes=0.0, reused=True)
    t0 = time.perf_counter()
    tok = load_tokenizer("mel-kmeans", k=K)
    tok.fit(train)
    tok.save(folder)
    report = tok.last_fit
    return TrainRecord(steps=0, minutes=(time.perf_counter() - t0) / 60,
                       extra={"frames": float(report.frames),
                              "inertia": float(report.inertia[0])})


def train_system(name: str, train: Path, out: Path, minutes: float, device: str,
                 retrain: bool, rvq_options: dict[str, object] | None = None) -> TrainRecord:
    """Train one of TRAINED (one torch thread) unless OUT already holds it; saves the model
    and OUT/<name>/train.json. ``rvq_options`` override the rvq codec's config."""
    import torch

    torch.set_num_threads(1)
    record = None if retrain else _read_record(out, name)
    if record is not None:
        return record
    (out / name).mkdir(parents=True, exist_ok=True)
    ckpt = out / name / "checkpoint.pt"
    if retrain and ckpt.exists():
        ckpt.unlink()
    if name == "rvq":
        record = _train_rvq(train, out, minutes, device, ckpt, rvq_options or {})
    else:
        record = _train_vocoder(name, train, out, minutes, device, ckpt)
    _write_record(out, name, record)
    return record


def _train_rvq(train: Path, out: Path, minutes: float, device: str, ckpt: Path,
               options: dict[str, object]) -> TrainRecord:
    from audiotokens.tokenizers.registry import load_tokenizer

    tok = load_tokenizer("rvq", **{"bitrate": "high", **options}).to(device)
    summary = tok.fit(train, max_steps=None, minutes=minutes, checkpoint=ckpt, progress=False)
    tok.save(out / "rvq" / "tokenizer")
    return TrainRecord(steps=summary.steps, minutes=summary.seconds / 60,
                       extra={k: float(v) for k, v in summary.losses.items()})


def _train_vocoder(name: str, train: Path, out: Path, minutes: float, device: str,
                   ckpt: Path) -> TrainRecord:
    from audiotokens.tokenizers.registry import load_tokenizer
    from audiotokens.vocoder import (
        VocoderTrainOptions,
        save_vocoder,
        train_vocoder,
        vocoder_config_for,
    )

    tok = load_tokenizer(out / "units" / "tokenizer")
    overrides = {"continuous_input_dim": N_MELS} if name == "oracle" else {}
    config = vocoder_config_for(tok, **overrides)
    options = VocoderTrainOptions(minutes=minutes, max_steps=None, checkpoint=ckpt,
                                  device=device)
    result = train_vocoder(tok, train, config, options, progress_desc=None)
    save_vocoder(result.model.to("cpu"), out / name / "vocoder")
    return TrainRecord(steps=result.steps, minutes=result.seconds / 60,
                       extra={k: float(v) for k, v in result.last.items()})


# -- systems: name -> (kind, bitrate, resynthesis function) ---------------------------------
def _load_units(out: Path, device: str):
    from audiotokens.tokenizers.registry import load_tokenizer
    from audiotokens.vocoder import load_vocoder

    tok = load_tokenizer(out / "units" / "tokenizer")
    tok.attach_vocoder(load_vocoder(out / "units" / "vocoder"))
    return tok.to(device)


def _oracle_fn(out: Path, device: str):
    import torch

    from audiotokens.vocoder import continuous_features, load_vocoder

    model = load_vocoder(out / "oracle" / "vocoder").to(device)
    hop = model.config.hop_length

    def run(x: np.ndarray) -> np.ndarray:
        feats = continuous_features(x, SAMPLE_RATE, hop, N_MELS)
        with torch.inference_mode():
            wav = model(torch.from_numpy(feats)[None].to(device))[0]
        return wav.float().cpu().numpy()

    return run


def _codec_fn(tok):
    rate = tok.info.sample_rate

    def run(x: np.ndarray) -> np.ndarray:
        from audiotokens.audio import resample

        y = tok.decode(tok.encode(x, SAMPLE_RATE))
        return resample(y, rate, SAMPLE_RATE) if rate != SAMPLE_RATE else y

    return run


def system_names() -> list[str]:
    """Every evaluated system, in table order."""
    return (["mel-kmeans k=500 + vocoder", "oracle log-mel vocoder"]
            + [f"rvq {t}" for t in RVQ_TIERS] + [f"codec2 {m}" for m in CODEC2_MODES]
            + [f"mu-law 8-bit @ {r // 1000} kHz" for r in MULAW_RATES])


def trained_name(system: str) -> str | None:
    """The entry of TRAINED that ``system`` needs trained (None for the fixed baselines)."""
    for prefix, name in (("mel-kmeans", "units"), ("oracle", "oracle"), ("rvq", "rvq")):
        if system.startswith(prefix):
            return name
    return None


def build_system(system: str, out: Path, device: str):
    """(kind, bitrate_bps, resynth fn mono float32 [N] at 16 kHz -> [M] at 16 kHz, train name)."""
    from audiotokens.tokenizers.registry import load_tokenizer

    if system.startswith("mel-kmeans"):
        tok = _load_units(out, device)
        return "vocoder", tok.info.bitrate_bps, _codec_fn(tok), "units"
    if system.startswith("oracle"):
        return "vocoder", math.nan, _oracle_fn(out, device), "oracle"
    if system.startswith("rvq"):
        tier = system.split()[1]
        base = load_tokenizer(out / "rvq" / "tokenizer").to(device)
        n = base.config.codebooks_for(tier)

        def run(x: np.ndarray) -> np.ndarray:
            return base.decode(base.encode(x, SAMPLE_RATE).select(list(range(n))))

        bps = n * base.config.frame_rate * math.log2(base.config.codebook_size)
        return "codec", bps, run, "rvq"
    if system.startswith("codec2"):
        tok = load_tokenizer("codec2", mode=system.split()[1])
        return "codec", tok.info.bitrate_bps, _codec_fn(tok), None
    rate = MULAW_RATES[[f"@ {r // 1000} kHz" in system for r in MULAW_RATES].index(True)]
    tok = load_tokenizer("mulaw", sample_rate=rate)
    return "sample", tok.info.bitrate_bps, _codec_fn(tok), None


def evaluate_system(system: str, test: Path, out: Path, device: str) -> Row:
    """Resynthesise every test clip with ``system`` and average PESQ-WB/STOI/mel/SI-SDR."""
    import torch

    from audiotokens.audio import load_audio
    from audiotokens.data.manifest import read_manifest
    from audiotokens.metrics import resynth_metrics

    torch.set_num_threads(1)
    kind, bps, run, trained = build_system(system, out, device)
    scores: dict[str, list[float]] = {"pesq_wb": [], "stoi": [], "mel_distance": [], "si_sdr": []}
    items = read_manifest(test)
    for item in items:
        ref = load_audio(item.path, SAMPLE_RATE).samples
        est = np.asarray(run(ref), dtype=np.float32)
        m = resynth_metrics(ref, est, SAMPLE_RATE)
        for key, values in scores.items():
            values.append(getattr(m, key))
    means = {k: float(np.nanmean(v)) if np.isfinite(v).any() else math.nan
             for k, v in scores.items()}
    record = _read_record(out, trained) if trained else None
    return Row(system=system, kind=kind, bitrate_bps=float(bps), **means, n_clips=len(items),
               n_pesq=int(np.isfinite(scores["pesq_wb"]).sum()),
               steps=record.steps if record else None,
               train_minutes=record.minutes if record else None)


# -- report ---------------------------------------------------------------------------------
def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, spec)


def markdown_table(rows: list[Row]) -> str:
    """The results as a markdown table (SI-SDR only for waveform codecs)."""
    lines = ["| system | bps | PESQ-WB | STOI | mel dist | SI-SDR dB | steps | train min |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        sdr = r.si_sdr if r.kind in WAVEFORM_KINDS else None
        steps = None if r.steps is None else float(r.steps)
        lines.append(f"| {r.system} | {_fmt(r.bitrate_bps, '.0f')} | {_fmt(r.pesq_wb, '.2f')} "
                     f"| {_fmt(r.stoi, '.3f')} | {_fmt(r.mel_distance, '.3f')} "
                     f"| {_fmt(sdr, '.1f')} | {_fmt(steps, '.0f')} "
                     f"| {_fmt(r.train_minutes, '.1f')} |")
    return "\n".join(lines)


def _option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` -> (key, JSON-decoded value, or the raw string if not JSON)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--rvq-option {text!r}: expected KEY=VALUE")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    p.add_argument("--out", type=Path, default=Path("quality_out"))
    p.add_argument("--minutes", type=float, default=10.0, help="training minutes per model")
    p.add_argument("--device", default="cpu")
    p.add_argument("--jobs", type=int, default=2, help="parallel evaluation processes")
    p.add_argument("--retrain", action="store_true", help="train again even if OUT has models")
    p.add_argument("--no-ljspeech", action="store_true", help="train on LibriSpeech only")
    p.add_argument("--only", default="", help="comma-separated substrings of systems to score "
                   "(and train: only the models those systems need are trained)")
    p.add_argument("--rvq-option", action="append", default=[], metavar="KEY=VALUE",
                   help="rvq codec config option (JSON value or string), e.g. decoder=waveform")
    args = p.parse_args(argv)
    try:
        args.rvq_option = dict(_option(o) for o in args.rvq_option)
    except ValueError as err:
        p.error(str(err))
    if args.minutes <= 0 or args.jobs < 1:
        p.error("--minutes must be > 0 and --jobs >= 1")
    if not (args.data / "librispeech_test_other_10spk").is_dir():
        p.error(f"{args.data}: no librispeech_test_other_10spk folder (see --data)")
    return args


def main(argv: list[str] | None = None) -> int:
    """Train (or reuse) the three models in parallel, then score every system."""
    args = _parse(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    train, test = build_manifests(args.data, out, not args.no_ljspeech)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    systems = [s for s in system_names() if not wanted or any(w in s for w in wanted)]
    needed = [n for n in TRAINED if any(trained_name(s) == n for s in systems)]
    km = None
    if {"units", "oracle"} & set(needed):
        km = fit_kmeans(train, out, args.retrain)
        print(f"mel-kmeans k={K}: "
              f"{'reused' if km.reused else f'fitted in {km.minutes:.1f} min'}", flush=True)
    spawn = multiprocessing.get_context("spawn")  # no fork after torch/faiss threads started
    records: dict[str, TrainRecord] = {}
    if needed:
        with ProcessPoolExecutor(len(needed), mp_context=spawn) as pool:
            # fresh k-means centroids invalidate a saved unit vocoder
            retrain = {n: args.retrain or (n == "units" and km is not None and not km.reused)
                       for n in needed}
            futures = {n: pool.submit(train_system, n, train, out, args.minutes, args.device,
                                      retrain[n], args.rvq_option) for n in needed}
            records = {n: f.result() for n, f in futures.items()}
    for n, r in records.items():
        print(f"{n}: {r.steps} steps, {r.minutes:.1f} min{' (reused)' if r.reused else ''}",
              flush=True)
    t_train = time.perf_counter()
    with ProcessPoolExecutor(args.jobs, mp_context=spawn) as pool:
        rows = list(pool.map(evaluate_system, systems, [test] * len(systems),
                             [out] * len(systems), [args.device] * len(systems)))
    wall = {"train_minutes": (t_train - t0) / 60,
            "eval_minutes": (time.perf_counter() - t_train) / 60,
            "total_minutes": (time.perf_counter() - t0) / 60}
    table = markdown_table(rows)
    print(table)
    print(f"wall: {wall['total_minutes']:.1f} min (training phase {wall['train_minutes']:.1f}, "
          f"evaluation {wall['eval_minutes']:.1f})")
    header = (f"Held-out LibriSpeech test-other speakers {', '.join(TEST_SPEAKERS)} "
              f"({rows[0].n_clips if rows else 0} utterances), 16 kHz references; "
              f"{args.minutes:g} training minutes per model on {args.device}.\n\n")
    (out / "quality.md").write_text(header + table + "\n")
    payload = {"minutes": args.minutes, "device": args.device, "test_speakers": TEST_SPEAKERS,
               "kmeans": asdict(km) if km else None, "rvq_options": args.rvq_option,
               "training": {n: asdict(r) for n, r in records.items()},
               "rows": [asdict(r) for r in rows], "wall": wall}
    (out / "quality.json").write_text(json.dumps(payload, indent=2, allow_nan=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
