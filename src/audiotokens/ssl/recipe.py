"""The HuBERT recipe in one call: targets -> masked prediction -> new targets -> again.

Iteration 1 clusters MFCC + deltas with the project's k-means; iteration i > 1 clusters a
layer of iteration i - 1's model (``target_layer``; default the middle transformer layer,
as HuBERT-base iteration 2 used layer 6 of 12).

Iteration 2 **continues** from iteration 1's weights by default (``init="continue"``: the
transformer and conv encoder are kept, the head and cluster embeddings start fresh since
the clusters changed). The paper trains each iteration from scratch, which is the right
choice when each iteration can be trained to convergence; with minutes of CPU time it
cannot, and a fresh model would spend its share of the budget relearning the waveform front
end. Measured on the 3-minute synthetic corpus (2 x 4 CPU-minutes, k = 100, best layer's
PNMI on training / held-out speakers): continue 0.567 / 0.560, scratch 0.546 / 0.549.
Caveat, seen in a 2 x 4.5-minute run with ~1300 steps per iteration on the same corpus: a
continued model already computes its own new targets, so iteration 2's loss falls almost at
once (masked accuracy 0.9) and its upper layers overfit the training speakers (held-out
PNMI of layer 3: 0.18). That was the corpus's size: on 40 minutes of 38 speakers (3 x 2000
steps, the shipped model, README) each continued iteration raised every layer's held-out
PNMI and none collapsed. ``init="scratch"`` gives the paper's recipe for long runs and
larger corpora.

Layout of ``out``::

    settings.json            what must not change between re-runs of the same out
    train.jsonl              the training items (all manifests merged)
    targets/iter{i}/         ids.npy, offsets.npy, meta.json, tokenizer/ (the k-means used)
    checkpoints/iter{i}.pt   resumable training state (model, head, optimiser)
    iter{i}/                 save_pretrained HuBERT + preprocessor_config.json + training.json
    ssl.json                 the run's summary: last model, k, best_layer (when measured)

Re-running the same command skips finished iterations and resumes an unfinished one from
its checkpoint (a larger ``max_steps`` extends a finished one).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import SSLError
from .corpus import SSLCorpus, read_corpus
from .data import BatchConfig, StepDataset
from .distributed import DistInfo, agree_all, dist_from_env, init_distributed
from .masking import MaskConfig
from .model import HubertPretrainModel, SSLModelConfig
from .targets import FrameTargets, compute_targets
from .trainer import PretrainTrainable, TrainConfig

__all__ = ["RecipeConfig", "IterationRecord", "RecipeResult", "fit_ssl", "RECORD_FILE"]

RECORD_FILE = "training.json"
SUMMARY_FILE = "ssl.json"
LAYERS_FILE = "layers.json"
INITS = ("scratch", "continue")
# settings a re-run into the same out must share (the rest are budgets and plumbing)
_FIXED = ("k", "target_k", "model", "mask", "seed", "init", "target_layer",
          "kmeans_max_vectors")


@dataclass(frozen=True)
class RecipeConfig:
    """``iterations`` of (targets, training); ``k`` clusters for iteration 1's targets (and
    for the per-layer scores), ``target_k`` for later iterations' (None: ``k``; HuBERT-base
    used 100 MFCC clusters, then 500);
    ``minutes``: wall time for the whole run (targets + training of all iterations) and/or
    ``max_steps`` per iteration; ``target_layer``: layer of iteration i - 1 clustered for
    iteration i (None: the middle transformer layer); ``init``: scratch|continue;
    ``score_layers``: at the end, score every layer's k-means tokens against the manifests'
    phone alignments (``layers.score_run``, at most ``score_items`` items per split; 10 % of
    ``minutes`` is kept for it) and record the best layer."""

    iterations: int = 2
    k: int = 100
    target_k: int | None = None
    minutes: float | None = 10.0
    max_steps: int | None = None
    model: SSLModelConfig = field(default_factory=SSLModelConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)
    batch: BatchConfig = field(default_factory=BatchConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    target_layer: int | None = None
    init: str = "continue"
    seed: int = 0
    device: str = "cpu"
    kmeans_max_vectors: int = 100_000
    score_layers: bool = True
    score_items: int = 300
    log_every: int = 10
    checkpoint_every: int = 100
    progress: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.iterations <= 10:
            raise ValueError(f"iterations must be in 1..10, got {self.iterations}")
        if self.k < 2:
            raise ValueError(f"k must be >= 2, got {self.k}")
        if self.minutes is None and self.max_steps is None:
            raise ValueError("set minutes or max_steps (or both)")
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError(f"minutes must be > 0, got {self.minutes}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, got {self.init!r}")
        if self.target_layer is not None and not 1 <= self.target_layer <= self.model.layers:
            raise ValueError(f"target_layer must be in 1..{self.model.layers}, got "
                             f"{self.target_layer}")
        if self.target_k is not None and self.target_k < 2:
            raise ValueError(f"target_k must be >= 2, got {self.target_k}")
        if self.kmeans_max_vectors < max(self.k, self.target_k or 0):
            raise ValueError("kmeans_max_vectors must be >= k and target_k")

    def targets_k(self, iteration: int) -> int:
        """Clusters of iteration ``iteration``'s targets (``k`` for 1, then ``target_k``)."""
        return self.k if iteration == 1 else self.target_k or self.k

    @property
    def layer_for_targets(self) -> int:
        """The layer of the previous iteration clustered into the next targets."""
        return self.target_layer or math.ceil(self.model.layers / 2)

    def fixed(self) -> dict[str, Any]:
        """The settings that define the run (saved in settings.json)."""
        d = dataclasses.asdict(self)
        return {key: d[key] for key in _FIXED}


