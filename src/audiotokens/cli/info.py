"""``audiotokens info`` and ``audiotokens list``."""

from __future__ import annotations

import typer

__all__ = ["register"]


def info(
    tokenizer: str = typer.Argument(..., help="A saved tokenizer folder, or a registered name."),
) -> None:
    """Show a tokenizer's sample rate, frame rate, codebooks, vocab sizes and bitrate."""
    from rich.console import Console
    from rich.table import Table

    from ..tiers import bitrate_tier
    from ..tokenizers.registry import load_tokenizer

    tok = load_tokenizer(tokenizer)
    i = tok.info
    table = Table(title=f"{tok.name}  ({tokenizer})", show_header=False)
    rows = [
        ("kind", i.kind),
        ("source", i.source or "-"),
        ("sample rate", f"{i.sample_rate} Hz"),
        ("frame rate", f"{i.frame_rate:g} frames/s"),
        ("codebooks", f"{i.n_codebooks}  ({', '.join(i.codebook_names)})"),
        ("vocab sizes", ", ".join(str(v) for v in i.vocab_sizes)),
        ("bitrate", f"{i.bitrate_bps:,.0f} bps ({bitrate_tier(i.bitrate_bps)} tier)"),
        ("decoder", "yes" if i.has_decoder else "no"),
        ("fitted", "yes" if i.fitted else "no (run `audiotokens fit`)"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    Console().print(table)


def list_tokenizers() -> None:
    """List the registered tokenizer names."""
    from rich.console import Console
    from rich.table import Table

    from ..tokenizers.registry import REGISTRY

    table = Table("name", "what it is")
    for name in REGISTRY.names():
        table.add_row(name, REGISTRY.get(name).summary)
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.command("info")(info)
    app.command("list")(list_tokenizers)
