"""Unit vocoder budget: CPU seconds per step, fit seconds and resynthesis quality per generator.

What the quick bench does for mel k-means, measured per system: the embedded synthetic corpus
(``--minutes`` of espeak-ng speech, seed 0, as ``audiotokens bench`` makes it), mel-kmeans
(k=500) fitted on up to 400 training items (the bench's quick fit), then a unit vocoder
trained on the training split by :func:`audiotokens.vocoder.train_vocoder` with each
system's budget, scored by :func:`audiotokens.resynth.resynthesize` on the first
``--test-items`` items of the test split (speakers never trained on): STOI, PESQ-WB, mel
distance, SI-SDR.

Timing is CPU time (``time.process_time``) of this process with one torch thread, which
the load of other jobs changes far less than wall time (but still, see below):
``fit_cpu_s`` is the whole ``train_vocoder`` call (encoding the clips + the loop),
``s/step`` the loop alone (fit minus the separately timed encoding, over the steps). Systems:

- ``hifigan-quick``: the quick budget before the iSTFT generator (HiFi-GAN-style, 32
  channels, 16-frame segments, 250 steps, no discriminator), the baseline.
- ``quick``: :data:`audiotokens.bench.runner.VOCODER_FIT` quick (today's default).
- ``--system NAME:key=value,key=value``: any other budget (VocoderConfig fields and
  VocoderTrainOptions fields, e.g. ``istft-64:generator=istft,channels=64,max_steps=300``).

Ratios are printed against the first system. Results: a table and ``OUT/vocoder.json``
(with each system's logged loss curve). The corpus and k-means are kept in ``--out`` and
reused.

    OMP_NUM_THREADS=1 nice python benchmarks/vocoder.py --out /tmp/vocoder-bench

Measured 2026-12-03, 1 torch thread, on the 2-core machine shared with other jobs (load
10-15; CPU time per step varies by up to 1.5x with the load, the scores are deterministic and
repeated exactly), 4 min corpus, k=500, the first 20 test items; same run for the first two:

====================  =====  =======  ======  =====  ====  =====  ======
system                steps  s/step   fit s   STOI   PESQ  mel    SI-SDR
====================  =====  =======  ======  =====  ====  =====  ======
hifigan-quick (old)   250    0.121    30.6    0.291  1.03  1.631  -43.7
quick (iSTFT 64)      800    0.066    53.4    0.632  1.09  0.946  -32.9
====================  =====  =======  ======  =====  ====  =====  ======

Other runs, same items (fit CPU s under similar load): quick 800 steps 43.5 s in a quieter
minute; hifigan-quick at load ~1-5: 0.078 s/step, 19.8 s; 1000 steps 0.652 / 0.915
(56-63 s); 16-frame segments 0.62 / 0.97 after 1200 steps; 128 wide, 8 x 32 frames, 600
steps: lr 2e-4 0.456, 1e-3 0.579, 3e-3 0.596, 6e-3 0.633 (STOI). Bigger budgets (~150-160
CPU s): the default iSTFT vocoder (128 wide, 8 x 32 frames) 1500 steps at lr 6e-3 0.684 /
1.13 / 0.825 (at 1e-3: 0.627 / 1.10 / 0.925); the default HiFi-GAN one (128 channels) 300
steps 0.462 / 1.03 / 1.396.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

HIFIGAN_QUICK: dict[str, Any] = {"max_steps": 250, "segment_frames": 16,
                                 "config": {"generator": "hifigan", "adversarial": False,
                                            "channels": 32}}


@dataclass
class SystemResult:
    """One system: its budget, what training cost and the mean resynthesis scores."""

    name: str
    budget: dict[str, Any]
    steps: int
    fit_cpu_s: float
    loop_cpu_s: float
    fit_wall_s: float
    n_parameters: int
    scores: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def s_per_step(self) -> float:
        """CPU seconds per training step."""
        return self.loop_cpu_s / max(self.steps, 1)


def parse_system(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME:key=value,...`` -> (name, budget with ``config`` overrides split out)."""
    from audiotokens.vocoder import VocoderConfig

    name, _, rest = text.partition(":")
    config_keys = {f.name for f in fields(VocoderConfig)}
    budget: dict[str, Any] = {"config": {}}
    for pair in filter(None, rest.split(",")):
        key, _, raw = pair.partition("=")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        (budget["config"] if key in config_keys else budget)[key] = value
    return name, budget


