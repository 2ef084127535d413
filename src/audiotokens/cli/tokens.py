"""``audiotokens fit`` (train and save a tokenizer) and ``audiotokens encode`` (corpus -> store)."""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path
from typing import Any

import typer

from .parsing import comma_numbers

__all__ = ["register", "parse_options", "split_options"]

BITRATES = ("low", "medium", "high")
ENGINES = ("local", "ray")
MAX_LISTED_FAILURES = 20


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``["k=500", "layers=[3,7]", "model=x"]`` -> dict; values are JSON when they parse
    (numbers, lists, true/false), comma lists become lists, anything else stays a string."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected key=value, got {pair!r}", param_hint="-o")
        out[key.strip()] = _parse_value(raw.strip())
    return out


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        pass
    if "," in raw:
        return [_parse_value(part.strip()) for part in raw.split(",") if part.strip()]
    return raw


def split_options(cls: type, name: str, options: dict[str, Any],
                  flags: dict[str, str] | None = None) -> tuple[dict, dict]:
    """Split options into (config options, fit options) for tokenizer class ``cls``.

    An option is a config option when it names a field of ``cls.Config``, a fit option
    when ``cls.fit`` takes it; anything else raises listing the allowed ones (``flags`` maps
    an option to the CLI flag that set it, for the message).
    """
    from ..tokenizers.base import Tokenizer, TokenizerError

    config_fields = [f.name for f in dataclasses.fields(cls.Config)]
    params = list(inspect.signature(cls.fit).parameters.values())[2:]  # after self, manifest
    named = [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    takes_any = cls.fit is not Tokenizer.fit and any(p.kind == p.VAR_KEYWORD for p in params)
    config: dict[str, Any] = {}
    fit: dict[str, Any] = {}
    for key, value in options.items():
        if key in config_fields:
            config[key] = value
        elif key in named or takes_any:
            fit[key] = value
        else:
            flag = f" ({flags[key]})" if flags and key in flags else ""
            raise TokenizerError(
                f"option '{key}'{flag} is not known to tokenizer '{name}'; config options: "
                f"{', '.join(config_fields) or '-'}; fit options: {', '.join(named) or '-'}"
            )
    return config, fit


def _resolve(name_or_folder: str) -> tuple[type, Any]:
    """(tokenizer class, the loaded tokenizer if ``name_or_folder`` is a saved folder)."""
    from ..tokenizers.base import CONFIG_FILE, TokenizerError
    from ..tokenizers.registry import REGISTRY, load_tokenizer

    if (Path(name_or_folder) / CONFIG_FILE).is_file():
        tok = load_tokenizer(name_or_folder)
        return type(tok), tok
    entry = REGISTRY.get(name_or_folder)
    try:
        return entry.resolve(), None
    except (ImportError, AttributeError) as err:
        raise TokenizerError(f"tokenizer '{name_or_folder}' is not available here: {err}") from None


def _build(name_or_folder: str, options: dict[str, Any],
           flags: dict[str, str] | None = None) -> tuple[Any, dict[str, Any]]:
    """The tokenizer to fit and its fit options (``flags``: option -> CLI flag, for errors)."""
    from ..tokenizers.base import TokenizerError
    from ..tokenizers.registry import load_tokenizer

    cls, saved = _resolve(name_or_folder)
    config_opts, fit_opts = split_options(cls, name_or_folder, options, flags)
    if saved is not None:
        if config_opts:
            raise TokenizerError(f"{name_or_folder}: options {sorted(config_opts)} cannot change "
                                 "a saved tokenizer; fit from its registered name instead")
        return saved, fit_opts
    try:
        return load_tokenizer(name_or_folder, **config_opts), fit_opts
    except (ValueError, TypeError) as err:
        raise TokenizerError(f"tokenizer '{name_or_folder}': {err}") from None


def _check_device(device: str | None) -> None:
    if device is None or not device.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise typer.BadParameter(f"{device!r} requested but CUDA is not available here; "
                                 "use --device cpu", param_hint="--device")


def _layers(value: str | None) -> list[int] | None:
    if value is None:
        return None
    return list(comma_numbers(value, "--layers", what="layer numbers", example="3,7,12"))


def fit(
    tokenizer: str = typer.Argument(..., help="A registered name (see `audiotokens list`), a "
                                    "saved tokenizer folder to fit further, `vocoder`, or "
                                    "`ssl` (pretrain a HuBERT here)."),
    target: str | None = typer.Argument(None, help="With `fit vocoder`: the saved tokenizer "
                                        "folder to train a unit vocoder for."),
    manifests: list[Path] = typer.Option(..., "--manifest", "-m", help="JSONL manifest of "
                                         "the audio to fit on (`fit ssl`: repeatable)."),
    out: Path | None = typer.Option(None, "--out", help="Folder to save the fitted tokenizer "
                                    "in (`fit vocoder`: default the tokenizer folder)."),
    k: int | None = typer.Option(None, "--k", help="Clusters per codebook (k-means tokenizers)."),
    layers: str | None = typer.Option(None, "--layers", help="SSL layers, e.g. 3,7,12."),
    model: str | None = typer.Option(None, "--model", help="Hub id or local model folder."),
    bitrate: str | None = typer.Option(None, "--bitrate", help="Codec tier: low|medium|high "
                                       "(encodec, dac, mimi, rvq)."),
    codebooks: int | None = typer.Option(None, "--codebooks", help="Codebooks (config field "
                                         "n_codebooks): in use for encodec/dac/mimi, in the "
                                         "model for rvq."),
    minutes: float | None = typer.Option(None, "--minutes", help="k-means tokenizers: minutes "
                                         "of audio to fit on; rvq and `fit vocoder`: minutes of "
                                         "training (no step cap unless -o max_steps=N)."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (k-means tokenizers, "
                                    "rvq, vocoder)."),
    iterations: int | None = typer.Option(None, "--iterations", help="`fit ssl`: HuBERT "
                                          "iterations (default 2)."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1, mps."),
    option: list[str] = typer.Option([], "--option", "-o", help="Any other option, key=value "
                                      "(repeatable); goes to the config or to fit."),
) -> None:
    """Fit a tokenizer on a manifest and save it to a folder.

    Each option goes to the tokenizer's config if it is a config field,
    otherwise to its fit step (e.g. --minutes); an option the tokenizer
    does not take is an error that lists the ones it does.

    `fit vocoder FOLDER` trains a unit vocoder on the tokens of the saved
    tokenizer in FOLDER and saves it there, so its tokens decode to audio.

    Examples:
      audiotokens fit mel-kmeans -m train.jsonl --out runs/mel --k 500
      audiotokens fit vocoder runs/mel -m train.jsonl --minutes 10
      audiotokens fit hubert --model facebook/hubert-base-ls960 \\
          --layers 6,9 --k 500 -m train.jsonl --out runs/hubert \\
          --minutes 60 --device cuda
      audiotokens fit mel-kmeans -m train.jsonl --out runs/mel \\
          -o max_vectors=200000
      audiotokens fit ssl -m data/synth/all.jsonl --out runs/ssl --minutes 6

    `fit ssl` pretrains a small HuBERT on the manifests (see `audiotokens
    ssl --help`); re-running the same command resumes it.
    """
    from rich.console import Console

    from ..tokenizers.base import NotTrainableError
    from .info import info as show_info

    if bitrate is not None and bitrate not in BITRATES:
        raise typer.BadParameter(f"must be one of {', '.join(BITRATES)}, got {bitrate!r}",
                                 param_hint="--bitrate")
    _check_device(device)
    for path in manifests:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: manifest not found")
    if tokenizer == "ssl":
        from .ssl import fit_ssl_command

        flags = {"k": k, "minutes": minutes, "iterations": iterations, "seed": seed,
                 "device": device, "layers": layers, "model": model, "bitrate": bitrate,
                 "codebooks": codebooks, "target": target}
        fit_ssl_command(manifests, out, flags, parse_options(option))
        return
    if iterations is not None:
        raise typer.BadParameter("only `fit ssl` takes --iterations", param_hint="--iterations")
    if len(manifests) != 1:
        raise typer.BadParameter(f"`fit {tokenizer}` takes one manifest, got {len(manifests)} "
                                 "(only `fit ssl` takes several)", param_hint="--manifest")
    manifest = manifests[0]
    if tokenizer == "vocoder":
        if target is None:
            raise typer.BadParameter("name the saved tokenizer folder: audiotokens fit vocoder "
                                     "FOLDER --manifest M", param_hint="TARGET")
        from .vocoder import fit_vocoder

        extra = {"minutes": minutes, "seed": seed, "device": device}
        opts = {key: v for key, v in extra.items() if v is not None}
        fit_vocoder(target, manifest, out, {**opts, **parse_options(option)})
        return
    if target is not None:
        raise typer.BadParameter(f"unexpected extra argument {target!r} (only `fit vocoder` "
                                 "takes a second argument)", param_hint="TARGET")
    if out is None:
        raise typer.BadParameter("where should the fitted tokenizer go?", param_hint="--out")
    given = {"k": k, "layers": _layers(layers), "model": model, "bitrate": bitrate,
             "n_codebooks": codebooks, "minutes": minutes, "seed": seed}
    options = {key: v for key, v in given.items() if v is not None}
    flags = {key: "--codebooks" if key == "n_codebooks" else f"--{key}" for key in options}
    options.update(parse_options(option))
    tok, fit_opts = _build(tokenizer, options, flags)
    if device is not None:
        tok.to(device)
    console = Console()
    try:
        tok.fit(manifest, **fit_opts)
    except NotTrainableError:
        if fit_opts:
            raise
        console.print(f"[yellow]'{tok.name}' has nothing to fit; saving it as configured[/]")
    tok.save(out)
    show_info(str(out))
    console.print(f"saved to [bold]{out}[/]  (next: audiotokens encode {out} "
                  f"--manifest {manifest} --out tokens/)")


def encode(
    tokenizer: str = typer.Argument(..., help="A saved tokenizer folder (from `audiotokens fit`)"
                                    " or a registered name that needs no fitting."),
    manifest: Path = typer.Option(..., "--manifest", "-m", help="JSONL manifest to encode."),
    out: Path = typer.Option(..., "--out", help="Token store folder (created or resumed)."),
    batch_seconds: float = typer.Option(60.0, "--batch-seconds", min=0.001, help="Padded "
                                        "audio seconds per batch (lower it if memory is short)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:1, mps."),
    shard_items: int = typer.Option(1000, "--shard-items", min=1, help="Items per Parquet "
                                    "shard (each shard is a resume point)."),
    workers: int = typer.Option(4, "--workers", min=1, help="Threads loading audio ahead."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    chunk_seconds: float = typer.Option(60.0, "--chunk-seconds", min=0.001, help="Items "
                                        "longer than this are streamed and encoded in chunks "
                                        "of this many seconds (bounded memory)."),
    overlap_seconds: float = typer.Option(2.0, "--overlap-seconds", min=0.0, help="Audio "
                                          "context on each side of a chunk, seconds."),
    max_seconds: float = typer.Option(24 * 3600.0, "--max-seconds", min=0.001, help="Longest "
                                      "item to accept, seconds (longer ones fail)."),
    engine: str = typer.Option("local", "--engine", help="local (this process) or ray (Ray "
                               "Data workers; pip install \"audiotokens[ray]\")."),
    address: str | None = typer.Option(None, "--address", help="--engine ray: `auto` (the "
                                       "cluster of `ray start`) or HOST:PORT of a head node; "
                                       "default: a local Ray on this machine."),
    gpus_per_worker: float = typer.Option(0.0, "--gpus-per-worker", min=0.0, help="--engine "
                                          "ray: GPUs per worker (> 0: workers encode on CUDA)."),
    cpus_per_worker: float = typer.Option(1.0, "--cpus-per-worker", min=0.01, help="--engine "
                                          "ray: CPUs per worker (its torch threads)."),
    max_workers: int | None = typer.Option(None, "--max-workers", min=1, help="--engine ray: "
                                           "workers (default: as many as the cluster holds)."),
) -> None:
    """Encode every item of a manifest into a token store, resumably.

    The store is a folder of Parquet shards. Re-running the same command
    skips items already encoded, so an interrupted job just continues.
    Unreadable files are skipped and listed in OUT/errors.jsonl; the exit
    status is 0 when the job completed, even if some items failed. Items
    longer than --chunk-seconds (audiobooks, meetings) are streamed from
    disk and encoded in overlapping chunks, so memory stays flat.

    Examples:
      audiotokens encode runs/mel -m corpus.jsonl --out tokens/mel
      audiotokens encode mulaw -m corpus.jsonl --out tokens/mulaw
      audiotokens encode runs/hubert -m corpus.jsonl --out tokens/hu \\
          --device cuda --batch-seconds 300
      audiotokens encode runs/hubert -m corpus.jsonl --out /shared/tokens/hu \\
          --engine ray --address auto --gpus-per-worker 1

    With --engine ray, Ray Data workers encode the shards (on every node
    of a cluster: the store, audio and model files must be on a shared
    filesystem); the tokens are the same as a local run's.
    """
    from ..encode import encode_manifest
    from ..tokenizers.base import TokenizerError
    from ..tokenizers.registry import load_tokenizer

    _check_device(device)
    ray_engine = _engine(engine, device, address, gpus_per_worker, cpus_per_worker, max_workers)
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: manifest not found")
    _resolve(tokenizer)  # a clear error for unknown or unavailable names
    tok = load_tokenizer(tokenizer)
    if not tok.info.fitted:
        raise TokenizerError(f"tokenizer '{tokenizer}' is not fitted; run `audiotokens fit "
                             f"{tokenizer} --manifest ... --out DIR` and encode with DIR")
    from ..longform import ChunkConfig

    summary = encode_manifest(tok, manifest, out, batch_seconds=batch_seconds,
                              device=None if ray_engine is not None else device,
                              shard_items=shard_items, workers=workers, progress=progress,
                              chunking=ChunkConfig(chunk_seconds, overlap_seconds),
                              max_seconds=max_seconds, engine=ray_engine)
    _print_summary(summary)


def _engine(engine: str, device: str, address: str | None, gpus_per_worker: float,
            cpus_per_worker: float, max_workers: int | None) -> Any:
    """None for the local engine, else a RayEngine; Ray-only flags are refused locally."""
    if engine not in ENGINES:
        raise typer.BadParameter(f"must be one of {', '.join(ENGINES)}, got {engine!r}",
                                 param_hint="--engine")
    if engine == "local":
        given = {"--address": address is not None, "--gpus-per-worker": gpus_per_worker > 0,
                 "--cpus-per-worker": cpus_per_worker != 1.0,
                 "--max-workers": max_workers is not None}
        if any(given.values()):
            flags = ", ".join(flag for flag, on in given.items() if on)
            raise typer.BadParameter(f"{flags} only apply with --engine ray",
                                     param_hint="--engine")
        return None
    if device != "cpu":
        raise typer.BadParameter("with --engine ray, use --gpus-per-worker N for CUDA workers",
                                 param_hint="--device")
    try:
        import ray  # noqa: F401
    except ImportError:
        raise typer.BadParameter('Ray is not installed here: pip install "audiotokens[ray]"',
                                 param_hint="--engine") from None
    from ..encode_ray import RayConfig, RayEngine

    return RayEngine(RayConfig(address=address, max_workers=max_workers,
                               cpus_per_worker=cpus_per_worker,
                               gpus_per_worker=gpus_per_worker))


def _print_summary(summary: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"encode -> {summary.store}", show_header=False)
    rows = [
        ("items in manifest", f"{summary.total}"),
        ("encoded now", f"{summary.encoded}"),
        ("skipped (already done)", f"{summary.skipped_done}"),
        ("failed", f"{len(summary.failed)}"),
        ("audio encoded", f"{summary.audio_seconds:,.1f} s"),
        ("wall time", f"{summary.wall_seconds:,.1f} s"),
        ("throughput", f"{summary.throughput:,.1f}x real time"),
        ("shards written", f"{summary.shards_written}"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    if summary.failed:
        failures = Table("id", "reason", title="failed items")
        for item_id, reason in summary.failed[:MAX_LISTED_FAILURES]:
            failures.add_row(item_id, reason)
        console.print(failures)
        more = len(summary.failed) - MAX_LISTED_FAILURES
        if more > 0:
            console.print(f"... and {more} more")
        console.print(f"all failures: {summary.errors_path}")


def register(app: typer.Typer) -> None:
    """Add ``fit`` and ``encode`` to the root app."""
    app.command("fit")(fit)
    app.command("encode")(encode)
