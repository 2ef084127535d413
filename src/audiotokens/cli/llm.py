"""``audiotokens llm vocab|bpe|probe`` (tokens for LLMs) and ``audiotokens export hf``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

__all__ = ["register", "tokenizer_info"]

TEXT_TOKENIZER_DIR = "text_tokenizer"

llm_app = typer.Typer(name="llm", no_args_is_help=True,
                      help="Map tokens onto an LLM vocabulary, compress them with BPE, and "
                      "probe them with a tiny LM.")
export_app = typer.Typer(name="export", no_args_is_help=True,
                         help="Export a token store to other formats.")


def tokenizer_info(spec: str) -> Any:
    """TokenizerInfo of a token store folder, a saved tokenizer folder, or a registered
    name / ``name:key=value`` spec."""
    from ..bench.runner import parse_tokenizer_spec
    from ..store import TOKENIZER_FILE, TokenStore
    from ..tokenizers.base import CONFIG_FILE, TokenizerError
    from ..tokenizers.registry import load_tokenizer
    from .tokens import _resolve

    folder = Path(spec)
    if (folder / TOKENIZER_FILE).is_file() and not (folder / CONFIG_FILE).is_file():
        return TokenStore.open(folder).info
    try:
        name, options = parse_tokenizer_spec(spec)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="TOKENIZER") from None
    _resolve(name)  # a clear error for unknown or unavailable names
    try:
        return load_tokenizer(name, **options).info
    except (ValueError, TypeError) as err:
        raise TokenizerError(f"tokenizer '{spec}': {err}") from None


@llm_app.command("vocab")
def vocab(
    tokenizer: str = typer.Argument(..., help="A saved tokenizer folder, a token store, or a "
                                    "registered name / spec (e.g. mulaw, 'rvq:n_codebooks=4')."),
    out: Path = typer.Option(..., "--out", help="Folder for llm_vocab.json (and, with --base, "
                             f"the extended tokenizer in {TEXT_TOKENIZER_DIR}/)."),
    base: Path | None = typer.Option(None, "--base", help="A local transformers text tokenizer "
                                     "folder (save_pretrained) to extend with the audio tokens."),
    reserved: int = typer.Option(0, "--reserved", min=0, help="Spare special-token slots, so "
                                 "specials added later keep every other id."),
) -> None:
    """Give each codebook a contiguous LLM id range after a block of special tokens.

    With --base, the text tokenizer gets the special and audio tokens in one
    add_tokens call; the new ids are checked to be exactly the spec's ids
    (after the text vocabulary) and the result is saved next to the spec.

    Examples:
      audiotokens llm vocab runs/mel500 --out llm/mel500
      audiotokens llm vocab runs/rvq --base ~/models/my-llm --out llm/rvq
    """
    from rich.console import Console
    from rich.table import Table

    from ..llm import LLMVocab
    from ..llm.text import check_ids, extend_text_tokenizer, load_text_tokenizer

    info = tokenizer_info(tokenizer)
    if base is not None:
        extended = extend_text_tokenizer(load_text_tokenizer(base), info, reserved=reserved)
        spec = extended.vocab
        extended.tokenizer.save_pretrained(str(out / TEXT_TOKENIZER_DIR))
        check_ids(load_text_tokenizer(out / TEXT_TOKENIZER_DIR), spec)  # reloads the same
    else:
        spec = LLMVocab(info, reserved=reserved)
    path = spec.save(out)
    table = Table("range", "first id", "ids", title=f"LLM vocabulary for '{info.name}'")
    if spec.base_size:
        table.add_row("text", "0", str(spec.base_size))
    for r in (spec.special_range, *spec.ranges):
        table.add_row(r.name, str(r.start), str(r.size))
    table.add_row("total", "", str(spec.size))
    console = Console()
    console.print(table)
    console.print(f"wrote {path}" + (f" and {out / TEXT_TOKENIZER_DIR}" if base else ""))


@llm_app.command("bpe")
def bpe(
    tokens: Path = typer.Argument(..., help="A token store (from `audiotokens encode`)."),
    vocab_size: int = typer.Option(..., "--vocab-size", min=1, help="BPE vocabulary size "
                                   "(at least the sum of the codebook sizes)."),
    out: Path = typer.Option(..., "--out", help="Folder for bpe.json + bpe_config.json."),
    dedup: bool = typer.Option(False, "--dedup/--no-dedup", help="Collapse repeated frames "
                               "first (run lengths are kept, so decoding stays exact)."),
    min_frequency: int = typer.Option(2, "--min-frequency", min=1, help="Merge only pairs "
                                      "seen at least this often."),
) -> None:
    """Train BPE over a token store and print the sequence-length reduction.

    Every item is encoded and decoded back after training; a mismatch is an
    error, so the printed numbers are for an exact round trip.

    Example:
      audiotokens llm bpe tokens/mel500 --vocab-size 4000 --dedup --out llm/mel500-bpe
    """
    from rich.console import Console
    from rich.table import Table

    from ..llm import TokenBPE
    from ..store import StoreError, TokenStore

    store = TokenStore.open(tokens)
    if len(store) == 0:
        raise StoreError(f"{tokens}: the store is empty; nothing to train on")
    model = TokenBPE.train((t for _, t in store), store.info, vocab_size, dedup=dedup,
                           min_frequency=min_frequency)
    model.save(out)
    r = model.report(t for _, t in store)
    seconds = r.frames / store.info.frame_rate
    table = Table(title=f"BPE over {tokens} ({store.name})", show_header=False)
    rows = [("items", f"{r.items}"), ("audio", f"{seconds:,.1f} s"),
            ("codes (frames x codebooks)", f"{r.codes:,}  ({r.codes / seconds:,.1f}/s)"),
            ("after dedup" if dedup else "symbols", f"{r.symbols:,}"),
            ("BPE tokens", f"{r.bpe_tokens:,}  ({r.bpe_tokens / seconds:,.1f}/s)"),
            ("reduction", f"{r.reduction:.2f}x shorter"),
            ("vocabulary", f"{r.vocab_size:,} (asked {vocab_size:,})"),
            ("vocabulary used", f"{r.vocab_used:,} ({100 * r.vocab_use:.1f}%)"),
            ("round trip", "exact on every item")]
    for key, value in rows:
        table.add_row(key, value)
    Console().print(table)
    Console().print(f"wrote {out}")


@llm_app.command("probe")
def probe(
    tokens: Path = typer.Argument(..., help="A token store (from `audiotokens encode`)."),
    manifest: Path = typer.Option(..., "--manifest", "-m", help="The manifest the store was "
                                  "encoded from: its 'split' field gives train/valid/test."),
    db: Path = typer.Option(Path("results.db"), "--db", help="Results database to add to "
                            "(e.g. a bench run's, to rank next to its boards)."),
    run: str = typer.Option("lm-probe", "--run", help="Run name in the database."),
    label: str = typer.Option("", "--label", help="Entry name (default: the tokenizer's name, "
                              "plus (STREAM) for a non-plain stream)."),
    layout: str = typer.Option("flatten", "--layout", help="flatten (one code per step), "
                               "delay (MusicGen: all codebooks per step) or bpe."),
    bpe_vocab: int | None = typer.Option(None, "--bpe-vocab", min=1, help="BPE vocabulary "
                                         "size (with --layout bpe; trained on train items)."),
    dedup: bool = typer.Option(False, "--dedup/--no-dedup", help="Collapse repeated frames "
                               "first (run lengths are not modelled)."),
    codebooks: int | None = typer.Option(None, "--codebooks", min=1, help="Model only the "
                                         "first N codebooks."),
    tokenizer: str | None = typer.Option(None, "--tokenizer", help="The store's tokenizer "
                                         "(saved folder or registered name), to encode the "
                                         "minimal pairs with."),
    pairs: Path | None = typer.Option(None, "--pairs", help="A minimal-pairs folder (`data "
                                      "minimal-pairs`); made there when missing. Default with "
                                      "--tokenizer: minimal-pairs/ next to --db."),
    pairs_tokens: Path | None = typer.Option(None, "--pairs-tokens", help="The pairs already "
                                             "encoded (`encode` of PAIRS/all.jsonl) instead "
                                             "of --tokenizer."),
    seeds: int = typer.Option(3, "--seeds", min=1, help="Seeds (mean ± 95 % CI)."),
    max_steps: int | None = typer.Option(None, "--max-steps", min=1, help="Step budget of "
                                         "each LM (default 1500; early stopping first)."),
    max_items: int | None = typer.Option(None, "--max-items", min=1, help="At most N items "
                                         "per split (evenly spread)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:1, mps."),
) -> None:
    """Train a tiny causal LM on a token store's stream and score it.

    Per seed, an LSTM LM trains on the train items, stops early on the
    valid items' NLL and is scored on the test items: bits per second
    (total NLL in bits / audio seconds, comparable across frame rates,
    layouts, dedup and BPE), bits and NLL per token. With minimal pairs
    (a real word vs a one-phone pseudo-word, same voice), the share of
    pairs whose word gets the higher total log-probability (sWUGGY's rule).
    Results go to the database under the 'language' board: rank entries
    with `audiotokens report DB`.

    Examples:
      audiotokens llm probe tokens/mel -m corpus/all.jsonl --tokenizer runs/mel
      audiotokens llm probe tokens/mel -m corpus/all.jsonl --dedup --db out/results.db
      audiotokens llm probe tokens/rvq -m corpus/all.jsonl --layout delay
    """
    from dataclasses import replace

    from rich.console import Console

    from ..bench.db import ResultsDB
    from ..bench.lm_probe import PROBE_TRAIN, ProbeConfig, pair_frames, probe_store
    from ..data.manifest import read_manifest
    from ..data.minimal_pairs import PAIRS_FILE, read_pairs, synthesize_pairs
    from ..llm.stream import StreamConfig
    from ..store import TokenStore
    from ..tokenizers.registry import load_tokenizer
    from .bench import print_leaderboard

    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: manifest not found")
    if tokenizer is not None and pairs_tokens is not None:
        raise typer.BadParameter("give --tokenizer or --pairs-tokens, not both",
                                 param_hint="--pairs-tokens")
    if pairs_tokens is not None and pairs is None:
        raise typer.BadParameter("--pairs-tokens needs --pairs (the folder they were encoded "
                                 "from)", param_hint="--pairs")
    if pairs is not None and tokenizer is None and pairs_tokens is None:
        raise typer.BadParameter("--pairs needs --tokenizer (to encode them) or "
                                 "--pairs-tokens", param_hint="--pairs")
    try:
        stream = StreamConfig(layout, codebooks, dedup, bpe_vocab)
        train = PROBE_TRAIN if max_steps is None else replace(
            PROBE_TRAIN, max_steps=max_steps, min_steps=min(PROBE_TRAIN.min_steps, max_steps))
        cfg = ProbeConfig(stream, train, seeds, run, label, max_items, device=device)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    store = TokenStore.open(tokens)
    console = Console()
    pair_set = frames = None
    if tokenizer is not None or pairs_tokens is not None:
        folder = pairs if pairs is not None else db.parent / "minimal-pairs"
        made = (folder / PAIRS_FILE).is_file()
        pair_set = read_pairs(folder) if made else synthesize_pairs(folder)
        tok = None if tokenizer is None else load_tokenizer(tokenizer)
        frames = pair_frames(pair_set, store, pairs_tokens, tok)
        console.print(f"minimal pairs: {len(pair_set.pairs)} in {folder}"
                      + ("" if made else " (synthesized now)"))
    with ResultsDB(db) as results:
        summary = probe_store(store, read_manifest(manifest), results, cfg, pair_set, frames,
                              console)
    splits = ", ".join(f"{k} {v}" for k, v in summary.splits.items())
    console.print(f"{summary.label} ({summary.tier}): stream {summary.stream}, ids per step "
                  f"{list(summary.columns)}; items {splits}"
                  + (f"; {summary.missing} manifest item(s) not in the store"
                     if summary.missing else ""))
    done = sum(o.status == "done" for o in summary.outcomes)
    console.print(f"{done} seed(s) trained, {len(summary.outcomes) - done} already in {db}")
    print_leaderboard(db, run, console)


@export_app.command("hf")
def export_hf(
    tokens: Path = typer.Argument(..., help="A token store (from `audiotokens encode`)."),
    out: Path = typer.Option(..., "--out", help="Output folder (dataset/ + data/*.parquet)."),
    manifest: Path | None = typer.Option(None, "--manifest", "-m", help="The manifest the "
                                         "store was encoded from, to join text, speaker, "
                                         "label and split by id."),
    rows_per_file: int = typer.Option(50_000, "--rows-per-file", min=1, help="Rows per "
                                      "Parquet file."),
) -> None:
    """Write a token store as a Hugging Face `datasets` dataset and Parquet files.

    Example:
      audiotokens export hf tokens/mel500 -m data/synth/all.jsonl --out hf/mel500
      python -c "import datasets; print(datasets.load_from_disk('hf/mel500/dataset'))"
    """
    from ..export import export_hf as run_export

    if manifest is not None and not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: manifest not found")
    summary = run_export(tokens, out, manifest, rows_per_file=rows_per_file)
    splits = ", ".join(f"{k} {v}" for k, v in summary.splits.items())
    typer.echo(f"exported {summary.rows} items ({splits}) to {summary.dataset_dir} and "
               f"{len(summary.parquet_files)} Parquet file(s) in {out / 'data'}")
    if summary.unmatched_manifest_items:
        typer.echo(f"note: {summary.unmatched_manifest_items} manifest item(s) are not in the "
                   "store (failed or not encoded yet)")


def register(app: typer.Typer) -> None:
    """Add the ``llm`` and ``export`` sub-apps to the root app."""
    app.add_typer(llm_app, name="llm")
    app.add_typer(export_app, name="export")
