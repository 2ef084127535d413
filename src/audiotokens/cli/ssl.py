"""``audiotokens fit ssl`` (the HuBERT recipe) and ``audiotokens ssl layers`` (token quality
per layer of a pretrained run)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import typer

__all__ = ["register", "fit_ssl_command", "recipe_config"]

_NOT_FOR_SSL = ("layers", "model", "bitrate", "codebooks", "target")
_ALIASES = {"steps": "max_steps"}


def recipe_config(flags: dict[str, Any], options: dict[str, Any]) -> Any:
    """Build a :class:`~audiotokens.ssl.recipe.RecipeConfig` from the ``fit`` flags (k,
    minutes, iterations, seed, device) and ``-o key=value`` options, each naming a field of
    the recipe or of its model / mask / batch / train configs; raises typer.BadParameter with
    the allowed names otherwise."""
    from ..ssl.data import BatchConfig
    from ..ssl.masking import MaskConfig
    from ..ssl.model import SSLModelConfig
    from ..ssl.recipe import RecipeConfig
    from ..ssl.trainer import TrainConfig

    for name in _NOT_FOR_SSL:
        if flags.get(name) is not None:
            hint = "TARGET" if name == "target" else f"--{name}"
            raise typer.BadParameter(f"`fit ssl` does not take {hint}", param_hint=hint)
    nested = {"model": SSLModelConfig, "mask": MaskConfig, "batch": BatchConfig,
              "train": TrainConfig}
    top = {f.name for f in dataclasses.fields(RecipeConfig)} - set(nested)
    values: dict[str, Any] = {k: v for k, v in flags.items()
                              if v is not None and k not in _NOT_FOR_SSL}
    parts: dict[str, dict[str, Any]] = {name: {} for name in nested}
    for key, value in options.items():
        key = _ALIASES.get(key, key)
        if key in top:
            values[key] = value
            continue
        owner = next((n for n, cls in nested.items()
                      if key in {f.name for f in dataclasses.fields(cls)}), None)
        if owner is None:
            allowed = sorted(top | {f.name for c in nested.values()
                                    for f in dataclasses.fields(c)} | set(_ALIASES))
            raise typer.BadParameter(f"unknown option '{key}' for `fit ssl`; allowed: "
                                     f"{', '.join(allowed)}", param_hint="-o")
        parts[owner][key] = value
    try:
        built = {name: cls(**parts[name]) for name, cls in nested.items()}
        return RecipeConfig(**values, **built)
    except (TypeError, ValueError) as err:
        hint = "--iterations" if "iterations" in str(err) else "-o"
        raise typer.BadParameter(str(err), param_hint=hint) from None


def fit_ssl_command(manifests: list[Path], out: Path | None, flags: dict[str, Any],
                    options: dict[str, Any]) -> None:
    """``audiotokens fit ssl``: run (or resume) the recipe, then print what it did."""
    from ..ssl.distributed import dist_from_env
    from ..ssl.recipe import fit_ssl

    if out is None:
        raise typer.BadParameter("where should the run go? (e.g. --out runs/ssl)",
                                 param_hint="--out")
    cfg = recipe_config(flags, options)
    _quiet_transformers()
    result = fit_ssl(manifests, out, cfg)
    if dist_from_env().is_main:
        _print_result(result)
        if (out / "layers.json").is_file():
            from ..ssl.layers import LayerReport

            print_layers(LayerReport.load(out / "layers.json"), out / "layers.json")


def _quiet_transformers() -> None:
    """No per-file progress bars from transformers' save/load in this CLI process."""
    from transformers.utils import logging

    logging.disable_progress_bar()


def print_layers(report: Any, path: Path | None = None) -> None:
    """The per-layer table: PNMI on the training items, PNMI / phone purity / cluster purity
    on held-out speakers; the best layer (by the stated rule) marked."""
    from rich.console import Console
    from rich.table import Table

    table = Table("source", "layer", "PNMI train", "PNMI held-out", "phone purity",
                  "cluster purity", title=f"k-means tokens (k={report.k}) vs phones")
    keys = sorted({(r.source, r.layer) for r in report.rows},
                  key=lambda key: (key[0].startswith("iter"), key))
    for source, layer in keys:
        train = report.get(source, layer, "train")
        held = report.get(source, layer, "held_out")
        best = (source, layer) == (report.best_source, report.best_layer)
        cells = [f"{train.pnmi:.3f}" if train else "-"]
        cells += [f"{getattr(held, name):.3f}" if held else "-"
                  for name in ("pnmi", "phone_purity", "cluster_purity")]
        name = f"[bold]{source}[/] (best)" if best else source
        table.add_row(name, str(layer) if source.startswith("iter") else "-", *cells)
    console = Console()
    console.print(table)
    console.print(f"best layer: {report.best_source} layer {report.best_layer} "
                  f"(rule: {report.rule})" + (f"; written to {path}" if path else ""))


