"""``audiotokens resynth``: encode + decode a manifest with a tokenizer and score the audio."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer

__all__ = ["register", "parse_options"]


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``["mode=1200", "bitrate=low"]`` -> ``{"mode": 1200, "bitrate": "low"}`` (JSON values
    where they parse, else strings)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--option")
        try:
            options[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            options[key.strip()] = raw
    return options


def _fmt(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def resynth(
    tokenizer: str = typer.Argument(..., help="A registered name or a saved tokenizer folder."),
    manifest: Path = typer.Option(..., "--manifest", "-m", help="JSONL manifest of audio."),
    out: Path = typer.Option(..., "--out", help="Output folder (audio/, metrics.csv/json)."),
    limit: int | None = typer.Option(None, "--limit", "-n", min=1, help="First N items only."),
    device: str = typer.Option("cpu", "--device", "-d", help="cpu, cuda, cuda:1, mps."),
    option: list[str] = typer.Option(
        [], "--option", "-o", help="Tokenizer option KEY=VALUE (repeatable), e.g. bitrate=low."
    ),
) -> None:
    """Encode + decode each item, write the decoded wavs and PESQ/STOI/SI-SDR/mel scores."""
    from rich.console import Console
    from rich.table import Table

    from ..resynth import resynth_manifest
    from ..tokenizers.registry import load_tokenizer

    try:
        tok = load_tokenizer(tokenizer, **parse_options(option)).to(device)
    except (TypeError, ValueError) as err:
        raise typer.BadParameter(str(err), param_hint="--option") from None
    console = Console()
    with console.status(f"resynthesizing with {tok.name} ..."):
        report = resynth_manifest(tok, manifest, out, limit=limit)
    table = Table(title=f"{tok.name}: {report.bitrate_bps:,.0f} bps, "
                        f"{report.sample_rate} Hz  ->  {out}")
    columns = {"pesq_wb": ("PESQ-WB", 2), "pesq_nb": ("PESQ-NB", 2), "stoi": ("STOI", 3),
               "si_sdr": ("SI-SDR dB", 1), "mel_distance": ("mel dist", 3)}
    for col in ("id", "seconds", *(c for c, _ in columns.values()), "notes"):
        table.add_column(col, justify="left" if col in ("id", "notes") else "right")
    for it in report.items:
        m = it.metrics
        table.add_row(it.id, f"{it.duration:.2f}",
                      *(_fmt(getattr(m, k), d) for k, (_, d) in columns.items()),
                      "; ".join(m.notes))
    mean = report.mean
    table.add_row("mean", "", *(_fmt(mean.get(k, math.nan), d) for k, (_, d) in columns.items()),
                  "", style="bold")
    scored = report.summaries
    table.add_row("scored", "", *(f"{scored[k].n_scored}/{scored[k].n_items}" for k in columns),
                  "")
    console.print(table)
    for summary in scored.values():
        if summary.n_failed:
            console.print(f"[yellow]{summary.line()}[/]", markup=True, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``resynth`` to the root app."""
    app.command("resynth")(resynth)
