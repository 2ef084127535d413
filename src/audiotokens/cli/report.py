"""``audiotokens report``: a results database -> one self-contained HTML report."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register", "parse_primary"]


def parse_primary(items: list[str]) -> dict[str, str]:
    """``["asr=wer", "kws=accuracy"]`` -> ``{"asr": "wer", "kws": "accuracy"}``."""
    out = {}
    for item in items:
        task, sep, metric = item.partition("=")
        if not sep or not task or not metric:
            raise typer.BadParameter(f"'{item}': expected TASK=METRIC, e.g. asr=wer")
        out[task] = metric
    return out


def report(
    db: Path = typer.Argument(..., help="results.db written by `audiotokens bench`."),
    out: Path = typer.Option(Path("report.html"), "--out", help="HTML file to write."),
    run: str | None = typer.Option(None, "--run", help="Only this run (default: every run)."),
    primary: list[str] = typer.Option(
        [], "--primary", help="TASK=METRIC to rank a task on (default: its first metric)."),
) -> None:
    """Write an HTML report: leaderboards, per-task tables, plots, costs and audio samples."""
    from ..bench.db import ResultsDBError
    from ..bench.report import write_report

    declared = parse_primary(primary)
    try:
        summary = write_report(db, out, run=run, primary=declared)
    except (ResultsDBError, ValueError) as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"wrote {summary.path}: {len(summary.runs)} run(s), {summary.n_results} results, "
               f"{summary.n_images} plots, {summary.n_audio} audio samples")
    for note in summary.notes:
        typer.secho(f"note: {note}", fg=typer.colors.YELLOW, err=True)


def register(app: typer.Typer) -> None:
    """Add ``report`` to the root app."""
    app.command("report")(report)
