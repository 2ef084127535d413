"""``audiotokens study ...``: questions about tokens answered by running the bench in arms."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register"]

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
    seeds: int = typer.Option(3, "--seeds", min=1, help="Seeds per cell."),
    out: Path = typer.Option(Path("bench_out"), "--out", help="Output folder (results.db)."),
    jobs: int = typer.Option(2, "--jobs", "-j", min=1, help="Worker processes."),
    device: str = typer.Option("cpu", "--device", help="torch device."),
    max_items: int | None = typer.Option(None, "--max-items", min=3,
                                         help="Cap each task split at this many items."),
) -> None:
    """Token heads from random tables vs from the tokenizer's codebook vectors (k-means
    centroids, rvq codebooks): per tokenizer and task, is the centroid start better?"""
    from rich.console import Console
    from rich.table import Table

    from ..bench.runner import BenchConfig
    from ..bench.study_init import run_init_study
    from ..bench.tasks import make_task, task_board
    from .bench import _split

    wanted = _split(tasks) or ("asr-synth", "spkid-synth", "prosody-proxy")
    if any(task_board(make_task(t)) != "discriminative" for t in wanted):
        raise typer.BadParameter("the init study compares discriminative heads only",
                                 param_hint="--tasks")
    cfg = BenchConfig(out=out, tokenizers=_split(tokenizers) or ("mel-kmeans", "rvq"),
                      tasks=wanted, seeds=seeds, data=data, device=device, jobs=jobs,
                      max_items=max_items, vocoders=False)
    study = run_init_study(cfg)
    table = Table("tokenizer / task", "vectors", "random", "vectors vs random",
                  title="embedding initialisation")
    for c in study.comparisons:
        ci = [f" ± {s.ci95:.3f}" if s.ci95 is not None else "" for s in (c.a, c.b)]
        table.add_row(c.task, f"{c.a.value:.3f}{ci[0]}", f"{c.b.value:.3f}{ci[1]}", c.outcome)
    console = Console()
    console.print(table)
    console.print(f'claim "centroid initialisation gives no gain": [bold]{study.verdict}[/] '
                  f"(runs {', '.join(study.runs)}; summary {study.path})")


def register(app: typer.Typer) -> None:
    """Add ``study`` to the root app."""
    app.add_typer(study_app, name="study")
