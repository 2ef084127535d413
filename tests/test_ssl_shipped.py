"""The HuBERT shipped in the package: it loads in plain transformers, stays small, records
how it was made, and the short name ``shipped`` / the ``ssl-kmeans`` entry reach it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from audiotokens.bench.features import ContinuousSSL
from audiotokens.ssl import shipped_model_dir
from audiotokens.ssl.shipped import SHIPPED_MODEL, resolve_model
from audiotokens.tokenizers.registry import REGISTRY, load_tokenizer

pytestmark = pytest.mark.usefixtures("single_thread")
MAX_BYTES = 20 * 2**20


def test_shipped_model_loads_in_plain_transformers_and_is_small() -> None:
    from transformers import HubertModel

    folder = shipped_model_dir()
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert 0 < total <= MAX_BYTES
    model = HubertModel.from_pretrained(folder).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 16000), output_hidden_states=True)
    assert out.last_hidden_state.shape[:2] == (1, 49)  # 50 frames/s
    assert all(torch.isfinite(h).all() for h in out.hidden_states)


def test_shipped_model_records_its_data_settings_and_command() -> None:
    record = json.loads((shipped_model_dir() / "training.json").read_text())
    assert record["command"].startswith("audiotokens fit ssl ")
    assert record["steps"] > 0 and record["cpu_seconds"] > 0
    assert record["data"]["train_speakers"] > 0 and "synth" in record["data"]["command"]
    layer = record["chosen"]["layer"]
    # the registry entry quantises the layer the stated rule chose, with the same k
    entry = REGISTRY.get("ssl-kmeans")
    assert entry.defaults["layers"] == [layer] and entry.defaults["k"] == record["chosen"]["k"]


def test_short_name_resolves_to_the_shipped_folder() -> None:
    assert resolve_model(SHIPPED_MODEL) == str(shipped_model_dir())
    assert resolve_model("facebook/hubert-base-ls960") == "facebook/hubert-base-ls960"
    assert resolve_model("./shipped") == "./shipped"


def test_ssl_kmeans_and_continuous_baseline_use_the_shipped_model() -> None:
    tok = load_tokenizer("ssl-kmeans")
    assert tok.config.model == SHIPPED_MODEL  # saved configs stay portable across installs
    assert tok.info.frame_rate == 50.0 and not tok.info.fitted
    layer = tok.config.layers[0]
    src = ContinuousSSL("hubert", SHIPPED_MODEL, [layer])
    feats = src.encode(np.random.default_rng(0).standard_normal(8000).astype(np.float32),
                       16000)
    assert feats.shape == (24, src.spec.n_features)
    assert src.backbone.path == str(shipped_model_dir())
