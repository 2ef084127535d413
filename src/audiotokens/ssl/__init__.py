"""Self-supervised pretraining here: the HuBERT recipe (MFCC k-means targets, masked
prediction, then targets from the model's own layer) on the project's manifests, training
loop and k-means. ``audiotokens fit ssl`` runs it; the saved models load in plain
``transformers.HubertModel`` and in the ``hubert`` tokenizer; :func:`shipped_model_dir` is
the one the package ships (``model=shipped``)."""

from __future__ import annotations

from .shipped import shipped_model_dir

__all__ = ["SSLError", "shipped_model_dir"]


class SSLError(ValueError):
    """A pretraining run cannot go on (bad settings for an existing run folder, no usable
    audio); the message names the folder or file and the fix."""

