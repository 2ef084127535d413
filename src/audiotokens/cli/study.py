"""``audiotokens study ...``: questions about tokens answered by running the bench in arms."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..bench.study_grid import DEFAULT_KS, SSL_MINUTES
from .parsing import comma_numbers

if TYPE_CHECKING:
    from ..bench.study_data import DataStudy
    from ..bench.study_layers import LayerStudy

__all__ = ["register"]

# options several studies share (typer reads each default's OptionInfo afresh per command)
_OUT = typer.Option(Path("bench_out"), "--out", help="Output folder (results.db).")
_JOBS = typer.Option(2, "--jobs", "-j", min=1, help="Worker processes.")
_DEVICE = typer.Option("cpu", "--device", help="torch device.")
_MAX_ITEMS = typer.Option(None, "--max-items", min=3,
                          help="Cap each task split at this many items.")

study_app = typer.Typer(help="Studies: the same benchmark in several arms, compared with CIs.",
                        no_args_is_help=True)


@study_app.command("init")
def init(
    data: Path | None = typer.Option(None, "--data", help="Corpus folder (default: the "
                                     "embedded synthetic corpus)."),
    tokenizers: list[str] | None = typer.Option(None, "--tokenizers", "-t", help="Tokenizers "
                                                "(default: mel-kmeans,rvq)."),
    tasks: list[str] | None = typer.Option(None, "--tasks", help="Tasks (default: the "
                                           "corpus's discriminative tasks)."),
    arms: str = typer.Option("random,vectors,vectors-frozen", "--arms",
                             help="Arms: random, vectors, vectors-frozen, random-frozen "
                             "(frozen random tables: the control, a whole run more); random, "
                             "the baseline, always runs."),
    seeds: int = typer.Option(3, "--seeds", min=1, help="Seeds per cell."),
    out: Path = _OUT,
    jobs: int = _JOBS,
    device: str = _DEVICE,
    max_items: int | None = _MAX_ITEMS,
) -> None:
    """Token heads from random tables vs from the tokenizer's codebook vectors (k-means
    centroids, rvq codebooks), the tables trained or frozen: per tokenizer and task, is an
    arm better than random (trained)? The verdict on "centroid init gives no gain" is
    judged on the two vector arms."""
    from rich.console import Console
    from rich.table import Table

    from ..bench.runner import BenchConfig
    from ..bench.study_init import ARMS, run_init_study
    from ..bench.tasks import make_task, task_board
    from .bench import _split

    wanted = _split(tasks) or ("asr-synth", "spkid-synth", "prosody-proxy")
    if any(task_board(make_task(t)) != "discriminative" for t in wanted):
        raise typer.BadParameter("the init study compares discriminative heads only",
                                 param_hint="--tasks")
    arm_names = _split([arms])
    unknown = sorted(set(arm_names) - set(ARMS))
    if unknown:
        raise typer.BadParameter(f"unknown arm(s) {unknown}; known: {', '.join(ARMS)}",
                                 param_hint="--arms")
    cfg = BenchConfig(out=out, tokenizers=_split(tokenizers) or ("mel-kmeans", "rvq"),
                      tasks=wanted, seeds=seeds, data=data, device=device, jobs=jobs,
                      max_items=max_items, vocoders=False)
    study = run_init_study(cfg, arms=arm_names)
    table = Table("arm", "tokenizer / task", "arm score", "random", "arm vs random",
                  title="embedding initialisation")
    for arm, comparisons in study.comparisons.items():
        for c in comparisons:
            ci = [f" ± {s.ci95:.3f}" if s.ci95 is not None else "" for s in (c.a, c.b)]
            table.add_row(arm, c.task, f"{c.a.value:.3f}{ci[0]}", f"{c.b.value:.3f}{ci[1]}",
                          c.outcome)
    console = Console()
    console.print(table)
    console.print(f'claim "{study.finding.claim}": [bold]{study.verdict}[/] '
                  f"(runs {', '.join(study.runs.values())}; summary {study.path})")


@study_app.command("data")
def data_study(
    tokenizer: str = typer.Option("mel-kmeans", "--tokenizer", "-t", help="The tokenizer spec "
                                  "fitted on each set, e.g. mel-kmeans:k=100 or rvq."),
    data: Path | None = typer.Option(None, "--data", help="A corpus folder or a folder of "
                                     "corpora (FSDD, LibriSpeech, ...): each is a domain. "
                                     "Default: two synthetic domains (male vs female "
                                     "espeak-ng voices)."),
    synthetic: bool = typer.Option(True, "--synthetic/--no-synthetic", help="With --data, the "
                                   "embedded synthetic corpus is a domain too."),
    fit_data: list[str] | None = typer.Option(None, "--fit-data", help="NAME=MANIFEST: more "
                                              "fitting data (out of domain for every task); "
                                              "repeatable."),
    tasks: list[str] | None = typer.Option(None, "--tasks", help="Only these tasks (default: "
                                           "every domain's discriminative tasks)."),
    seeds: int = typer.Option(3, "--seeds", min=1, help="Seeds per cell (for the CIs)."),
    out: Path = _OUT,
    jobs: int = _JOBS,
    device: str = _DEVICE,
    max_items: int | None = _MAX_ITEMS,
) -> None:
    """In-domain vs out-of-domain clustering data: the tokenizer fitted on each domain's
    training items (and on each --fit-data manifest), every domain's tasks scored on each
    fit; per task a table of fitting sets (mean ± 95 % CI), the in-domain vs OOD drop with
    its CI and the verdict on "in-domain beats OOD, but not hugely". A re-run skips cells
    already done.

    Example:
      audiotokens study data --data ../shared/data -t mel-kmeans:k=100 \
          --tasks kws-fsdd,spkid-fsdd,spkid-librispeech,spkid-synth
    """
    from ..bench.runner import BenchConfig
    from ..bench.study_data import DataStudyConfig, run_data_study
    from .bench import _split

    pairs = []
    for text in fit_data or []:
        name, sep, path = text.partition("=")
        if not sep or not name or not path:
            raise typer.BadParameter(f"expected NAME=MANIFEST, got {text!r}",
                                     param_hint="--fit-data")
        pairs.append((name, Path(path)))
    if device == "cpu":
        import torch

        torch.set_num_threads(1)
    bench = BenchConfig(out=out, tasks=_known_tasks(_split(tasks)), seeds=seeds, data=data,
                        device=device, jobs=jobs, max_items=max_items)  # data: the run name
    try:
        cfg = DataStudyConfig(bench, tokenizer, data, synthetic, tuple(pairs))
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--fit-data") from None
    study = run_data_study(cfg)
    _print_data_study(study)
    if any(s.count("failed") for s in study.summaries):
        raise typer.Exit(code=1)


def _print_data_study(study: DataStudy) -> None:
    """Per domain a task x fitting-set table (in-domain column marked), the drops, the
    verdict."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for domain, tasks in study.table.items():
        table = Table("task", *(f"fit {f}" + (" (in-domain)" if f == domain else "")
                                for f in study.fits), title=f"domain {domain}")
        for task, scores in tasks.items():
            table.add_row(task, *("-" if (s := scores.get(f)) is None else f"{s.value:.3f}" + (
                "" if s.ci95 is None else f" ± {s.ci95:.3f}") for f in study.fits))
        console.print(table)
    drops = Table("domain / task", "metric", "OOD fit", "drop (in - OOD)", "relative",
                  "in-domain", title="in-domain vs out-of-domain")
    for p in study.pairs:
        ci = "" if p.drop_ci95 is None else f" ± {p.drop_ci95:.3f}"
        drops.add_row(f"{p.domain} / {p.task}", p.metric, p.fit, f"{p.drop:+.3f}{ci}",
                      f"{p.relative:+.1%}", p.outcome)
    console.print(drops)
    f = study.finding
    console.print(f'claim "{f.claim}": [bold]{f.verdict}[/] ({f.evidence})')
    console.print(f"heads trained now: {study.trained}; summary: {study.path}")