@dataclass
class IterationRecord:
    """What one iteration did (saved as ``iter{i}/training.json``)."""

    iteration: int
    model_dir: str
    targets: dict[str, Any]
    steps: int
    train_seconds: float
    target_seconds: float
    audio_hours: float
    loss_curve: list[dict[str, float]]
    final: dict[str, float]
    data: dict[str, Any]
    settings: dict[str, Any]
    complete: bool = True
    cpu_seconds: float = 0.0  # this process's CPU time (targets + training), all resumes

    def save(self, folder: Path) -> None:
        """Write ``training.json`` in ``folder``."""
        (folder / RECORD_FILE).write_text(json.dumps(dataclasses.asdict(self), indent=1))

    @classmethod
    def load(cls, folder: Path) -> IterationRecord | None:
        """The record in ``folder``, or None if there is none."""
        path = folder / RECORD_FILE
        return cls(**json.loads(path.read_text())) if path.is_file() else None


@dataclass
class RecipeResult:
    """Records of every iteration, in order; ``out`` the run folder."""

    out: Path
    iterations: list[IterationRecord]
    seconds: float

    @property
    def last_model(self) -> Path:
        """The folder of the last iteration's model."""
        return Path(self.iterations[-1].model_dir)


def _check_settings(out: Path, cfg: RecipeConfig) -> None:
    path = out / "settings.json"
    current = json.loads(json.dumps(cfg.fixed()))  # tuples -> lists, as read back
    if path.is_file():
        saved = json.loads(path.read_text())
        changed = sorted(k for k in current if saved.get(k) != current[k])
        if changed:
            raise SSLError(f"{out}: holds a run with different {', '.join(changed)}; "
                             "use a new --out (or the same settings to resume)")
    else:
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(current, indent=1))


class _Budget:
    """Splits ``minutes`` of wall time: each iteration's training gets an equal share of what
    is left when it starts, after reserving, for each later iteration, the time this run's
    last target computation took (the next one's cost is not known before it runs)."""

    def __init__(self, minutes: float | None, reserve: float = 0.0) -> None:
        self.deadline = (None if minutes is None
                         else time.monotonic() + 60.0 * minutes * (1.0 - reserve))
        self.target_seconds = 0.0

    def train_minutes(self, iteration: int, iterations: int) -> float | None:
        if self.deadline is None:
            return None
        later = iterations - iteration
        left = self.deadline - time.monotonic() - later * self.target_seconds
        return max(left / (later + 1), 1.0) / 60.0


