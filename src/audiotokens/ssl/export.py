"""Export one iteration of a pretraining run as small, self-describing weights: the folder a
user (or this package, ``models/ssl-synth``) ships.

Written: ``config.json`` + ``model.safetensors`` (weights stored as ``dtype``, float16 by
default: half the bytes; ``config.json`` keeps ``dtype: float32`` so a plain
``HubertModel.from_pretrained`` upcasts them and runs in float32 as trained),
``preprocessor_config.json``, and ``training.json``: the data, the recipe's settings, steps
and CPU / wall seconds of every iteration up to this one, the ``audiotokens fit ssl``
command that reproduces the run (rebuilt from the recorded settings), the per-layer phone
scores (``layers.json`` of the run, when measured) and the layer their rule chose.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path
from typing import Any

from . import SSLError
from .recipe import LAYERS_FILE, RECORD_FILE, IterationRecord, RecipeConfig

__all__ = ["export_model", "fit_command", "DTYPES"]

DTYPES = ("float16", "bfloat16", "float32")
_NESTED = ("model", "mask", "batch", "train")
_FLAGS = {"iterations": "--iterations", "k": "--k", "minutes": "--minutes", "seed": "--seed"}
_NOT_RECORDED = ("device", "progress", "log_every", "checkpoint_every")


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return json.dumps(value) if isinstance(value, bool) or value is None else str(value)


def fit_command(settings: dict[str, Any], manifests: list[str], out: str) -> str:
    """The ``audiotokens fit ssl`` command line for a run with the recorded ``settings``
    (``dataclasses.asdict`` of its :class:`RecipeConfig`): flags and ``-o key=value`` for
    every setting that differs from the defaults (device and logging left out)."""
    default = dataclasses.asdict(RecipeConfig())
    parts = ["audiotokens", "fit", "ssl", *[a for m in manifests for a in ("-m", m)],
             "--out", out]
    options: list[str] = []
    for key, value in settings.items():
        if key in _NOT_RECORDED or key == "max_steps" and value is None:
            continue
        if key in _NESTED:
            options += [f"{k}={_value(v)}" for k, v in value.items()
                        if k != "seed" and json.dumps(v) != json.dumps(default[key][k])]
        elif key in _FLAGS:
            if value != default[key] or key in ("iterations", "k"):
                parts += [_FLAGS[key], _value(value)]
        elif json.dumps(value) != json.dumps(default[key]):
            options.append(f"{'steps' if key == 'max_steps' else key}={_value(value)}")
    for option in options:
        parts += ["-o", option]
    return shlex.join(parts)


def _layer_report(run: Path) -> dict[str, Any] | None:
    path = run / LAYERS_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def _chosen(report: dict[str, Any], iteration: int) -> dict[str, Any] | None:
    """The rule's best layer among ``iter{iteration}``'s rows (the run's best overall when
    that is the iteration exported)."""
    rows = [r for r in report["rows"]
            if r["source"] == f"iter{iteration}" and r["split"] == "train"]
    if not rows:
        return None
    best = max(rows, key=lambda r: r["pnmi"])
    return {"iteration": iteration, "layer": best["layer"], "k": report["k"],
            "rule": report["rule"]}


def export_model(run: str | Path, out: str | Path, *, iteration: int | None = None,
                 dtype: str = "float16", manifests: list[str] | None = None,
                 data: dict[str, Any] | None = None) -> Path:
    """Export ``run/iter{iteration}`` (None: the layer rule's choice in ``layers.json``, else
    the last iteration) into ``out`` (see the module docstring). ``manifests``: the names the
    reproduce command should use (default: the recorded paths); ``data``: extra facts about
    the corpus (e.g. the command that made it) merged into the record's ``data``."""
    import torch
    from transformers import HubertModel

    run, out = Path(run), Path(out)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    records = sorted((r for p in run.glob("iter*") if (r := IterationRecord.load(p))),
                     key=lambda r: r.iteration)
    if not records:
        raise SSLError(f"{run}: no iter*/{RECORD_FILE}; is it a folder written by "
                       "`audiotokens fit ssl`?")
    report = _layer_report(run)
    if iteration is None:
        best = report and report["best_source"]
        iteration = int(best[4:]) if best else records[-1].iteration
    if iteration not in {r.iteration for r in records}:
        raise SSLError(f"{run}: has iterations {[r.iteration for r in records]}, not "
                       f"{iteration}")
    used = [r for r in records if r.iteration <= iteration]
    chosen = _chosen(report, iteration) if report else None
    model = HubertModel.from_pretrained(run / f"iter{iteration}").to(getattr(torch, dtype))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "dtype": "float32"}, indent=2))
    (out / "preprocessor_config.json").write_bytes(
        (run / f"iter{iteration}" / "preprocessor_config.json").read_bytes())
    last = used[-1]
    settings = {**last.settings, "iterations": iteration}
    record = {
        "command": fit_command(settings, manifests or last.data["manifests"], "runs/ssl"),
        "iteration": iteration, "weights_dtype": dtype,
        "steps": sum(r.steps for r in used),
        "cpu_seconds": round(sum(r.cpu_seconds for r in used), 1),
        "wall_seconds": round(sum(r.train_seconds + r.target_seconds for r in used), 1),
        "audio_hours_seen": round(sum(r.audio_hours for r in used), 3),
        "data": {**last.data, **(data or {})},
        "iterations": [{"iteration": r.iteration, "targets": r.targets, "steps": r.steps,
                        "cpu_seconds": r.cpu_seconds, "train_seconds": r.train_seconds,
                        "target_seconds": r.target_seconds, "final": r.final}
                       for r in used],
        "settings": settings, "chosen": chosen,
        "layer_scores": report["rows"] if report else [],
    }
    (out / RECORD_FILE).write_text(json.dumps(record, indent=1))
    return out
