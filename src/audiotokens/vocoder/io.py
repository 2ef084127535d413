"""Save / load a vocoder folder: ``config.json`` + ``weights.safetensors`` (never pickle).

The folder sits beside a tokenizer (``<tokenizer folder>/vocoder/``); both files are written
atomically, weights first, so a reader never sees a config without its weights. Format 1
predates the ``generator`` field: every such vocoder is the HiFi-GAN one, and loads as such.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..tokenizers.base import CONFIG_FILE, WEIGHTS_FILE, TokenizerError
from ..tokenizers.persist import atomic_write_bytes
from .config import VocoderConfig
from .model import UnitVocoder

__all__ = ["save_vocoder", "load_vocoder", "VOCODER_FORMAT_VERSION", "VOCODER_KIND"]

VOCODER_FORMAT_VERSION = 2
VOCODER_KIND = "unit-vocoder"


def save_vocoder(vocoder: UnitVocoder, folder: Path) -> None:
    """Write ``folder/config.json`` and ``folder/weights.safetensors`` (float32, CPU)."""
    from safetensors.torch import save

    folder = Path(folder)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in vocoder.state_dict().items()}
    atomic_write_bytes(folder / WEIGHTS_FILE, save(tensors))
    header = {"format_version": VOCODER_FORMAT_VERSION, "kind": VOCODER_KIND,
              "config": vocoder.config.to_dict(),
              "codebook_weights": vocoder.codebook_weights()}
    atomic_write_bytes(folder / CONFIG_FILE, (json.dumps(header, indent=2) + "\n").encode())


def load_vocoder(folder: Path) -> UnitVocoder:
    """Rebuild a vocoder saved by :func:`save_vocoder` (on CPU, in eval mode).

    Raises TokenizerError naming the file when the folder is missing, not a vocoder, from a
    newer format, or its weights do not match its config.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    path = folder / CONFIG_FILE
    try:
        header = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise TokenizerError(f"{path}: unreadable vocoder config ({err})") from None
    if not isinstance(header, dict) or header.get("kind") != VOCODER_KIND:
        raise TokenizerError(f"{path}: not a unit-vocoder config (kind != '{VOCODER_KIND}')")
    if header.get("format_version", 0) > VOCODER_FORMAT_VERSION:
        raise TokenizerError(f"{path}: format_version {header['format_version']} is newer "
                             "than this audiotokens")
    try:
        fields = dict(header["config"])
        if header.get("format_version", 0) < 2:
            fields.setdefault("generator", "hifigan")
        config = VocoderConfig.from_dict(fields)
    except (KeyError, TypeError, ValueError) as err:
        raise TokenizerError(f"{path}: invalid vocoder config ({err})") from None
    weights = folder / WEIGHTS_FILE
    try:
        tensors = load_file(str(weights))
    except (OSError, SafetensorError) as err:
        raise TokenizerError(f"{weights}: unreadable vocoder weights ({err})") from None
    model = UnitVocoder(config)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise TokenizerError(f"{weights}: weights do not match config.json ({first})") from None
    return model.eval()
