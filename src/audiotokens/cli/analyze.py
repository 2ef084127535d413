"""``audiotokens analyze``: what the tokens in a store say about phones and speakers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

__all__ = ["register"]

PREVIEW_PHONES = 12  # phones shown in the printed token map (all are in the files)
PREVIEW_TOKENS = 6


def analyze(
    tokens: Path = typer.Argument(..., help="A token store folder (from `audiotokens encode`)."),
    manifest: Path = typer.Option(..., "--manifest", "-m", help="The JSONL manifest the store "
                                  "was encoded from (alignments and speakers are read here)."),
    out: Path | None = typer.Option(None, "--out", help="Folder for analysis.json, CSVs and "
                                    "plots (default: TOKENS/analysis)."),
    top: int = typer.Option(3, "--top", min=1, help="Phones listed per token."),
    skip_silence: bool = typer.Option(False, "--skip-silence", help="Leave frames no phone "
                                      "covers out of purity and PNMI."),
    probe_items: int = typer.Option(50, "--probe-items", min=2, help="Items per speaker at most "
                                    "in the speaker probe."),
    permutations: int = typer.Option(20, "--permutations", min=0, help="Shuffled-label probes "
                                     "for the permutation baseline."),
    seed: int = typer.Option(0, "--seed", help="Seed of the probe's split and permutations."),
) -> None:
    """Token usage, phone purity / PNMI, speaker leakage and a token -> phone map.

    Per codebook: the share of the vocabulary used, entropy (bits) and
    perplexity; against the manifest's phone alignments: phone purity,
    cluster purity and PNMI (HuBERT paper definitions) and, per token, its
    most likely phones. Speaker leakage is the test accuracy of a linear
    probe on per-utterance token histograms (split by utterance within each
    speaker) against chance and a shuffled-label baseline.

    Examples:
      audiotokens analyze tokens/mel -m data/synth/all.jsonl
      audiotokens analyze tokens/hubert -m data/libri.jsonl --out runs/hubert/analysis
    """
    from ..analysis.analyze import AnalyzeConfig, analyze_store
    from ..analysis.leakage import ProbeConfig
    from ..analysis.report import write_analysis

    if not tokens.is_dir():
        raise FileNotFoundError(f"{tokens}: token store folder not found (create one with "
                                "`audiotokens encode`)")
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: manifest not found")
    config = AnalyzeConfig(top_phones=top, skip_silence=skip_silence,
                           max_probe_items_per_speaker=probe_items,
                           probe=ProbeConfig(n_permutations=permutations, seed=seed))
    result = analyze_store(tokens, manifest, config)
    files = write_analysis(result, out if out is not None else tokens / "analysis")
    _print_summary(result, files)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def _print_summary(a: Any, files: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    title = (f"analyze {a.store}  ({a.info.name}, {a.n_items} items, {a.n_frames:,} frames "
             f"at {a.info.frame_rate:g}/s)")
    table = Table("codebook", "vocab", "used", "entropy bits", "perplexity", "PNMI",
                  "PNMI shuffled", "phone purity", "cluster purity", title=title)
    for cb in a.codebooks:
        u, p = cb.usage, cb.phones
        table.add_row(cb.name, f"{u.vocab_size}", f"{u.n_used} ({u.usage:.0%})",
                      _fmt(u.entropy_bits, 2), _fmt(u.perplexity, 1),
                      _fmt(p.pnmi if p else None), _fmt(cb.pnmi_shuffled),
                      _fmt(p.phone_purity if p else None),
                      _fmt(p.cluster_purity if p else None))
    console.print(table)
    skipped = a.n_not_in_manifest
    if skipped:
        console.print(f"[yellow]{skipped} stored items are not in the manifest (left out)[/]")
    if a.phone_message:
        console.print(f"[yellow]{a.phone_message}[/]")
    else:
        console.print(f"phone metrics over {a.n_aligned} aligned items "
                      f"({a.n_unaligned} without alignment left out), {len(a.inventory)} phones "
                      "incl. silence; 'PNMI shuffled' is the score of tokens shuffled across "
                      "frames (the estimate's bias on this many frames)")
    if a.leakage is None:
        console.print(f"[yellow]{a.leakage_message}[/]")
    else:
        r = a.leakage
        console.print(f"speaker leakage: probe accuracy {r.accuracy:.3f} "
                      f"[{r.ci_low:.3f}, {r.ci_high:.3f}] vs chance {r.chance:.3f}, shuffled "
                      f"labels {_fmt(r.permutation_mean)} (p = {_fmt(r.permutation_p)}); "
                      f"{r.n_speakers} speakers, {r.n_train} train / {r.n_test} test items")
    first = next((cb for cb in a.codebooks if cb.token_map is not None), None)
    if first is not None:
        _print_map(console, first)
    console.print(f"wrote {files.json.parent}/ ({files.json.name}, {files.codebooks_csv.name}"
                  + ("".join(f", {p.name}" for p in files.plots)) + ")")


def _print_map(console: Any, cb: Any) -> None:
    from rich.table import Table

    phones = sorted(cb.token_map.phones, key=lambda p: -p.count)[:PREVIEW_PHONES]
    table = Table("phone", "frames", "tokens standing for it: id (p(phone|token))", "coverage",
                  title=f"{cb.name}: tokens per phone (most frequent phones)")
    for p in phones:
        shown = ", ".join(f"{t} ({purity:.2f})" for t, purity, _ in p.tokens[:PREVIEW_TOKENS])
        more = len(p.tokens) - PREVIEW_TOKENS
        table.add_row(p.phone, f"{p.count}", (shown or "none") + (f", +{more}" if more > 0
                                                                   else ""), f"{p.coverage:.0%}")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``analyze`` to the root app."""
    app.command("analyze")(analyze)