@study_app.command("vocoder")
def vocoder_study(
    tokenizer: str = typer.Option("rvq", "--tokenizer", "-t", help="A multi-codebook "
                                  "tokenizer: a registry spec fitted here (rvq, hubert:model="
                                  "...:layers=[3,6]:k=100) or a saved folder."),
    subsets: str | None = typer.Option(None, "--subsets", help="Layer subsets, ';'-separated, "
                                       "codebooks joined by '+' (names or indices), e.g. "
                                       "'0;0+1'. Default: up to 3 codebooks each alone and "
                                       "all; more: the first 1, 2, 4, ... and all."),
    steps: int = typer.Option(400, "--steps", min=1, help="Training steps of every vocoder."),
    test_items: int = typer.Option(8, "--test-items", min=1, help="Test items scored."),
    data: Path | None = typer.Option(None, "--data", help="A synthetic corpus folder "
                                     "(default: the embedded corpus)."),
    seeds: int = typer.Option(3, "--seeds", min=1, help="Seeds (for the CIs)."),
    out: Path = _OUT,
    device: str = _DEVICE,
) -> None:
    """One scalable unit vocoder trained with layer dropout on every codebook vs one
    vocoder trained per layer subset, both scored on resynthesis of each subset (STOI, mel
    distance, ...; mean ± 95 % CI over seeds), and the gap in plain words. A re-run skips
    cells already done."""
    from rich.console import Console
    from rich.table import Table

    from ..bench.runner import BenchConfig
    from ..bench.study_vocoder import VocoderStudyConfig, run_vocoder_study

    picked: tuple[tuple[str | int, ...], ...] = ()
    if subsets:
        picked = tuple(tuple(int(x) if x.strip().isdigit() else x.strip()
                             for x in part.split("+") if x.strip())
                       for part in subsets.split(";") if part.strip())
    if device == "cpu":
        import torch

        torch.set_num_threads(1)
    bench = BenchConfig(out=out, seeds=seeds, data=data, device=device)
    try:
        cfg = VocoderStudyConfig(bench, tokenizer, picked, steps, test_items)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--subsets") from None
    study = run_vocoder_study(cfg)
    table = Table("layers", "metric", "scalable (dropout)", "dedicated", "gap (ded. - scal.)",
                  "scalable vs dedicated", title=f"vocoders on {study.tokenizer.name}")
    for g in study.gaps:
        cells = [f"{s.value:.3f}" + ("" if s.ci95 is None else f" ± {s.ci95:.3f}")
                 for s in (g.scalable, g.dedicated)]
        gap = f"{g.gap:+.3f}" + ("" if g.gap_ci95 is None else f" ± {g.gap_ci95:.3f}")
        table.add_row(g.subset, g.metric, *cells, gap, g.outcome)
    console = Console()
    console.print(table)
    console.print(f"[bold]{study.statement}[/]")
    console.print(f"cells trained now: {study.trained}; summary: {study.path}")


