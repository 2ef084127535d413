"""``audiotokens bench``: run the benchmark (resumable) and print the leaderboard."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register", "bench"]


def _split(values: list[str] | None) -> tuple[str, ...]:
    """Comma-separated specs (commas inside [...] or {...} belong to a value, as in
    ``hubert:layers=[3,7]``), over every repeated option value."""
    out: list[str] = []
    for text in values or []:
        depth, start = 0, 0
        for i, ch in enumerate(text + ","):
            depth += (ch in "[{") - (ch in "]}")
            if ch == "," and depth <= 0:
                out.append(text[start:i].strip())
                start = i + 1
    return tuple(v for v in out if v)


def bench(
    data: Path | None = typer.Option(None, "--data", help="Corpus folder or folder of corpora "
                                     "(fsdd, LibriSpeech layout, emotion, synthetic, a noisy "
                                     "corpus with noisy.jsonl); default: synthesize the "
                                     "embedded corpus."),
    tokenizers: list[str] | None = typer.Option(None, "--tokenizers", "-t", help="Registry "
                                                "names (name:key=value), saved folders, "
                                                "continuous-mel or continuous-<ssl>:model=..."
                                                ":layers=[...]; comma-separated or repeated."),
    tasks: list[str] | None = typer.Option(None, "--tasks", help="Task names, comma-separated "
                                           "(default: the tasks of the corpora found)."),
    seeds: int = typer.Option(1, "--seeds", min=1, help="Seeds per cell."),
    out: Path = typer.Option(Path("bench_out"), "--out", help="Output folder (results.db, "
                             "report.html, fitted tokenizers, token cache)."),
    device: str = typer.Option("cpu", "--device", help="torch device: cpu, cuda, cuda:1, mps."),
    full: bool = typer.Option(False, "--full", help="Longer training and a bigger corpus."),
    run: str = typer.Option("", "--run", help="Run name (default: from --data)."),
    max_items: int | None = typer.Option(None, "--max-items", min=3,
                                         help="Cap each task split at this many items."),
    steps: int | None = typer.Option(None, "--steps", min=1,
                                     help="Training steps per head (default 100, --full 3000)."),
    threads: int | None = typer.Option(None, "--threads", min=1,
                                       help="torch CPU threads (default on --device cpu: 1; "
                                       "the heads are small, and extra threads mostly contend)."),
) -> None:
    """Benchmark tokenizers on downstream tasks; cells already in results.db are skipped."""
    from dataclasses import replace

    from rich.console import Console

    from ..bench.runner import FULL_TRAIN, QUICK_TRAIN, BenchConfig, run_benchmark
    from ..bench.tasks import task_names

    console = Console()
    wanted = _split(tasks)
    unknown = sorted(set(wanted) - set(task_names()))
    if unknown:
        raise typer.BadParameter(f"unknown task(s) {unknown}; known: {', '.join(task_names())}",
                                 param_hint="--tasks")
    if threads is not None or device == "cpu":
        import torch

        torch.set_num_threads(threads or 1)
    train = None
    if steps is not None:
        base = FULL_TRAIN if full else QUICK_TRAIN
        train = replace(base, max_steps=steps, eval_every=min(base.eval_every, steps))
    cfg = BenchConfig(out=out, tokenizers=_split(tokenizers), tasks=wanted, seeds=seeds,
                      data=data, device=device, full=full, run=run, max_items=max_items,
                      train=train)
    summary = run_benchmark(cfg)
    print_leaderboard(summary.db_path, summary.run, console)
    console.print(f"cells: {summary.trained} trained, {summary.count('skipped')} already done, "
                  f"{summary.count('failed')} failed, {summary.count('no-decoder')} not "
                  "measured (no decoder for a generative task), "
                  f"{summary.count('unsupported')} unsupported by the task's head")
    console.print(f"results: {summary.db_path}")
    if summary.report_path is not None:
        console.print(f"report:  {summary.report_path}")
    if summary.count("failed"):
        raise typer.Exit(code=1)


def print_leaderboard(db_path: Path, run: str, console: object) -> None:
    """The run's overall leaderboard (mean rank over tasks) as a rich table."""
    from rich.table import Table

    from ..bench.db import ResultsDB, summarize
    from ..bench.ranking import rank_results

    with ResultsDB(db_path, create=False) as db:
        results = db.results(run)
    if not results or all(r.task == "cost" for r in results):
        return
    ranking = rank_results(results)
    means = {(s.tokenizer, s.task): s for s in summarize(results)
             if ranking.primary.get(s.task) == s.metric}
    tasks = [t.task for t in ranking.overall.tasks]
    table = Table("#", "tokenizer", "tier", "mean rank",
                  *[f"{t} ({ranking.primary[t]})" for t in tasks], title=f"leaderboard: {run}")
    for row in ranking.overall.rows:
        cells = [f"{means[(row.tokenizer, t)].mean:.3f}" if (row.tokenizer, t) in means else "-"
                 for t in tasks]
        rank = "-" if row.mean_rank is None else f"{row.mean_rank:.2f}"
        table.add_row(str(row.position), row.tokenizer, row.bitrate_tier, rank, *cells)
    console.print(table)  # type: ignore[attr-defined]


def register(app: typer.Typer) -> None:
    """Add ``bench`` to the root app."""
    app.command("bench")(bench)
