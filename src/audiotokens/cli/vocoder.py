"""``audiotokens fit vocoder FOLDER``: train a unit vocoder for a saved tokenizer and attach it
(saved under ``FOLDER/vocoder/``), so ``tok.decode`` and ``audiotokens resynth`` work."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

__all__ = ["fit_vocoder"]


def _split(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Options -> (VocoderConfig overrides, VocoderTrainOptions fields); unknown keys raise."""
    from ..tokenizers.base import TokenizerError
    from ..vocoder import VocoderConfig, VocoderTrainOptions

    config_fields = {f.name for f in dataclasses.fields(VocoderConfig)}
    train_fields = {f.name for f in dataclasses.fields(VocoderTrainOptions)} - {"checkpoint"}
    config: dict[str, Any] = {}
    train: dict[str, Any] = {}
    for key, value in options.items():
        if key in train_fields:
            train[key] = value
        elif key in config_fields:
            config[key] = value
        else:
            raise TokenizerError(
                f"option '{key}' is not a vocoder option; model options: "
                f"{', '.join(sorted(config_fields))}; training options: "
                f"{', '.join(sorted(train_fields))}"
            )
    return config, train


def fit_vocoder(folder: str, manifest: Path, out: Path | None, options: dict[str, Any]) -> Path:
    """Train a vocoder for the tokenizer saved in ``folder``; save tokenizer + vocoder to
    ``out`` (default: ``folder`` itself). Checkpoints in ``out/vocoder.ckpt`` make an
    interrupted run resume. Returns the folder written."""
    from rich.console import Console

    from ..tokenizers.base import CONFIG_FILE, TokenizerError
    from ..tokenizers.registry import load_tokenizer
    from ..vocoder import VocoderTrainOptions, train_vocoder, vocoder_config_for

    if not (Path(folder) / CONFIG_FILE).is_file():
        raise TokenizerError(f"{folder}: not a saved tokenizer folder; fit one first, e.g. "
                             "`audiotokens fit mel-kmeans -m train.jsonl --out runs/mel`")
    tok = load_tokenizer(folder)
    if not tok.info.fitted:
        raise TokenizerError(f"{folder}: tokenizer is not fitted; fit it before its vocoder")
    target = Path(out) if out is not None else Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    config_opts, train_opts = _split(options)
    train_opts.setdefault("max_steps", None if "minutes" in train_opts else 1000)
    try:
        config = vocoder_config_for(tok, **config_opts)
        train = VocoderTrainOptions(checkpoint=target / "vocoder.ckpt", **train_opts)
    except (TypeError, ValueError) as err:
        raise TokenizerError(f"vocoder options: {err}") from None
    if train.device != "cpu":
        tok.to(train.device)
    result = train_vocoder(tok, manifest, config, train)
    tok.attach_vocoder(result.model)
    tok.save(target)
    console = Console()
    last = result.history[-1] if result.history else {}
    losses = " ".join(f"{k}={v:.3f}" for k, v in last.items() if k != "step")
    console.print(f"vocoder: {result.steps} steps in {result.seconds:.0f} s on {result.n_clips} "
                  f"clips ({result.n_frames} frames); last {losses or '-'}")
    weights = result.model.codebook_weights()
    console.print("codebook weights: " + ", ".join(f"{k}={v:.2f}" for k, v in weights.items()))
    console.print(f"saved with the tokenizer in [bold]{target}[/] (decode: audiotokens resynth "
                  f"{target} --manifest {manifest} --out resynth/)")
    return target