def _targets(out: Path, i: int, corpus: SSLCorpus, cfg: RecipeConfig,
             device: str) -> tuple[FrameTargets, float]:
    """Targets of iteration ``i`` (computed and saved, or read back) and the seconds spent."""
    from ..tokenizers.registry import load_tokenizer

    folder = out / "targets" / f"iter{i}"
    if FrameTargets.exists(folder):
        return FrameTargets.load(folder), 0.0
    t0 = time.monotonic()
    opts = {"k": cfg.targets_k(i), "seed": cfg.seed, "max_vectors": cfg.kmeans_max_vectors}
    if i == 1:
        tok, source = load_tokenizer("mfcc-kmeans", **opts), "mfcc"
    else:
        layer = cfg.layer_for_targets
        prev = out / f"iter{i - 1}"
        tok = load_tokenizer("hubert", model=str(prev), layers=[layer], **opts)
        source = f"hubert:{prev}@layer{layer}"
    tok.to(device)
    tok.fit(out / "train.jsonl", progress=cfg.progress)
    tok.save(folder / "tokenizer")
    targets = compute_targets(tok, corpus.train, cfg.model.frames, source,
                              progress=cfg.progress)
    targets.save(folder)
    return targets, time.monotonic() - t0


def _new_model(out: Path, i: int, cfg: RecipeConfig) -> HubertPretrainModel:
    torch.manual_seed(cfg.seed + i)
    model = HubertPretrainModel(cfg.model, cfg.targets_k(i))
    if cfg.init == "continue" and i > 1:
        from transformers import HubertModel

        prev = HubertModel.from_pretrained(out / f"iter{i - 1}")
        model.hubert.load_state_dict(prev.state_dict())
    return model


def save_model(model: HubertPretrainModel, folder: Path) -> None:
    """``save_pretrained`` the HuBERT (not the head) and a feature-extractor config saying
    inputs are 16 kHz, normalised per utterance, attention-masked."""
    from transformers import Wav2Vec2FeatureExtractor

    model.hubert.save_pretrained(folder)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                             do_normalize=True, return_attention_mask=True
                             ).save_pretrained(folder)


def _train(out: Path, i: int, corpus: SSLCorpus, targets: FrameTargets, cfg: RecipeConfig,
           minutes: float | None, dist: DistInfo, device: str) -> tuple[Any, PretrainTrainable]:
    from ..train import LoopConfig, run_loop

    model = _new_model(out, i, cfg)
    data = StepDataset(corpus.train, targets, cfg.model.frames, cfg.batch, seed=cfg.seed + i,
                       rank=dist.rank, world_size=dist.world_size)
    train_cfg = dataclasses.replace(cfg.train, seed=cfg.seed + i)
    trainable = PretrainTrainable(model, data, train_cfg, cfg.mask, device, dist,
                                  max_steps=cfg.max_steps,
                                  budget_seconds=None if minutes is None else 60.0 * minutes)
    loop = LoopConfig(max_steps=cfg.max_steps, max_minutes=minutes, log_every=cfg.log_every,
                      checkpoint_every=cfg.checkpoint_every, seed=cfg.seed + i)
    (out / "checkpoints").mkdir(exist_ok=True)
    result = run_loop(trainable, loop, out / "checkpoints" / f"iter{i}.pt",
                      progress_desc=f"ssl iteration {i}" if cfg.progress and dist.is_main
                      else None, write_checkpoint=dist.is_main,
                      agree=agree_all if dist.parallel else None)
    return result, trainable