def prepare(out: Path, minutes: float) -> tuple[Any, Path, Path]:
    """(fitted mel-kmeans, train manifest, test manifest), made once in ``out``."""
    from audiotokens.data import SynthConfig, synthesize_corpus
    from audiotokens.tokenizers.registry import load_tokenizer

    corpus = out / "corpus"
    if not (corpus / "all.jsonl").is_file():
        print(f"synthesizing {minutes:g} min into {corpus} ...")
        synthesize_corpus(corpus, SynthConfig(minutes=minutes), overwrite=True)
    saved = out / "mel-kmeans"
    if (saved / "config.json").is_file():
        tok = load_tokenizer(saved)
    else:
        print("fitting mel-kmeans (k=500, up to 400 items) ...")
        tok = load_tokenizer("mel-kmeans")
        tok.fit(corpus / "train.jsonl", max_items=400, progress=False)
        tok.save(saved)
    return tok, corpus / "train.jsonl", corpus / "test.jsonl"


def encode_cpu_seconds(tok: Any, train: Path) -> float:
    """CPU seconds :func:`train_vocoder` spends reading and encoding its clips."""
    from audiotokens.vocoder import vocoder_config_for
    from audiotokens.vocoder.data import load_clips

    start = time.process_time()
    load_clips(tok, train, vocoder_config_for(tok))
    return time.process_time() - start


def run_system(name: str, budget: dict[str, Any], tok: Any, train: Path, test_items: list[Any],
               encode_s: float, out: Path) -> SystemResult:
    """Train one vocoder with ``budget`` (as the bench runner does) and score it."""
    from audiotokens.resynth import resynthesize
    from audiotokens.vocoder import VocoderTrainOptions, train_vocoder, vocoder_config_for

    options = dict(budget)
    config = vocoder_config_for(tok, **options.pop("config", {}))
    start, wall = time.process_time(), time.monotonic()
    result = train_vocoder(tok, train, config, VocoderTrainOptions(**options), progress_desc=None)
    fit_s, wall = time.process_time() - start, time.monotonic() - wall
    tok.attach_vocoder(result.model)
    report = resynthesize(tok, test_items, out / "resynth" / name)
    scores = {k: float(v) for k, v in report.mean.items()}
    return SystemResult(name, budget, result.steps, fit_s, max(fit_s - encode_s, 0.0),
                        wall, result.model.n_parameters(), scores, result.history)


def print_table(results: list[SystemResult]) -> None:
    """One row per system, ratios against the first."""
    base = results[0]
    print(f"\n{'system':<16} {'steps':>5} {'params':>8} {'s/step':>7} {'x':>6} {'fit s':>7} "
          f"{'wall s':>7} {'STOI':>6} {'PESQ':>5} {'mel':>6} {'SI-SDR':>7}  last loss")
    for r in results:
        s = r.scores
        loss = r.history[-1]["loss"] if r.history else math.nan
        print(f"{r.name:<16} {r.steps:>5} {r.n_parameters:>8} {r.s_per_step:>7.3f} "
              f"{r.s_per_step / base.s_per_step:>6.2f} {r.fit_cpu_s:>7.1f} "
              f"{r.fit_wall_s:>7.1f} {s.get('stoi', math.nan):>6.3f} "
              f"{s.get('pesq', math.nan):>5.2f} "
              f"{s.get('mel_distance', math.nan):>6.3f} {s.get('si_sdr', math.nan):>7.1f}  "
              f"{loss:.3f}")


def main() -> None:
    from audiotokens.bench.runner import VOCODER_FIT
    from audiotokens.data import read_manifest

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/vocoder-bench"))
    parser.add_argument("--minutes", type=float, default=4.0, help="synthetic corpus minutes")
    parser.add_argument("--test-items", type=int, default=20)
    parser.add_argument("--system", action="append", default=[],
                        help="NAME:key=value,... (repeatable); replaces the default systems")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip hifigan-quick (ratios are then against the first system)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    tok, train, test = prepare(args.out, args.minutes)
    test_items = read_manifest(test)[: args.test_items]
    systems = [] if args.no_baseline else [("hifigan-quick", HIFIGAN_QUICK)]
    systems += [parse_system(s) for s in args.system] or [("quick", VOCODER_FIT[0])]
    encode_s = encode_cpu_seconds(tok, train)
    print(f"encoding the training clips: {encode_s:.1f} CPU s; scoring {len(test_items)} "
          f"test items")
    results = []
    for name, budget in systems:
        print(f"{name}: {budget} ...", flush=True)
        results.append(run_system(name, budget, tok, train, test_items, encode_s, args.out))
        print_table(results[-1:])
    print_table(results)
    rows = [{**r.__dict__, "s_per_step": r.s_per_step} for r in results]
    (args.out / "vocoder.json").write_text(json.dumps({"encode_cpu_s": encode_s, "systems": rows},
                                                      indent=2) + "\n")


if __name__ == "__main__":
    main()
