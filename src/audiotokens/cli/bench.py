"""``audiotokens bench``: run the benchmark (resumable) and print the leaderboard."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from ..bench.ranking import RankedScore

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
    seeds: int = typer.Option(3, "--seeds", min=1, help="Seeds per cell (for the 95 % CIs)."),
    out: Path = typer.Option(Path("bench_out"), "--out", help="Output folder (results.db, "
                             "report.html, fitted tokenizers, token cache)."),
    device: str = typer.Option("cpu", "--device", help="torch device: cpu, cuda, cuda:1, mps."),
    full: bool = typer.Option(False, "--full", help="Longer training and a bigger corpus."),
    run: str = typer.Option("", "--run", help="Run name (default: from --data)."),
    max_items: int | None = typer.Option(None, "--max-items", min=3,
                                         help="Cap each task split at this many items."),
    steps: int | None = typer.Option(None, "--steps", min=1,
                                     help="Step budget per head (default: each head trains "
                                     "until its validation metric stops improving, at most "
                                     "2000 steps, ASR 3000; --full 5000)."),
    jobs: int = typer.Option(2, "--jobs", "-j", min=1, help="Worker processes: tokenizers run "
                             "side by side, one torch thread each on the CPU (1: one process)."),
    tokens: Path | None = typer.Option(None, "--tokens", help="A token store made elsewhere "
                                       "(`audiotokens encode`) by the one --tokenizers given "
                                       "(same checksum), holding every item the tasks read; "
                                       "read instead of encoding."),
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
                      train=train, jobs=jobs, tokens=tokens)
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


def print_leaderboard(db_path: Path, run: str, console: Console) -> None:
    """The run's leaderboards (discriminative, generative) as rich tables: per task the mean
    (± 95 % CI over seeds) and its rank; "at chance" where the CI reaches the task's chance
    level; entries missing a task are listed with their coverage, unranked."""
    from rich.table import Table

    from ..bench.db import ResultsDB
    from ..bench.ranking import rank_results

    with ResultsDB(db_path, create=False) as db:
        results, boards, primaries = db.results(run), db.boards(run), db.primaries(run)
    if not results or all(r.task == "cost" for r in results):
        return
    ranking = rank_results(results, primaries, boards=boards)
    for name, board in ranking.boards.items():
        tasks = board.tasks
        table = Table("#", "tokenizer", "tier", "mean rank", "tasks",
                      *[f"{t.task} ({t.metric} {'↑' if t.higher_is_better else '↓'})"
                        for t in tasks], title=f"{name} leaderboard: {run}")
        for row in board.rows:
            cells = []
            for t in tasks:
                s = t.score((row.tokenizer, row.bitrate_tier))
                cells.append("-" if s is None else _score_text(s))
            rank = "-" if row.mean_rank is None else f"{row.mean_rank:.2f}"
            table.add_row("-" if row.position is None else str(row.position), row.tokenizer,
                          row.bitrate_tier, rank, row.coverage, *cells)
        console.print(table)
    console.print("ranks: entries whose 95 % CIs overlap share a rank; an entry missing a "
                  "task of its board is listed with its coverage and not ranked.")


def _score_text(s: RankedScore) -> str:
    """"0.412 ± 0.031 (#2)", with "at chance" when the CI reaches the chance level."""
    ci = "" if s.ci95 is None else f" ± {s.ci95:.3f}"
    return f"{s.value:.3f}{ci} (#{s.rank})" + (" [yellow]at chance[/]" if s.at_chance else "")


def register(app: typer.Typer) -> None:
    """Add ``bench`` to the root app."""
    app.command("bench")(bench)