def layers(
    run: Path = typer.Argument(..., help="A run folder written by `audiotokens fit ssl`."),
    manifests: list[Path] = typer.Option(..., "--manifest", "-m", help="Manifest(s) with "
                                         "phone alignments: split 'train' (or none) items "
                                         "choose the layer, 'test' items are held out."),
    k: int | None = typer.Option(None, "--k", help="Clusters (default: the run's k)."),
    max_items: int = typer.Option(300, "--max-items", min=1, help="Items scored per split."),
    out: Path | None = typer.Option(None, "--out", help="JSON to write (default "
                                    "RUN/layers.json)."),
) -> None:
    """Phone quality (PNMI, purities) of k-means tokens of every layer of every iteration,
    beside MFCC and log-mel k-means with the same k.

    Example:
      audiotokens ssl layers runs/ssl -m data/synth/all.jsonl
    """
    import json

    from ..ssl import SSLError
    from ..ssl.corpus import read_corpus
    from ..ssl.layers import score_run

    summary = run / "ssl.json"
    if not summary.is_file():
        raise SSLError(f"{run}: no ssl.json; is it a folder written by `audiotokens fit ssl`?")
    for path in manifests:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: manifest not found")
    saved = json.loads(summary.read_text())
    k = int(saved["k"]) if k is None else k
    iterations = [f"iter{it['iteration']}" for it in saved["iterations"]]
    _quiet_transformers()
    corpus = read_corpus(manifests)
    report = score_run(run, corpus.train, corpus.held_out, k, iterations, max_items)
    path = report.save(out or run / "layers.json")
    print_layers(report, path)


def export(
    run: Path = typer.Argument(..., help="A run folder written by `audiotokens fit ssl`."),
    out: Path = typer.Option(..., "--out", help="Folder to write the model into."),
    iteration: int | None = typer.Option(None, "--iteration", help="Iteration to export "
                                         "(default: the best layer's, from layers.json)."),
    dtype: str = typer.Option("float16", "--dtype", help="Stored weights: float16, "
                              "bfloat16 or float32 (loading upcasts to float32)."),
    manifest_names: list[str] = typer.Option([], "--manifest-name", help="Manifest names "
                                             "for the recorded command (default: the "
                                             "paths the run read)."),
    data_command: str | None = typer.Option(None, "--data-command", help="The command that "
                                            "made the data, recorded beside the weights."),
) -> None:
    """Export one iteration as small weights (config.json, model.safetensors, training.json
    with data, settings, steps, CPU time, per-layer scores and the reproduce command).

    Example:
      audiotokens ssl export runs/ssl --out models/my-ssl \\
          --data-command "audiotokens data synth --out data/synth --minutes 40"
    """
    from ..ssl.export import export_model

    _quiet_transformers()
    data = {"command": data_command} if data_command else None
    folder = export_model(run, out, iteration=iteration, dtype=dtype,
                          manifests=manifest_names or None, data=data)
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    typer.echo(f"wrote {folder} ({size / 2**20:.1f} MiB)")


def _print_result(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("iteration", "targets", "steps", "train s", "targets s", "audio h", "loss",
                  "masked acc", title=f"ssl pretraining -> {result.out}")
    for r in result.iterations:
        table.add_row(str(r.iteration), r.targets["source"], str(r.steps),
                      f"{r.train_seconds:.0f}", f"{r.target_seconds:.0f}", f"{r.audio_hours:.3f}",
                      f"{r.final.get('loss', float('nan')):.3f}",
                      f"{r.final.get('acc', float('nan')):.3f}")
    console = Console()
    console.print(table)
    console.print(f"model: [bold]{result.last_model}[/] (transformers HubertModel; use it as "
                  f"--model for `audiotokens fit hubert`)")


def register(app: typer.Typer) -> None:
    """Add the ``ssl`` command group to the root app."""
    group = typer.Typer(help="Self-supervised models pretrained with `audiotokens fit ssl`.",
                        no_args_is_help=True)
    group.command("layers")(layers)
    group.command("export")(export)
    app.add_typer(group, name="ssl")
