"""The small HuBERT shipped with the package (``audiotokens/models/ssl-synth``): pretrained
here by ``audiotokens fit ssl`` on a synthetic corpus, so the semantic family has a real SSL
model on every machine, offline. Its ``training.json`` records the data, settings, steps,
CPU time and the command that reproduces it.

Anywhere an SSL model is named (``hubert:model=...``, ``continuous-hubert:model=...``,
``--model``), :data:`SHIPPED_MODEL` ("shipped") stands for that folder; a local folder
literally called ``shipped`` is reached as ``./shipped``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["SHIPPED_MODEL", "SHIPPED_FOLDER", "shipped_model_dir", "resolve_model"]

SHIPPED_MODEL = "shipped"
SHIPPED_FOLDER = "ssl-synth"


def shipped_model_dir() -> Path:
    """The folder of the shipped HuBERT (``config.json``, ``model.safetensors``,
    ``training.json``); loads with ``transformers.HubertModel.from_pretrained``. Raises
    FileNotFoundError when the installed package lacks it (a broken install)."""
    folder = Path(__file__).resolve().parent.parent / "models" / SHIPPED_FOLDER
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder}: the shipped SSL model is missing (config.json not "
                                "found); reinstall audiotokens")
    return folder


def resolve_model(model: str) -> str:
    """``model`` as transformers should load it: :data:`SHIPPED_MODEL` -> the shipped
    folder's path, anything else (hub id, folder) unchanged."""
    return str(shipped_model_dir()) if str(model) == SHIPPED_MODEL else str(model)
