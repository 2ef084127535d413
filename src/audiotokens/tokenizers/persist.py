"""Save and load tokenizers as ``config.json`` + ``weights.safetensors`` (never pickle)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .base import CONFIG_FILE, FORMAT_VERSION, WEIGHTS_FILE, TokenizerError, config_from_dict

if TYPE_CHECKING:
    from .base import Tokenizer
    from .registry import Registry, TokenizerEntry

VOCODER_DIR = "vocoder"

__all__ = ["VOCODER_DIR", "save_tokenizer", "load_saved", "read_config", "atomic_write_bytes"]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        return value.detach().cpu().contiguous().numpy()
    return np.ascontiguousarray(value)


def save_tokenizer(tok: Tokenizer, folder: Path) -> Path:
    """Write the folder; returns it. Existing files are replaced atomically."""
    from safetensors.numpy import save

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: _to_numpy(v) for k, v in tok.state_tensors().items()}
    if tensors:
        atomic_write_bytes(folder / WEIGHTS_FILE, save(tensors))
    header = {
        "format_version": FORMAT_VERSION,
        "tokenizer": tok.name,
        "target": f"{type(tok).__module__}:{type(tok).__qualname__}",
        "config": tok.config_dict(),
        "info": tok.info.to_dict(),
        "checksum": tok.checksum(),
    }
    atomic_write_bytes(folder / CONFIG_FILE, (json.dumps(header, indent=2) + "\n").encode())
    if tok.vocoder is not None:
        from ..vocoder.io import save_vocoder

        save_vocoder(tok.vocoder, folder / VOCODER_DIR)
    return folder


def read_config(folder: Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a saved tokenizer, with a clear error when broken."""
    path = folder / CONFIG_FILE
    try:
        header = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise TokenizerError(f"{path}: unreadable tokenizer config ({err})") from None
    for key in ("tokenizer", "config"):
        if key not in header:
            raise TokenizerError(f"{path}: missing '{key}' (not written by audiotokens?)")
    version = header.get("format_version", 0)
    if version > FORMAT_VERSION:
        raise TokenizerError(f"{path}: format_version {version} is newer than this audiotokens")
    return header


def _entry_for(header: dict[str, Any], registry: Registry) -> TokenizerEntry:
    """The registered entry for a saved name; an unregistered name falls back to the saved
    ``target`` class, but only inside the audiotokens package (no arbitrary imports)."""
    from .registry import TokenizerEntry

    name = header["tokenizer"]
    if name in registry.names():
        return registry.get(name)
    target = str(header.get("target", ""))
    if target.startswith("audiotokens."):
        return TokenizerEntry(name, target)
    return registry.get(name)  # raises, listing the known names


def load_saved(folder: Path, registry: Registry) -> Tokenizer:
    """Rebuild a tokenizer from its folder (config, then weights if present)."""
    from safetensors.numpy import load_file

    header = read_config(folder)
    entry = _entry_for(header, registry)
    cls = entry.resolve()
    tok = cls(config_from_dict(cls.Config, header["config"]), name=entry.name)
    weights = folder / WEIGHTS_FILE
    if weights.is_file():
        tok.load_state_tensors(load_file(str(weights)))
    if (folder / VOCODER_DIR / CONFIG_FILE).is_file():
        from ..vocoder.io import load_vocoder

        tok.attach_vocoder(load_vocoder(folder / VOCODER_DIR))
    return tok
