"""The benchmark runner: tokenizers x tasks x seeds -> results DB (+ cost rows, report).

Each (run, tokenizer, task, seed) cell is computed once: cells already in the DB are skipped,
so an interrupted benchmark resumes where it stopped. Per tokenizer: build (fit when it is
trainable and not fitted yet; the fitted one is saved under ``out/tokenizers``), encode every
item the tasks need into its store under ``out/cache`` (or read a store made elsewhere,
``tokens``), then train and test one head per task and seed, reading batches from the store.
With no data given, the embedded synthetic corpus is synthesized first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..data.manifest import ManifestItem, read_manifest, write_manifest
from ..ssl.shipped import resolve_model
from ..tiers import bitrate_tier
from ..tokenizers.registry import REGISTRY, Registry, load_tokenizer
from .arrays import DEFAULT_CACHE_MB
from .cells import (
    CellContext,
    CellOutcome,
    cannot_predict,
    first_line,
    run_head_cell,
    run_resynth_cell,
    run_token_head_cell,
    safe_name,
)
from .db import ResultsDB
from .features import (
    CONTINUOUS_MEL,
    CONTINUOUS_PREFIX,
    ContinuousMel,
    ContinuousSSL,
    FeatureSource,
    TokenizerSource,
    encode_items,
)
from .keys import digest, items_digest, path_stamp
from .scorecache import ScoreCache
from .tasks import AnyTask, ASRTask, ResynthTask, TaskData, make_task, task_board
from .tasks.corpora import find_corpora, load_corpus
from .tasks.frames import TokenTargetTask
from .tasks.loop import TrainConfig

__all__ = ["BenchError", "BenchConfig", "CellOutcome", "BenchSummary", "run_benchmark",
           "bitrate_tier", "parse_tokenizer_spec", "DEFAULT_TOKENIZERS", "DEFAULT_TASKS",
           "CORPUS_TASKS", "default_train", "embedded_corpus", "fit_manifest_for",
           "fit_options", "synthesized_corpus"]

# One per family and tier that fits the 10-minute default: semantic (mel k-means, with a unit
# vocoder), compression (codec2, the project's rvq) and the continuous baseline. mfcc-kmeans
# (the same PNMI as mel-kmeans on the embedded corpus) and mulaw (16 000 tokens/s, the
# slowest heads) run with -t.
DEFAULT_TOKENIZERS = ("mel-kmeans", "codec2", "rvq", CONTINUOUS_MEL)
DEFAULT_TASKS = ("asr-synth", "prosody-proxy", "spkid-synth", "resynth-synth")
CORPUS_TASKS = {"synthetic": DEFAULT_TASKS, "fsdd": ("kws-fsdd", "spkid-fsdd"),
                "librispeech": ("spkid-librispeech", "asr-librispeech", "resynth-librispeech"),
                "emotion": ("emotion",), "noisy": ("enhance",), "tts": ("tts",),
                "transcribed": ("asr-real",)}
# A run without a noisy corpus mixes one from the first of these clean corpora it has.
NOISY_SOURCES = ("librispeech", "synthetic")
# Quick mode trains every head to convergence: validation every ``eval_every`` steps, stop
# after ``patience`` validations without improvement; ``max_steps`` is only a safety budget
# (a head that reaches it is recorded as stopped by "budget"). On the embedded corpus the
# classifiers converge in 150-400 steps, CTC ASR in 600-900 (its patience counts only after
# ``min_steps``: CTC first sits on a blank plateau). Continuous baselines use the same rule.
QUICK_TRAIN = TrainConfig(max_steps=2000, eval_every=25, patience=4, lr=3e-3, dim=48, hidden=64,
                          out_rank=48)
FULL_TRAIN = TrainConfig(max_steps=5000, eval_every=100, patience=5, dim=128, hidden=256)
QUICK_TRAIN_ASR = replace(QUICK_TRAIN, max_steps=3000, eval_every=50, patience=3,
                          min_steps=300, lr=5e-3)
FULL_TRAIN_ASR = replace(FULL_TRAIN, min_steps=500)
_KMEANS_FIT = ({"max_items": 400, "progress": False}, {"max_items": 5000, "progress": False})
# quick: 900 steps, out of its collapsed start (150 steps left STOI at 0.59 on the synthetic
# test speakers). Measured 2026-12-03: 0.26 CPU s a step on one thread (load 4 on the 2-core
# machine), 3.7 min wall in the default run (idle machine): the longest single job of the run.
_RVQ_FIT = ({"max_steps": 900, "max_items": 300, "progress": False},
            {"max_steps": 5000, "max_items": 5000, "progress": False})
FIT_BUDGETS = {"mel-kmeans": _KMEANS_FIT, "mfcc-kmeans": _KMEANS_FIT, "ssl-kmeans": _KMEANS_FIT,
               "rvq": _RVQ_FIT}
# a unit vocoder for each semantic tokenizer of a run with generative tasks (quick, full):
# quick mode trains the iSTFT generator (the rvq codec's Vocos-style decoder, 64 wide) on the
# spectral losses alone (no discriminator) for 800 steps of 4 segments of 32 frames: ~44 CPU s
# on one thread of the loaded 2-core machine. Measured by benchmarks/vocoder.py on held-out
# synthetic speakers, it resynthesizes mel-kmeans tokens at STOI 0.63 / mel distance 0.95,
# where the former quick budget (HiFi-GAN-style, 32 channels, 16-frame segments, 250 steps,
# ~30 CPU s under the same load) stayed at 0.29 / 1.63. Steps, not width, buy quality here;
# 16-frame segments are too short for the ConvNeXt context (0.62 after 1200 steps).
# Full mode trains the default vocoder (iSTFT, 128 wide) for 10 minutes: at ~160 CPU s it
# reached STOI 0.68 / mel 0.83 where the 128-channel HiFi-GAN one reached 0.46 / 1.40.
VOCODER_FIT = ({"max_steps": 800, "batch_size": 4, "segment_frames": 32, "lr": 6e-3,
                "config": {"generator": "istft", "channels": 64, "adversarial": False}},
               {"max_steps": None, "minutes": 10.0})


class BenchError(ValueError):
    """The benchmark cannot run as asked (e.g. a task's corpus lacks its labels)."""


def default_train(task: AnyTask, full: bool) -> TrainConfig:
    """The head settings of ``task`` in quick or ``full`` mode (ASR has its own)."""
    if isinstance(task, ASRTask):
        return FULL_TRAIN_ASR if full else QUICK_TRAIN_ASR
    return FULL_TRAIN if full else QUICK_TRAIN


@dataclass(frozen=True)
class BenchConfig:
    """What to run. Empty ``tokenizers`` / ``tasks`` mean the defaults (for ``data``: the tasks
    of every corpus found there). ``run`` names the results (default: from the data).
    ``train`` overrides the head settings of ``full`` / quick mode (device and seed are set
    per cell). ``max_items`` caps each task split (quick looks at a slice of a big corpus).
    ``vocoders``: a semantic tokenizer without a decoder gets a unit vocoder trained on the
    fitting items (:data:`VOCODER_FIT`, or ``vocoder_steps`` steps) when a generative task
    runs. ``jobs``: worker processes, one tokenizer at a time each (1: all in this process).
    ``init_embeddings``: token heads start from the tokenizer's codebook vectors (k-means
    centroids, codec codebooks) instead of random tables; ``freeze_embeddings``: those
    tables (random or from vectors) are not trained.
    ``tokens``: a store made elsewhere (``audiotokens encode``) by the one tokenizer in
    ``tokenizers``, read instead of encoding; ``cache_mb``: decoded store row groups a head's
    data keeps in memory (see :class:`~audiotokens.bench.arrays.StoreArrays`).
    """

    out: Path = Path("bench_out")
    tokenizers: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    seeds: int = 3
    data: Path | None = None
    device: str = "cpu"
    full: bool = False
    run: str = ""
    train: TrainConfig | None = None
    max_items: int | None = None
    cost: bool = True
    report: bool = True
    vocoders: bool = True
    vocoder_steps: int | None = None
    jobs: int = 1
    init_embeddings: bool = False
    freeze_embeddings: bool = False
    synth_minutes: float = 4.0
    verbose: bool = True
    tokens: Path | None = None
    cache_mb: float = DEFAULT_CACHE_MB

    def __post_init__(self) -> None:
        if self.seeds < 1 or self.jobs < 1:
            raise ValueError(f"seeds and jobs must be >= 1, got {self.seeds} and {self.jobs}")
        if self.tokens is not None and len(self.tokenizers) != 1:
            raise BenchError(f"--tokens {self.tokens} holds one tokenizer's tokens: name that "
                             f"tokenizer with exactly one --tokenizers (got "
                             f"{len(self.tokenizers)})")
        if not self.cache_mb >= 0:
            raise ValueError(f"cache_mb must be >= 0, got {self.cache_mb}")
        if self.max_items is not None and self.max_items < 3:
            raise ValueError(f"max_items must be >= 3, got {self.max_items}")
        object.__setattr__(self, "out", Path(self.out))

    @property
    def run_name(self) -> str:
        """``run``, or "embedded" / "data-<folder name>" (+ "-full")."""
        base = self.run or ("embedded" if self.data is None else f"data-{Path(self.data).name}")
        return base + ("-full" if self.full and not self.run else "")


@dataclass
class BenchSummary:
    """What a benchmark run did and where its files went."""

    run: str
    db_path: Path
    report_path: Path | None
    cells: list[CellOutcome]

    def count(self, status: str) -> int:
        """Number of cells with ``status``."""
        return sum(c.status == status for c in self.cells)

    @property
    def trained(self) -> int:
        """Cells computed (a head trained and tested) in this run."""
        return self.count("done")


def parse_tokenizer_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """"name" or "name:key=value:key=value" (values parsed as JSON when they can be) or a
    saved folder -> (name or path, options)."""
    if Path(spec).is_dir():
        return spec, {}
    name, *pairs = spec.split(":")
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"tokenizer spec {spec!r}: expected name:key=value, got {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return name, options


def _label(spec: str) -> str:
    return Path(spec).name if Path(spec).is_dir() else spec


def fit_options(name: str, full: bool) -> dict[str, Any]:
    """The quick / full fit budget of a registry name ({} for names without one)."""
    budgets = FIT_BUDGETS.get(name)
    return {} if budgets is None else dict(budgets[1 if full else 0])


class _Runner:
    """One benchmark run's state (config, DB, corpora, prepared tasks)."""

    def __init__(self, cfg: BenchConfig, registry: Registry) -> None:
        from rich.console import Console

        self.cfg, self.registry = cfg, registry
        self.console = Console(quiet=not cfg.verbose)
        self.run = cfg.run_name
        cfg.out.mkdir(parents=True, exist_ok=True)
        self.db = ResultsDB(cfg.out / "results.db")
        self.corpora = self._corpora()
        self.tasks = [make_task(n) for n in (cfg.tasks or self._default_tasks())]
        for task in self.tasks:  # DNSMOS: ~4 CPU-s a short clip (see metrics.DNSMOS)
            if isinstance(task, TokenTargetTask) and not cfg.full:
                task.with_dnsmos = False
        self.data: dict[str, TaskData] = {}
        self.items: dict[str, list[ManifestItem]] = {}  # corpus kind -> its items
        self.cells: list[CellOutcome] = []
        # what scoring shares between cells, processes and resumed runs (the TTS judge,
        # reference scores): computed once, kept under out/cache/scoring
        self.scores = ScoreCache(cfg.out / "cache" / "scoring")

    def _corpora(self) -> dict[str, Path]:
        if self.cfg.data is not None:
            return find_corpora(self.cfg.data)
        return {"synthetic": embedded_corpus(self.cfg, self.console)}

    def _synthesized(self, root: Path, what: str, **config: Any) -> Path:
        """A synthetic corpus in ``root`` (see :func:`synthesized_corpus`)."""
        return synthesized_corpus(self.cfg, root, what, self.console, **config)

    def _default_tasks(self) -> list[str]:
        kinds = list(self.corpora)
        if "noisy" not in kinds and any(k in kinds for k in NOISY_SOURCES):
            kinds.append("noisy")  # derived on demand by _noisy_corpus
        if "synthetic" in kinds and "tts" not in kinds:
            kinds.append("tts")  # synthesized on demand in prepare()
        return [t for kind in kinds for t in CORPUS_TASKS[kind]]

    def _noisy_corpus(self) -> Path:
        """Mix a noisy corpus from the first clean corpus of NOISY_SOURCES (kept in
        ``out/corpus-noisy/<kind>`` and reused while the items and settings are the same);
        ``--full`` makes three mixtures of each training utterance."""
        from ..data.noise import NoiseConfig, make_noisy_corpus

        source = next((k for k in NOISY_SOURCES if k in self.corpora), None)
        if source is None:
            found = ", ".join(self.corpora) or "none"
            raise FileNotFoundError(f"task enhance needs a noisy corpus (noisy.jsonl) or a "
                                    f"clean one to mix ({', '.join(NOISY_SOURCES)}); found: "
                                    f"{found}")
        out = self.cfg.out / "corpus-noisy" / source
        cfg = NoiseConfig(train_copies=3 if self.cfg.full else 1)
        made = make_noisy_corpus(load_corpus(source, self.corpora[source]), out, cfg)
        if not made.reused:
            self.console.print(f"mixed {len(made.items)} noisy items from the {source} corpus "
                               f"into {out}")
        for item_id, reason in made.skipped.items():
            self.console.print(f"[yellow]noisy corpus: skipped {item_id}: {reason}[/]")
        return out

    def prepare(self) -> None:
        """Load each needed corpus once and split it for every task (missing corpus: error)."""
        items = self.items
        for task in self.tasks:
            if task.corpus == "noisy" and "noisy" not in self.corpora:
                self.corpora["noisy"] = self._noisy_corpus()
            if task.corpus == "tts" and "tts" not in self.corpora:
                self.corpora["tts"] = self._synthesized(  # one voice, split by the task
                    self.cfg.out / "corpus-tts", "one voice", n_speakers=1, valid_speakers=0,
                    test_speakers=0)
            if task.corpus not in self.corpora:
                found = ", ".join(self.corpora) or "none"
                raise FileNotFoundError(f"task {task.name} needs a {task.corpus} corpus; "
                                        f"found: {found} (point --data at it)")
            if task.corpus not in items:
                items[task.corpus] = load_corpus(task.corpus, self.corpora[task.corpus])
            try:
                data = task.prepare(items[task.corpus])
            except ValueError as err:  # the corpus lacks what the task needs (e.g. transcripts)
                if self.cfg.tasks:  # asked for by name: a user error
                    raise BenchError(str(err)) from None
                self.console.print(f"[yellow]skipping task {task.name}: {err}[/]")
                continue
            self.data[task.name] = _cap(data, self.cfg.max_items)
        self.tasks = [t for t in self.tasks if t.name in self.data]
        for t in self.tasks:
            self.db.set_board(self.run, t.name, task_board(t))

    def cell_key(self, source_key: str, task: AnyTask, seed: int) -> str:
        """Hash of every setting behind one cell: the source's checksum (``source.key()``),
        the task and its items, the head settings and seed (resynthesis: the test slice),
        the mode."""
        from .. import __version__

        data = self.data[task.name]
        head = None if isinstance(task, ResynthTask) else self.train_config(task, seed)
        return digest(__version__, source_key, task.name, items_digest(data.items), head,
                      self.cfg.full)

    def pending(self, label: str, source_key: str) -> dict[str, list[int]]:
        """Task name -> seeds whose cell for this tokenizer label is not in the DB with the
        same settings (resynthesis trains nothing, so it runs seed 0 only)."""
        todo: dict[str, list[int]] = {}
        for t in self.tasks:
            seeds = range(1 if isinstance(t, ResynthTask) else self.cfg.seeds)
            todo[t.name] = [s for s in seeds if not self.db.has_cell(
                self.run, label, t.name, s, self.cell_key(source_key, t, s))]
            for s in sorted(set(seeds) - set(todo[t.name])):
                self.cells.append(CellOutcome(label, t.name, s, "skipped"))
        return {k: v for k, v in todo.items() if v}

    def fit_manifest(self) -> Path:
        """A manifest of training items of all tasks (never valid/test) to fit tokenizers on;
        when no task trains (e.g. resynthesis alone), the corpora's own "train" split."""
        if "synthetic" in self.corpora and self.cfg.data is None:
            return self.corpora["synthetic"] / "train.jsonl"
        seen: dict[str, ManifestItem] = {}
        for data in self.data.values():
            for it in data.train:
                seen.setdefault(it.id, it)
        if not seen:
            seen = {it.id: it for items in self.items.values() for it in items
                    if it.split == "train"}
        if not seen:
            raise BenchError(f"no training items to fit tokenizers on in {self.cfg.data}: add "
                             "a task with a training split, or a corpus with split 'train'")
        return write_manifest(seen.values(), self.cfg.out / "fit" / f"{safe_name(self.run)}.jsonl")

    def source(self, spec: str) -> FeatureSource:
        """Build (and fit + save, or load the saved fit of) the tokenizer for ``spec``."""
        if spec == CONTINUOUS_MEL:
            return ContinuousMel(self.cfg.device)
        name, options = parse_tokenizer_spec(spec)
        if name.startswith(CONTINUOUS_PREFIX):  # e.g. continuous-hubert:model=...:layers=[6]
            family = name[len(CONTINUOUS_PREFIX):]
            unknown = sorted(set(options) - {"model", "layers"})
            if unknown or "model" not in options or "layers" not in options:
                raise ValueError(f"{spec}: a continuous SSL baseline takes model= (hub id or "
                                 f"folder) and layers=[...]; got {sorted(options)}")
            source = ContinuousSSL(family, options["model"], options["layers"], self.cfg.device)
            source.name = _label(spec)
            return source
        tok = load_tokenizer(name, self.registry, **options)
        needs_fit = not tok.info.fitted
        vocoder = self._vocoder_options()
        needs_vocoder = (vocoder is not None and tok.info.kind == "semantic"
                         and not tok.info.has_decoder)
        if needs_fit or needs_vocoder:  # trained here once, then loaded from out/tokenizers
            tok = self._trained(spec, tok, fit_options(name, self.cfg.full) if needs_fit
                                else None, vocoder if needs_vocoder else None,
                                getattr(getattr(tok, "config", None), "model", None) or "")
        return TokenizerSource(tok.to(self.cfg.device), name=_label(spec))

    def _trained(self, spec: str, tok: Any, fit: dict[str, Any] | None,
                 vocoder: dict[str, Any] | None, model: str) -> Any:
        """``tok`` fitted (with ``fit`` options) and/or given a unit vocoder, saved under
        ``out/tokenizers`` keyed by the recipe (spec, budgets, model files, fitting items),
        or the saved one when that recipe was trained before."""
        manifest = self.fit_manifest()
        recipe = digest(spec, fit, vocoder, path_stamp(resolve_model(model)),
                        items_digest(read_manifest(manifest)))
        saved = self.cfg.out / "tokenizers" / safe_name(self.run) / f"{safe_name(spec)}-{recipe}"
        if (saved / "config.json").is_file():
            return load_tokenizer(saved, self.registry)
        if fit is not None:
            self.console.print(f"fitting {spec} on {manifest} ...")
            tok.to(self.cfg.device)
            tok.fit(manifest, **fit)
        if vocoder is not None:
            self._fit_vocoder(spec, tok, manifest, vocoder)
        tok.save(saved)
        return tok

    def _vocoder_options(self) -> dict[str, Any] | None:
        """The vocoder budget, or None when no vocoder is wanted (off, or no generative task)."""
        if not self.cfg.vocoders or not any(task_board(t) == "generative" for t in self.tasks):
            return None
        budget = dict(VOCODER_FIT[1 if self.cfg.full else 0])
        if self.cfg.vocoder_steps is not None:
            budget["max_steps"] = self.cfg.vocoder_steps
        return budget

    def _fit_vocoder(self, spec: str, tok: Any, manifest: Path, budget: dict[str, Any]) -> None:
        """Train a unit vocoder for ``tok`` on ``manifest`` and attach it (see VOCODER_FIT:
        training options, and ``config`` overrides of the vocoder's architecture)."""
        from ..vocoder import VocoderTrainOptions, train_vocoder, vocoder_config_for

        options = dict(budget)
        config = vocoder_config_for(tok, **options.pop("config", {}))
        self.console.print(f"training a unit vocoder for {spec} ({budget}) ...")
        result = train_vocoder(tok, manifest, config, VocoderTrainOptions(
            device=self.cfg.device, **options), progress_desc=None)
        tok.attach_vocoder(result.model)
        self.console.print(f"  vocoder: {result.steps} steps in {result.seconds:.0f} s")

    def record_cost(self, label: str, source: FeatureSource) -> None:
        """Cost rows (bitrate, encode/decode time and memory per 16 s, params), once per run."""
        if not self.cfg.cost or not isinstance(source, TokenizerSource):
            return
        if self.db.has_cell(self.run, label, "cost", 0):
            return
        from .cost import measure_cost

        report = measure_cost(source.tokenizer)
        tier = bitrate_tier(report.bitrate_bps)
        self.db.add_cell(report.to_results(self.run, label, tier))

    def cell(self, label: str, tier: str, source_key: str = "") -> CellContext:
        """What computing one of this tokenizer's cells needs from the run (``source_key``:
        its checksum, keying the scores its cells share)."""
        return CellContext(self.run, label, tier, self.db, self.cfg.out, self.cfg.device,
                           self.cfg.full, self.console, self.scores, source_key)

    def train_config(self, task: AnyTask, seed: int) -> TrainConfig:
        """The head settings of ``task`` for ``seed`` (``cfg.train`` overrides the default)."""
        base = self.cfg.train or default_train(task, self.cfg.full)
        return replace(base, seed=seed, device=self.cfg.device,
                       init_embeddings=self.cfg.init_embeddings or base.init_embeddings,
                       freeze_embeddings=self.cfg.freeze_embeddings or base.freeze_embeddings)

    def encoded(self, source: FeatureSource, corpus: str) -> Any:
        """The :class:`~.features.EncodedItems` of the items the heads of ``corpus`` read:
        from ``source``'s store under ``out/cache`` (one per corpus folder, encoding what it
        lacks), or from the given ``tokens`` store."""
        items = _corpus_items(self.data, self.tasks, corpus)
        label = f"{corpus}-{digest(str(Path(self.corpora[corpus]).resolve()))[:8]}"
        return encode_items(source, items, self.cfg.out / "cache", corpus=label,
                            tokens=self.cfg.tokens, cache_mb=self.cfg.cache_mb)

    def run_tokenizer(self, spec: str) -> None:
        """Every pending cell of one tokenizer."""
        label = _label(spec)
        source = self.source(spec)
        self.record_cost(label, source)
        self.db.set_family(self.run, label, source.tokenizer.info.kind
                           if isinstance(source, TokenizerSource) else "continuous")
        source_key = source.key()  # a checksum over the weights: computed once
        todo = self.pending(label, source_key)
        spec_in = source.spec
        tier = bitrate_tier(None if spec_in.kind == "features" else _bitrate(source))
        encoded: dict[str, Any] = {}  # corpus kind -> EncodedItems
        ctx = self.cell(label, tier, source_key)
        for task in self.tasks:
            for seed in todo.get(task.name, []):
                key = self.cell_key(source_key, task, seed)
                if isinstance(task, ResynthTask):
                    self.cells.append(run_resynth_cell(ctx, task, self.data[task.name], source,
                                                       key))
                    continue
                train_cfg = self.train_config(task, seed)
                if isinstance(task, TokenTargetTask) and (skip := cannot_predict(
                        ctx, task, source, seed, train_cfg)) is not None:
                    self.cells.append(skip)
                    continue
                if task.corpus not in encoded:
                    encoded[task.corpus] = self.encoded(source, task.corpus)
                run = run_token_head_cell if isinstance(task, TokenTargetTask) else run_head_cell
                try:
                    done = encoded[task.corpus]
                    outcome = run(ctx, task, self.data[task.name], source, done.arrays,
                                  train_cfg, key, skipped=done.skipped)
                except (ValueError, RuntimeError) as err:
                    outcome = CellOutcome(label, task.name, seed, "failed", error=first_line(err))
                    self.console.print(f"[red]{label} / {task.name} failed:[/] {outcome.error}")
                    self.cells.append(outcome)
                    continue
                self.cells.append(outcome)
                self.console.print(f"  {label:>16} | {task.name:<18} seed {seed}: "
                                   f"{_metrics_text(outcome.metrics)} ({outcome.stopped}, "
                                   f"{outcome.seconds:.1f} s)")


def synthesized_corpus(cfg: BenchConfig, root: Path, what: str = "speech", console: Any = None,
                       **config: Any) -> Path:
    """A synthetic corpus in ``root`` (``cfg.synth_minutes``, x5 with ``--full``; other
    :class:`SynthConfig` fields from ``config``), made once and reused."""
    if not (root / "all.jsonl").is_file():
        from ..data import SynthConfig, synthesize_corpus

        minutes = cfg.synth_minutes * (5 if cfg.full else 1)
        if console is not None:
            console.print(f"synthesizing {minutes:g} min of {what} into {root} ...")
        synthesize_corpus(root, SynthConfig(minutes=minutes, **config), overwrite=True)
    return root


def embedded_corpus(cfg: BenchConfig, console: Any = None) -> Path:
    """The embedded synthetic corpus a run of ``cfg`` without data uses (``out/corpus``)."""
    return synthesized_corpus(cfg, cfg.out / "corpus", "speech", console)


def fit_manifest_for(cfg: BenchConfig, registry: Registry = REGISTRY) -> Path:
    """The manifest :func:`run_benchmark` fits ``cfg``'s tokenizers on (the training items of
    its tasks; preparing them makes or loads the corpora first)."""
    runner = _Runner(cfg, registry)
    try:
        runner.prepare()
        return runner.fit_manifest()
    finally:
        runner.db.close()


def _metrics_text(metrics: dict[str, float]) -> str:
    """``name=value`` of a cell's own metrics (references go to the DB and report)."""
    return " ".join(f"{k}={v:.3f}" for k, v in metrics.items() if "@" not in k)


def _bitrate(source: FeatureSource) -> float:
    spec = source.spec
    import math

    return spec.frame_rate * sum(math.log2(v) for v in spec.vocab_sizes if v > 1)


def _corpus_items(data: dict[str, TaskData], tasks: list[AnyTask], corpus: str
                  ) -> list[ManifestItem]:
    """Items the heads of ``corpus`` read (resynthesis reads audio itself)."""
    seen: dict[str, ManifestItem] = {}
    for task in tasks:
        if task.corpus == corpus and not isinstance(task, ResynthTask):
            for it in task.input_items(data[task.name]):
                seen.setdefault(it.id, it)
    return list(seen.values())


def _cap(data: TaskData, max_items: int | None) -> TaskData:
    """Keep an evenly spread slice of at most ``max_items`` items per split."""
    if max_items is None:
        return data

    def take(items: list[ManifestItem]) -> list[ManifestItem]:
        step = max(1, len(items) / max_items)
        return [items[int(i * step)] for i in range(min(max_items, len(items)))]

    return TaskData(take(data.train), take(data.valid), take(data.test), data.classes,
                    data.targets)


def _run_spec(runner: _Runner, spec: str) -> None:
    """All pending cells of one tokenizer; a tokenizer that fails to build, fit or encode
    becomes failed cells (the run goes on)."""
    from ..audio import AudioError
    from ..store import StoreError
    from ..tokenizers.base import TokenizerError

    try:
        runner.run_tokenizer(spec)
    except StoreError as err:
        if runner.cfg.tokens is not None:  # the given store does not fit: a user error
            raise BenchError(first_line(err)) from None
        _failed_spec(runner, spec, err)
    except (TokenizerError, AudioError, ImportError, ValueError, RuntimeError) as err:
        _failed_spec(runner, spec, err)


def _failed_spec(runner: _Runner, spec: str, err: BaseException) -> None:
    """Every not-yet-done cell of ``spec`` as failed, with the error's first line."""
    msg = first_line(err)
    runner.console.print(f"[red]{_label(spec)} failed:[/] {msg}")
    for task in runner.tasks:
        for seed in range(runner.cfg.seeds):
            if not runner.db.has_cell(runner.run, _label(spec), task.name, seed):
                runner.cells.append(CellOutcome(_label(spec), task.name, seed, "failed",
                                                error=msg))


def _worker(cfg: BenchConfig, registry: Registry, spec: str) -> list[CellOutcome]:
    """One tokenizer's cells in a worker process (one torch thread on the CPU); the corpora
    were made by the parent, so ``prepare`` here only reads them."""
    if cfg.device == "cpu":
        import torch

        torch.set_num_threads(1)
    runner = _Runner(cfg, registry)
    runner.prepare()
    _run_spec(runner, spec)
    runner.db.close()
    return runner.cells


def _run_parallel(runner: _Runner, registry: Registry, specs: tuple[str, ...]) -> None:
    """Tokenizers in ``cfg.jobs`` worker processes (spawned, stopped with the parent: see
    :mod:`.pool`), the expensive ones first; every worker writes its cells to the one
    results DB (WAL)."""
    from .pool import worker_pool

    if runner.cfg.data is not None:
        runner.fit_manifest()  # written once here, read by every worker
    order = sorted(specs, key=lambda s: (not s.startswith(("rvq", "mulaw")), specs.index(s)))
    with worker_pool(runner.cfg.jobs) as pool:
        futures = [pool.submit(_worker, runner.cfg, registry, spec) for spec in order]
        for future in futures:
            runner.cells += future.result()


def run_benchmark(cfg: BenchConfig, registry: Registry = REGISTRY) -> BenchSummary:
    """Run every pending (tokenizer, task, seed) cell of ``cfg``; write the DB and report.

    With ``cfg.jobs`` > 1 the tokenizers run in that many worker processes. A tokenizer that
    fails to build, fit or encode is reported as failed cells and the run goes on; re-running
    retries only what is missing.
    """
    runner = _Runner(cfg, registry)
    runner.prepare()
    tasks = ", ".join(t.name for t in runner.tasks)
    corpora = ", ".join(f"{k}={v}" for k, v in runner.corpora.items())
    runner.console.print(f"run [bold]{runner.run}[/]: tasks {tasks} on {corpora}")
    specs = cfg.tokenizers or _default_tokenizers(registry, runner.console)
    if cfg.jobs > 1 and len(specs) > 1:
        _run_parallel(runner, registry, specs)
    else:
        for spec in specs:
            _run_spec(runner, spec)
    report = None
    if cfg.report and runner.db.results(runner.run):
        from .report import write_report

        report = write_report(runner.db, cfg.out / "report.html", run=runner.run).path
    return BenchSummary(runner.run, runner.db.path, report, runner.cells)


def _default_tokenizers(registry: Registry, console: Any = None) -> tuple[str, ...]:
    """The embedded defaults that import here; one missing its extra (codec2 needs
    pycodec2) is left out with a line on ``console`` saying what to install."""
    from ..extras import missing

    usable = []
    for name in DEFAULT_TOKENIZERS:
        if name == CONTINUOUS_MEL:
            usable.append(name)
            continue
        why = missing("codec2", "skipped") if name == "codec2" else None
        try:
            registry.get(name).resolve()
        except (ImportError, AttributeError) as err:
            why = f"{name} skipped: {first_line(err)}"
        if why is not None:
            if console is not None:
                console.print(f"[yellow]{why}[/]")
            continue
        usable.append(name)
    return tuple(usable)
