"""Layer x k study: which layer of an SSL model, and how many k-means clusters, make the best
semantic tokens for each task; and do several layers as codebooks (DASB) beat the best one?

One semantic tokenizer per (layer, k) (:mod:`.study_grid`), plus with ``combine`` every
grid layer as codebooks at each k, all benchmarked as one bench run in the results DB
(``<bench run>-layers-<model tag>``), so a re-run skips every cell already done with the
same settings. Fitting shares the backbone: one pass over the fitting items samples every
layer the grid lacks (:meth:`SemanticTokenizer.sample_frames`); each (layer, k) clusters its
layer's sample, which is kept on disk (float32, ``max_vectors`` x hidden size x 4 bytes per
layer) so that adding a k later runs no backbone at all; a multi-layer cell reuses the
single-layer centroids (the same as fitting it: each layer's sample and k-means seed do not
depend on the other layers). Fitted tokenizers live under
``out/tokenizers/<run>/grid-<key>/<label>``, the key covering the model files, the fitting
items and the fit settings; their tokens are cached per tokenizer checksum by the bench.

Without a model, one is pretrained here first with ``fit ssl``'s recipe on the embedded
synthetic corpus's training split (``ssl`` recipe; default a :data:`SSL_LAYERS`-layer
HuBERT, :data:`SSL_MINUTES` minutes of wall time) into ``out/ssl/embedded-<key>``, and
reused while the recipe and corpus stay the same. Outputs: per task a heat map PNG (layers
x k, "mean ± CI", best boxed), the report of the run (with the study section) and
``study.json``, under ``out/studies/<run>``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..data.manifest import read_manifest
from ..ssl.recipe import RecipeConfig
from ..ssl.shipped import resolve_model
from ..tokenizers.registry import REGISTRY, Registry, load_tokenizer
from .cells import safe_name
from .db import ResultsDB
from .findings import Finding, cluster_count_finding, combination_finding
from .keys import digest, items_digest, path_stamp
from .ranking import rank_results
from .runner import (
    BenchConfig,
    BenchError,
    BenchSummary,
    embedded_corpus,
    fit_manifest_for,
    fit_options,
    run_benchmark,
)
from .study_grid import (
    DEFAULT_KS,
    RUN_MARKER,
    SSL_LAYERS,
    SSL_MINUTES,
    GridCell,
    TaskGrid,
    grid_cells,
    task_grids,
)

__all__ = ["DEFAULT_KS", "SSL_MINUTES", "LayerStudyConfig", "GridFit", "LayerStudy",
           "default_model", "fit_grid", "run_layer_study"]

def _default_recipe() -> RecipeConfig:
    from ..ssl.model import SSLModelConfig

    return RecipeConfig(minutes=SSL_MINUTES, score_layers=False, progress=False,
                        model=SSLModelConfig(layers=SSL_LAYERS))


@dataclass(frozen=True)
class LayerStudyConfig:
    """``bench``: what every cell runs (out, tasks, seeds, data, jobs, heads; its tokenizers
    and run name are the study's). ``model``: an SSL hub id or folder (None: pretrain one
    with ``ssl``). ``layers``: transformer layers to try (empty: every one, 1..N);
    ``ks``: clusters per codebook; ``combine``: also all ``layers`` as codebooks at each k."""

    bench: BenchConfig = field(default_factory=BenchConfig)
    model: str | None = None
    layers: tuple[int, ...] = ()
    ks: tuple[int, ...] = DEFAULT_KS
    combine: bool = True
    ssl: RecipeConfig = field(default_factory=_default_recipe)

    def __post_init__(self) -> None:
        if not self.ks or min(self.ks) < 2 or len(set(self.ks)) != len(self.ks):
            raise ValueError(f"ks must be distinct numbers of clusters >= 2, got {self.ks}")
        if any(x < 0 for x in self.layers) or len(set(self.layers)) != len(self.layers):
            raise ValueError(f"layers must be distinct layer numbers >= 0, got {self.layers}")


@dataclass(frozen=True)
class GridFit:
    """The fitted tokenizer folder of each cell, the cells fitted in this call (the rest were
    saved before) and the layers whose frames a backbone pass sampled in it (() when every
    layer's sample was on disk)."""

    folders: dict[GridCell, Path]
    fitted: tuple[GridCell, ...]
    sampled_layers: tuple[int, ...]


@dataclass(frozen=True)
class LayerStudy:
    """What the study did: its run, the model, the cells and their fit, one grid per task
    (scores, best), the two verdicts, the bench summary and the files written."""

    run: str
    model: str
    cells: tuple[GridCell, ...]
    fit: GridFit
    grids: tuple[TaskGrid, ...]
    clusters: Finding
    combination: Finding
    bench: BenchSummary
    folder: Path
    heatmaps: dict[str, Path]
    report: Path
    summary: Path


def _console(cfg: BenchConfig) -> Any:
    from rich.console import Console

    return Console(quiet=not cfg.verbose)


def default_model(cfg: LayerStudyConfig, console: Any = None) -> Path:
    """The SSL model pretrained here (``cfg.ssl`` on the embedded corpus's training split of
    ``cfg.bench``): trained into ``out/ssl/embedded-<key>`` once, then reused while the
    recipe and the corpus are the same. Returns the last iteration's model folder."""
    from ..ssl.recipe import SUMMARY_FILE, fit_ssl

    manifest = embedded_corpus(replace(cfg.bench, data=None), console) / "train.jsonl"
    recipe = replace(cfg.ssl, device=cfg.bench.device)
    settings = {k: v for k, v in dataclasses.asdict(recipe).items()
                if k not in ("device", "progress", "log_every", "checkpoint_every")}
    key = digest(settings, items_digest(read_manifest(manifest)))
    out = cfg.bench.out / "ssl" / f"embedded-{key}"
    summary = out / SUMMARY_FILE
    if not summary.is_file():
        if console is not None:
            budget = f"{recipe.minutes:g} min" if recipe.minutes else f"{recipe.max_steps} steps"
            console.print(f"pretraining the embedded SSL model ({budget}) into {out} ...")
        fit_ssl([manifest], out, recipe)
    return out / json.loads(summary.read_text())["model"]


def _frames_folder(root: Path) -> Path:
    return root / "frames"


def _load_frames(root: Path, layers: list[int], manifest: Path) -> Any:
    """The saved frame sample of ``layers`` (None when one is missing)."""
    from safetensors import safe_open

    from ..tokenizers.semantic import FitReport, FrameSample

    vectors, report = {}, None
    for layer in layers:
        path = _frames_folder(root) / f"layer{layer}.safetensors"
        if not path.is_file():
            return None
        with safe_open(str(path), framework="numpy") as f:
            vectors[layer] = f.get_tensor("frames")
            report = FitReport(**json.loads(f.metadata()["report"]))
    return FrameSample(str(manifest), vectors, report or FitReport())


def _save_frames(root: Path, sample: Any) -> None:
    from safetensors.numpy import save

    from ..tokenizers.persist import atomic_write_bytes

    r = sample.report
    meta = {"report": json.dumps({"items": r.items, "skipped": r.skipped, "frames": r.frames,
                                  "audio_seconds": r.audio_seconds, "seconds": r.seconds})}
    for layer, frames in sample.vectors.items():
        atomic_write_bytes(_frames_folder(root) / f"layer{layer}.safetensors",
                           save({"frames": frames}, metadata=meta))


def _sample(family: str, model: str, layers: list[int], manifest: Path, root: Path,
            fit: dict[str, Any], device: str) -> tuple[Any, tuple[int, ...]]:
    """The frame sample of ``layers``: saved ones read back, the rest from one backbone
    pass (then saved). Returns it and the layers sampled now."""
    from ..tokenizers.semantic import FrameSample

    have = [x for x in layers if (_frames_folder(root) / f"layer{x}.safetensors").is_file()]
    todo = [x for x in layers if x not in have]
    sample = _load_frames(root, have, manifest) if have else None
    if todo:
        tok = load_tokenizer(family, model=model, layers=todo, k=2).to(device)
        fresh = tok.sample_frames(manifest, **fit)
        _save_frames(root, fresh)
        vectors = {**(sample.vectors if sample else {}), **fresh.vectors}
        sample = FrameSample(str(manifest), vectors, fresh.report)
    return sample, tuple(todo)


def fit_grid(cells: tuple[GridCell, ...], model: str, manifest: Path, folder: Path,
             fit: dict[str, Any], device: str = "cpu") -> GridFit:
    """A saved semantic tokenizer for every cell, under ``folder/grid-<key>/<label>`` (the
    key: model files, fitting items, fit options, the default semantic settings); cells
    already saved are reused. Single-layer cells are clustered from one shared frame sample;
    multi-layer cells combine the single-layer centroids of their layers and k."""
    from ..tokenizers.semantic import SemanticConfig

    family = cells[0].family
    base = {k: v for k, v in dataclasses.asdict(SemanticConfig(
        backbone=family, model=model, layers=[1])).items() if k not in ("layers", "k")}
    stamp = path_stamp(resolve_model(model))
    key = digest(base, stamp, items_digest(read_manifest(manifest)), fit)
    root = folder / f"grid-{key}"
    folders = {c: root / c.label for c in cells}
    todo = [c for c in cells if not (folders[c] / "config.json").is_file()]
    singles = {(c.layers[0], c.k) for c in cells if c.single}
    needed = sorted({layer for c in todo for layer in c.layers
                     if c.single or (layer, c.k) not in singles})
    sample, sampled = (_sample(family, model, needed, manifest, root, fit, device)
                       if needed else (None, ()))
    for c in sorted(todo, key=lambda c: not c.single):  # singles first: combos reuse them
        tok = load_tokenizer(family, model=model, layers=list(c.layers), k=c.k)
        parts = [folders.get(GridCell(family, (layer,), c.k)) for layer in c.layers]
        if c.single or any(p is None for p in parts):
            tok.to(device).fit_sample(sample)
        else:
            tok.load_state_tensors({name: value.numpy() for p in parts if p is not None
                                    for name, value in load_tokenizer(p).state_tensors()
                                    .items()})
        tok.save(folders[c])
    return GridFit(folders, tuple(todo), sampled)


def _model_tag(model: str) -> str:
    """A short name for ``model`` in the run name: its folder / hub name + a hash of its
    files (or of the hub id)."""
    stamp = path_stamp(resolve_model(model))
    return f"{safe_name(Path(model).name)[:32]}-{digest(model, stamp)[:6]}"


def _layers(cfg: LayerStudyConfig, model: str) -> tuple[int, ...]:
    from ..tokenizers.features import ssl_layer_count

    n = ssl_layer_count(model)
    layers = cfg.layers or tuple(range(1, n + 1))
    bad = [x for x in layers if x > n]
    if bad:
        raise BenchError(f"{model}: has layers 0..{n} (0 = CNN output), not {bad}")
    return layers


def run_layer_study(cfg: LayerStudyConfig, registry: Registry = REGISTRY) -> LayerStudy:
    """Fit the grid, benchmark it (resumable), and write the heat maps, the run's report
    and ``study.json`` under ``out/studies/<run>``."""
    from ..tokenizers.features import ssl_family

    console = _console(cfg.bench)
    model = cfg.model or str(default_model(cfg, console))
    if Path(model).is_dir():
        model = str(Path(model).resolve())
    try:
        family = ssl_family(model)
    except ValueError as err:
        raise BenchError(str(err)) from None
    cells = grid_cells(family, _layers(cfg, model), cfg.ks, cfg.combine)
    run = f"{cfg.bench.run_name}{RUN_MARKER}{_model_tag(model)}"
    bench = replace(cfg.bench, run=run, report=False, tokenizers=())
    manifest = fit_manifest_for(bench, registry)
    console.print(f"layer x k study [bold]{run}[/]: {len(cells)} tokenizers of {model}")
    fit = fit_grid(cells, model, manifest, bench.out / "tokenizers" / safe_name(run),
                   fit_options(family, bench.full), bench.device)
    specs = tuple(str(fit.folders[c]) for c in cells)
    summary = run_benchmark(replace(bench, tokenizers=specs), registry)
    return _write(cfg, run, model, cells, fit, summary)


def _write(cfg: LayerStudyConfig, run: str, model: str, cells: tuple[GridCell, ...],
           fit: GridFit, summary: BenchSummary) -> LayerStudy:
    """Rank the run and write its heat maps, report and summary JSON."""
    from .report import write_report
    from .report_grid import task_heatmap

    folder = cfg.bench.out / "studies" / safe_name(run)
    folder.mkdir(parents=True, exist_ok=True)
    with ResultsDB(summary.db_path, create=False) as db:
        ranking = rank_results(db.results(run), boards=db.boards(run))
        report = write_report(db, folder / "report.html", run=run).path
    grids = tuple(task_grids(ranking))
    heatmaps = {}
    for g in grids:
        heatmaps[g.task] = folder / f"heatmap-{safe_name(g.task)}.png"
        heatmaps[g.task].write_bytes(task_heatmap(g))
    clusters, combination = cluster_count_finding(ranking), combination_finding(ranking)
    path = folder / "study.json"
    path.write_text(json.dumps({
        "run": run, "model": model, "ks": list(cfg.ks),
        "cells": [{"label": c.label, "layers": list(c.layers), "k": c.k} for c in cells],
        "tasks": [_grid_json(g) for g in grids],
        "findings": [{"claim": f.claim, "verdict": f.verdict, "evidence": f.evidence}
                     for f in (clusters, combination)]}, indent=1))
    return LayerStudy(run, model, cells, fit, grids, clusters, combination, summary, folder,
                      heatmaps, report, path)


def _grid_json(g: TaskGrid) -> dict[str, Any]:
    return {"task": g.task, "metric": g.metric, "higher_is_better": g.higher_is_better,
            "best": g.best.label, "ties": [c.label for c in g.ties],
            "cells": [{"label": c.label, "mean": s.value, "ci95": s.ci95, "n": s.n,
                       "rank": s.rank} for c in g.cells if (s := g.score(c)) is not None]}