@study_app.command("layers")
def layers(
    model: str | None = typer.Option(None, "--model", help="SSL model: a local folder or a "
                                     "hub id (HuBERT, WavLM, wav2vec 2.0, data2vec). Default: "
                                     "pretrain a small HuBERT here with `fit ssl`'s recipe on "
                                     "the embedded corpus (--ssl-minutes), reused after."),
    layer_list: str = typer.Option("all", "--layers", help="Transformer layers to try: all "
                                   "(1..N) or e.g. 1,3,5 (0 = the CNN output)."),
    ks: str = typer.Option(",".join(map(str, DEFAULT_KS)), "--k",
                           help="Clusters per codebook, e.g. 50,100,500,1000."),
    combine: bool = typer.Option(True, "--combine/--no-combine", help="Also all the layers as "
                                 "codebooks (one k-means each, as DASB) at each k."),
    tasks: list[str] | None = typer.Option(None, "--tasks", help="Tasks (default: the "
                                           "corpus's discriminative tasks; a generative one "
                                           "trains a unit vocoder per cell)."),
    data: Path | None = typer.Option(None, "--data", help="Corpus folder (default: the "
                                     "embedded synthetic corpus)."),
    seeds: int = typer.Option(3, "--seeds", min=1, help="Seeds per cell (for the CIs)."),
    out: Path = typer.Option(Path("bench_out"), "--out", help="Output folder (results.db; "
                             "the study's files go to OUT/studies/<run>)."),
    jobs: int = _JOBS,
    device: str = _DEVICE,
    max_items: int | None = _MAX_ITEMS,
    steps: int | None = typer.Option(None, "--steps", min=1, help="Step budget per head "
                                     "(default: train each head to convergence)."),
    ssl_minutes: float = typer.Option(SSL_MINUTES, "--ssl-minutes", min=0.1, help="Wall-clock "
                                      "minutes for pretraining the default model (no --model)."),
) -> None:
    """Layer x k: one k-means per (layer, k) of an SSL model, the bench tasks on each;
    heat maps (layer x k, mean ± 95 % CI) per task, the best setting per task, the
    verdicts on "1000-2000 clusters are usually best" and on several layers as codebooks
    against the best single layer. A re-run skips cells already done.

    The default (no options: a 2-layer HuBERT pretrained here for 3 minutes of wall time
    with `fit ssl`'s recipe, its layers 1 and 2 x k=100,1000 plus the 2-layer combination
    at each k, on asr-synth, spkid-synth and prosody-proxy with 3 seeds) takes about 15
    minutes on 2 CPU cores (measured: 892 CPU s, 15.7 min wall with other jobs running);
    a re-run with nothing new to do takes ~20 s.

    Example:
      audiotokens study layers --model facebook/hubert-base-ls960 --layers 3,6,9,12 \
          --k 100,500,1000 --data data/librispeech --device cuda
    """
    from dataclasses import replace

    from ..bench.runner import QUICK_TRAIN, BenchConfig
    from ..bench.study_layers import LayerStudyConfig, run_layer_study
    from .bench import _split

    layer_numbers = (() if layer_list.strip() == "all"
                     else comma_numbers(layer_list, "--layers", example="1,3,5"))
    if device == "cpu":
        import torch

        torch.set_num_threads(1)
    train = None if steps is None else replace(QUICK_TRAIN, max_steps=steps,
                                               eval_every=min(QUICK_TRAIN.eval_every, steps))
    wanted = _known_tasks(_split(tasks)) or _discriminative_tasks(data)
    bench = BenchConfig(out=out, tasks=wanted, seeds=seeds, data=data, device=device,
                        jobs=jobs, max_items=max_items, train=train)
    try:
        cfg = LayerStudyConfig(bench, model, layer_numbers,
                               comma_numbers(ks, "--k", example="1,3,5"), combine)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--layers/--k") from None
    cfg = replace(cfg, ssl=replace(cfg.ssl, minutes=ssl_minutes))
    from transformers.utils import logging

    logging.disable_progress_bar()  # no per-file bars from loading the model in this process
    study = run_layer_study(cfg)
    _print_layer_study(study)
    if study.bench.count("failed"):
        raise typer.Exit(code=1)


