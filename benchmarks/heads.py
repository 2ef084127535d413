"""Sequence cores of the bench heads: CPU cost per step and per converged head, and the
converged quality, on the embedded synthetic corpus.

Cores (``--cores``): ``lstm`` (the default core: a BiLSTM in fused kernels over the padded
batch), ``conv`` (dilated residual convolutions) and ``packed``, the baseline: the former
implementation of the same BiLSTM, ``nn.LSTM`` over packed sequences, swapped in for the
default core by this script alone.

For each task, tokenizer and core (``TrainConfig.core``) it trains the bench's own head with
the bench's quick settings (``default_train``: same early stopping, patience and validation
cadence) for ``--seeds`` seeds and prints, per core, the mean test metric ± 95 % CI over
seeds, steps to convergence and the CPU seconds of one converged head (training, validation
and test; ``time.process_time`` of this process, so other jobs on the machine do not count).
A separate micro-benchmark times one training step (forward, backward, AdamW) on a real
batch of the task. Ratios are printed against ``packed`` (when it ran).

Tasks: ``asr-synth`` (CTC, CER/WER) and ``enhance`` (noisy -> clean tokens, token accuracy;
PESQ/STOI of the decoded test slice for a tokenizer with a decoder, e.g. codec2).

    python benchmarks/heads.py                                      # asr, both cores, 3 seeds
    python benchmarks/heads.py --tasks enhance --tokenizers codec2 mel-kmeans
    python benchmarks/heads.py --cores conv --seeds 1 --dropout 0.4 --work /tmp/heads

The corpus (4 min, as ``audiotokens bench``) and the fitted tokenizers are kept in ``--work``
and reused. Run with ``OMP_NUM_THREADS=1`` (the bench's heads run on one thread).

Measured 2026-12-03, one thread, 2 cores shared with other jobs (load 7-13), CPU seconds
(``process_time``), asr-synth, quick settings, 3 seeds (mean ± 95 % CI):

| tokenizer | core | step | converged head | steps | CER |
| --- | --- | --- | --- | --- | --- |
| mel-kmeans | packed (before) | 74.6 ms | 42.1 ± 43.0 s | 533 | 0.597 ± 0.057 |
| mel-kmeans | lstm (default) | 34.1 ms | 17.5 ± 7.2 s | 467 | 0.596 ± 0.061 |
| mel-kmeans | conv, dropout 0.2 | 39.2 ms | 23.7 ± 2.3 s | 433 | 0.703 ± 0.047 |
| continuous-mel | packed (before) | 89.2 ms | 59.6 ± 44.7 s | 650 | 0.472 ± 0.051 |
| continuous-mel | lstm (default) | 29.9 ms | 31.2 ± 27.6 s | 683 | 0.473 ± 0.014 |
| continuous-mel | conv, dropout 0.2 | 45.6 ms | 30.3 ± 6.3 s | 517 | 0.557 ± 0.040 |

The fused BiLSTM computes the packed one's function (equal to 1e-7), so the CERs agree;
step 2.2x / 3.0x faster, converged head 2.4x / 1.9x (seeds stop at different rounds once
rounding differs). The conv core (4 blocks x 64 channels, kernel 5, dilations 1-8) learns
worse at the head's dropout; with ``--dropout 0.4`` it reached CER 0.589 on mel-kmeans seed 0
but only after 850 steps (52.7 s). Enhancement (codec2, 8 x 256 ids): packed step 224 ms,
converged head 63.3 ± 21.6 s, token accuracy 0.141 ± 0.006 (copying: 0.144), PESQ 1.062;
the step there is dominated by the 2048-way output layer and its softmax, not the core.

``--out-ranks 0 48`` (``TrainConfig.out_rank``: a full output layer vs one factorised through
48-dim vectors per codebook, the quick bench's setting), enhance / codec2, lstm core, 2 seeds,
load 4-5, 2026-12-03: step 222 -> 164 ms (1.36x), converged head 58.6 -> 38.8 CPU s (1.51x),
token accuracy 0.142 -> 0.141 (copying: 0.144).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiotokens.bench import heads
from audiotokens.bench.cores import CORE_KINDS, packed_lstm
from audiotokens.bench.db import t_critical_95
from audiotokens.bench.features import ContinuousMel, TokenizerSource, encode_items
from audiotokens.bench.runner import FIT_BUDGETS, default_train
from audiotokens.bench.tasks import ASRTask, make_task
from audiotokens.bench.tasks.base import collate
from audiotokens.bench.tasks.corpora import load_corpus
from audiotokens.bench.tasks.loop import TrainConfig, build_model, train_and_evaluate


class PackedBiLSTM(nn.Module):
    """The baseline core: a bidirectional ``nn.LSTM`` over packed sequences."""

    def __init__(self, in_dim: int, hidden: int, layers: int = 1) -> None:
        super().__init__()
        self.lstm = nn.LSTM(in_dim, hidden, num_layers=layers, batch_first=True,
                            bidirectional=True)
        self.out_dim = 2 * hidden

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return packed_lstm(self.lstm, x, lengths)


@contextlib.contextmanager
def core_kind(name: str) -> Iterator[str]:
    """The ``TrainConfig.core`` to train with for ``name``; for "packed", heads built inside
    get :class:`PackedBiLSTM` where they would get the default BiLSTM."""
    if name != "packed":
        yield name
        return
    made = heads.make_core

    def make(kind: str, in_dim: int, hidden: int, layers: int | None = None,
             dropout: float = 0.0) -> nn.Module:
        assert kind == "lstm"
        return PackedBiLSTM(in_dim, hidden, 1 if layers is None else layers)

    heads.make_core = make  # type: ignore[assignment]
    try:
        yield "lstm"
    finally:
        heads.make_core = made


@dataclass
class Run:
    """One converged head: test metrics, steps, CPU seconds."""

    metrics: dict[str, float]
    steps: int
    stopped: str
    cpu_s: float


def corpus(work: Path) -> Path:
    """The embedded default corpus (4 min of synthetic speech) in ``work/corpus``."""
    root = work / "corpus"
    if not (root / "all.jsonl").is_file():
        from audiotokens.data import SynthConfig, synthesize_corpus

        print(f"synthesizing 4 min of speech into {root} ...")
        synthesize_corpus(root, SynthConfig(minutes=4.0), overwrite=True)
    return root


def noisy_corpus(work: Path, clean: Path) -> Path:
    """The enhancement corpus mixed from ``clean`` as the bench mixes it."""
    from audiotokens.data.noise import NoiseConfig, make_noisy_corpus

    out = work / "corpus-noisy"
    make_noisy_corpus(load_corpus("synthetic", clean), out, NoiseConfig())
    return out


def source(name: str, work: Path, train_manifest: Path) -> Any:
    """continuous-mel, or a registry tokenizer fitted (quick budget) once into ``work``."""
    from audiotokens import load_tokenizer

    if name == "continuous-mel":
        return ContinuousMel()
    saved = work / "tokenizers" / name
    if (saved / "config.json").is_file():
        return TokenizerSource(load_tokenizer(saved), name=name)
    tok = load_tokenizer(name)
    if not tok.info.fitted:
        print(f"fitting {name} ...")
        tok.fit(train_manifest, **dict(FIT_BUDGETS.get(name, ({}, {}))[0]))
    tok.save(saved)
    return TokenizerSource(tok, name=name)


def step_seconds(task: Any, data: Any, arrays: Any, spec: Any, cfg: TrainConfig,
                 steps: int) -> float:
    """CPU seconds of one training step on the first ``batch_size`` training items."""
    torch.manual_seed(0)
    model = build_model(task, spec, data, cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    batch = collate(data.train[:cfg.batch_size], arrays, data)
    times = []
    for _ in range(steps + 2):
        t0 = time.process_time()
        loss = task.loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.process_time() - t0)
    times = sorted(times[2:])  # the first steps warm up the allocator
    return times[len(times) // 2]


def converged(task: Any, data: Any, arrays: Any, src: Any, cfg: TrainConfig,
              bound: Any = None, token_arrays: Any = None) -> Run:
    """Train to convergence and test; for a generative task (its ``bound`` data, the
    tokenizer's ``token_arrays``) with a decoder, also score the decoded test slice."""
    t0 = time.process_time()
    result = train_and_evaluate(task, data, arrays, src.spec, cfg)
    metrics = dict(result.metrics)
    cpu = time.process_time() - t0
    if bound is not None and src.tokenizer.info.has_decoder:
        import tempfile

        with tempfile.TemporaryDirectory() as out:
            scored = task.score(result.model, src.tokenizer, task.select(data, False),
                                bound, token_arrays, Path(out), run="bench", label=src.name,
                                tier="", seed=cfg.seed)
        metrics.update({k: v for k, v in scored.metrics.items() if "@" not in k or
                        k.endswith("@noisy_tokens")})
    return Run(metrics, result.steps, result.stopped, cpu)


def mean_ci(values: list[float]) -> str:
    """"mean ± 95 % CI half-width" (just the mean for one value)."""
    n = len(values)
    mean = math.fsum(values) / n
    if n == 1:
        return f"{mean:.3f}"
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return f"{mean:.3f} ± {t_critical_95(n - 1) * std / math.sqrt(n):.3f}"


def bench_task(task_name: str, tok_name: str, work: Path, cores: list[str], seeds: int,
               micro_steps: int, dropout: float | None, out_ranks: list[int]) -> None:
    """Print one table: per (core, output rank), step cost, converged cost and metrics over
    seeds; ratios against the first variant."""
    clean = corpus(work)
    task = make_task(task_name)
    if dropout is not None and isinstance(task, ASRTask):
        task.dropout = dropout
    root = noisy_corpus(work, clean) if task.corpus == "noisy" else clean
    src = source(tok_name, work, clean / "train.jsonl")
    data = task.prepare(load_corpus(task.corpus, root))
    arrays = encode_items(src, task.input_items(data), work / "cache", corpus=task.corpus).arrays
    bound = task.bind(data, arrays, src.spec) if task_name == "enhance" else None
    data, head_arrays = (data, arrays) if bound is None else (bound.data, bound.inputs)
    base = default_train(task, full=False)
    print(f"\n== {task_name} / {tok_name}: {len(data.train)} train, {len(data.valid)} valid, "
          f"{len(data.test)} test items; {base}")
    costs: dict[str, tuple[float, float]] = {}
    out_ranks = out_ranks or [base.out_rank]
    for core, rank in ((c, r) for c in cores for r in out_ranks):
        name = core if len(out_ranks) == 1 else f"{core}/rank{rank}"
        with core_kind(core) as kind:
            cfg = replace(base, core=kind, out_rank=rank)
            step = step_seconds(task, data, head_arrays, src.spec, cfg, micro_steps)
            runs = []
            for seed in range(seeds):
                run = converged(task, data, head_arrays, src, replace(cfg, seed=seed), bound,
                                arrays)
                runs.append(run)
                shown = " ".join(f"{k}={v:.3f}" for k, v in sorted(run.metrics.items()))
                print(f"  {name:6s} seed {seed}: {shown} steps={run.steps} ({run.stopped}) "
                      f"cpu={run.cpu_s:.1f}s", flush=True)
        head_cpu = [r.cpu_s for r in runs]
        costs[name] = (step, math.fsum(head_cpu) / len(head_cpu))
        ratio = ""
        first = next(iter(costs))
        if name != first:
            base_step, base_head = costs[first]
            ratio = (f" | vs {first}: step {base_step / step:.2f}x, converged head "
                     f"{base_head / costs[name][1]:.2f}x faster")
        names = sorted(runs[0].metrics)
        print(f"  {name:6s} step {step * 1000:.1f} ms cpu | converged head "
              f"{mean_ci(head_cpu)} s cpu, {mean_ci([r.steps for r in runs])} steps | "
              + " ".join(f"{k} {mean_ci([r.metrics[k] for r in runs])}" for k in names)
              + ratio, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["asr-synth"],
                        choices=["asr-synth", "enhance"])
    parser.add_argument("--tokenizers", nargs="+", default=["mel-kmeans", "continuous-mel"])
    parser.add_argument("--cores", nargs="+", default=["packed", *CORE_KINDS],
                        choices=["packed", *CORE_KINDS])
    parser.add_argument("--dropout", type=float, default=None,
                        help="ASR head dropout (default: the task's)")
    parser.add_argument("--out-ranks", nargs="+", type=int, default=[],
                        help="TrainConfig.out_rank values of the token heads (enhance; 0 = a "
                        "full output layer; default: the bench's)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--micro-steps", type=int, default=20)
    parser.add_argument("--work", type=Path, default=Path("bench_heads"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    for task in args.tasks:
        for tok in args.tokenizers:
            bench_task(task, tok, args.work, args.cores, args.seeds, args.micro_steps,
                       args.dropout, args.out_ranks)


if __name__ == "__main__":
    main()