def _iteration(out: Path, i: int, corpus: SSLCorpus, cfg: RecipeConfig, budget: _Budget,
               dist: DistInfo, device: str) -> IterationRecord:
    folder = out / f"iter{i}"
    old = IterationRecord.load(folder)
    if old is not None and old.complete and (cfg.max_steps is None
                                             or old.steps >= cfg.max_steps):
        return old
    cpu0 = time.process_time()
    target_seconds = 0.0
    if dist.is_main:
        targets, target_seconds = _targets(out, i, corpus, cfg, device)
        budget.target_seconds = max(budget.target_seconds, target_seconds)
    if dist.parallel:
        torch.distributed.barrier()
    if not dist.is_main:
        targets = FrameTargets.load(out / "targets" / f"iter{i}")
    minutes = budget.train_minutes(i, cfg.iterations)
    result, trainable = _train(out, i, corpus, targets, cfg, minutes, dist, device)
    curve = (old.loss_curve if old else []) + result.history
    usage = targets.histogram()
    record = IterationRecord(
        iteration=i, model_dir=str(folder),
        targets={"source": targets.source, "k": targets.k, "items": len(targets),
                 "frames": int(targets.offsets[-1]),
                 "clusters_used": int((usage > 0).sum())},
        steps=result.steps, train_seconds=round(result.seconds + (old.train_seconds if old
                                                                  else 0.0), 2),
        target_seconds=round(target_seconds + (old.target_seconds if old else 0.0), 2),
        audio_hours=round(trainable.audio_seconds / 3600.0, 5), loss_curve=curve,
        final=result.last or (old.final if old else {}), data=corpus.summary(),
        settings=json.loads(json.dumps(dataclasses.asdict(cfg))),
        cpu_seconds=round(time.process_time() - cpu0 + (old.cpu_seconds if old else 0.0), 2))
    if dist.is_main:
        save_model(trainable.model, folder)
        record.save(folder)
    return record


def fit_ssl(manifests: list[str | Path], out: str | Path, cfg: RecipeConfig) -> RecipeResult:
    """Run (or resume) the recipe on the manifests' training items into ``out``.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every process calls this; the main process
    computes targets and writes files, all train data-parallel. Returns every iteration's
    :class:`IterationRecord`.
    """
    from ..data.manifest import write_manifest

    t0 = time.monotonic()
    out = Path(out)
    dist = dist_from_env()
    device = init_distributed(dist, cfg.device)
    corpus = read_corpus(manifests)
    if dist.is_main:
        _check_settings(out, cfg)
        write_manifest(corpus.train, out / "train.jsonl")
    scoring = cfg.score_layers and any(it.alignment for it in corpus.train)
    budget = _Budget(cfg.minutes, reserve=0.1 if scoring else 0.0)
    records = [_iteration(out, i, corpus, cfg, budget, dist, device)
               for i in range(1, cfg.iterations + 1)]
    result = RecipeResult(out, records, time.monotonic() - t0)
    if dist.is_main:
        extra = score_and_record(out, corpus, cfg.k, cfg.score_items, cfg.seed) if scoring \
            else {}
        write_summary(out, result, cfg, extra)
        result.seconds = time.monotonic() - t0
    return result


def score_and_record(out: Path, corpus: SSLCorpus, k: int, max_items: int = 300,
                     seed: int = 0) -> dict[str, Any]:
    """Score every layer of every ``out/iter*`` model and MFCC / log-mel (``layers.py``),
    write ``out/layers.json`` and return the summary fields (best model, layer, rule)."""
    from .layers import score_run

    iterations = sorted((p.name for p in out.glob("iter*") if (p / RECORD_FILE).is_file()),
                        key=lambda name: int(name[4:]))
    report = score_run(out, corpus.train, corpus.held_out, k, iterations, max_items, seed)
    report.save(out / LAYERS_FILE)
    return {"best_model": report.best_source, "best_layer": report.best_layer,
            "best_layer_rule": report.rule, "layers_file": LAYERS_FILE}


def write_summary(out: Path, result: RecipeResult, cfg: RecipeConfig,
                  extra: dict[str, Any] | None = None) -> Path:
    """``ssl.json``: the last model's folder, k, the iterations' steps and times (+ extra,
    e.g. the measured best layer)."""
    path = out / SUMMARY_FILE
    old = json.loads(path.read_text()) if path.is_file() else {}
    summary = {**old, "model": result.last_model.name, "k": cfg.k,
               "iterations": [{"iteration": r.iteration, "steps": r.steps,
                               "train_seconds": r.train_seconds,
                               "target_source": r.targets["source"],
                               "final": r.final} for r in result.iterations],
               **(extra or {})}
    path.write_text(json.dumps(summary, indent=1))
    return path