def _known_tasks(wanted: tuple[str, ...]) -> tuple[str, ...]:
    """``wanted``, or a usage error naming the unknown tasks and the known ones."""
    from ..bench.tasks import task_names

    unknown = sorted(set(wanted) - set(task_names()))
    if unknown:
        raise typer.BadParameter(f"unknown task(s) {unknown}; known: {', '.join(task_names())}",
                                 param_hint="--tasks")
    return wanted


def _discriminative_tasks(data: Path | None) -> tuple[str, ...]:
    """The discriminative tasks of the corpora in ``data`` (None: the embedded corpus)."""
    from ..bench.runner import CORPUS_TASKS
    from ..bench.tasks import make_task, task_board
    from ..bench.tasks.corpora import find_corpora

    kinds = find_corpora(data) if data is not None else {"synthetic": None}
    return tuple(t for kind in kinds for t in CORPUS_TASKS.get(kind, ())
                 if task_board(make_task(t)) == "discriminative")


def _print_layer_study(study: LayerStudy) -> None:
    """Per task the layer x k table (best starred), the two verdicts and the counts."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for g in study.grids:
        table = Table("layer(s)", *(f"k={k}" for k in g.ks),
                      title=f"{g.task} ({g.metric} {'↑' if g.higher_is_better else '↓'})")
        for row in g.rows:
            cells = []
            for k in g.ks:
                s = g.scores.get((row, k))
                text = "-" if s is None else (f"{s.value:.3f}" + (
                    "" if s.ci95 is None else f" ± {s.ci95:.3f}") + f" (#{s.rank})")
                cells.append(f"[bold]{text} *[/]" if (row, k) == (g.best.row, g.best.k)
                             else text)
            table.add_row(row, *cells)
        console.print(table)
    for f in (study.clusters, study.combination):
        console.print(f'claim "{f.claim}": [bold]{f.verdict}[/] ({f.evidence})')
    s = study.bench
    console.print(f"cells: {s.trained} trained, {s.count('skipped')} already done, "
                  f"{s.count('failed')} failed; tokenizers fitted now: "
                  f"{len(study.fit.fitted)}")
    console.print(f"heat maps, report and study.json: {study.folder}")


def register(app: typer.Typer) -> None:
    """Add ``study`` to the root app."""
    app.add_typer(study_app, name="study")
