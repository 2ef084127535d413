"""`audiotokens fit` / `encode` / `info` end to end, in process, with the testing tokenizer."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from audiotokens.cli import main
from audiotokens.cli.tokens import parse_options, split_options
from audiotokens.store import TokenStore
from audiotokens.testing import ENERGY_ENTRY, EnergyTokenizer, write_test_corpus
from audiotokens.tokenizers.base import TokenizerError
from audiotokens.tokenizers.registry import REGISTRY, load_tokenizer


@pytest.fixture
def energy_registered(monkeypatch):
    """Make 'energy' a registered name for this test only (the CLI uses the global REGISTRY)."""
    monkeypatch.setitem(REGISTRY._entries, "energy", ENERGY_ENTRY)
    monkeypatch.setenv("COLUMNS", "250")


@pytest.fixture
def corpus(tmp_path):
    return write_test_corpus(tmp_path / "corpus", 6, bad=("empty", "missing"))


def run(capsys, *argv: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out + out.err


def test_options_are_parsed_and_routed() -> None:
    opts = parse_options(["k=8", "layers=3,7", "model=facebook/x", "max_frames=1e3",
                          "flag=true"])
    assert opts == {"k": 8, "layers": [3, 7], "model": "facebook/x", "max_frames": 1000.0,
                    "flag": True}
    config, fit = split_options(EnergyTokenizer, "energy", {"k": 8, "minutes": 1.0})
    assert config == {"k": 8} and fit == {"minutes": 1.0}
    with pytest.raises(TokenizerError, match=r"'layers'.*config options: k, .*fit options: "
                                             r"minutes, max_frames, seed"):
        split_options(EnergyTokenizer, "energy", {"layers": [3]})


def test_fit_info_encode(tmp_path, capsys, energy_registered, corpus) -> None:
    tok_dir, store_dir = tmp_path / "tok", tmp_path / "store"
    code, out = run(capsys, "fit", "energy", "--manifest", corpus, "--out", tok_dir, "--k", "8",
                    "--minutes", "0.5", "--seed", "1", "-o", "hop_length=320")
    assert code == 0, out
    assert "saved to" in out and "50 frames/s" in out
    tok = load_tokenizer(tok_dir)
    assert tok.config.k == 8 and tok.config.hop_length == 320
    assert not np.allclose(tok.edges, EnergyTokenizer(tok.config).edges)  # fitted

    code, out = run(capsys, "info", tok_dir)
    assert code == 0 and re.search(r"vocab sizes\s*│\s*8\s", out), out
    assert re.search(r"frame rate\s*│\s*50 frames/s", out) and "energy" in out

    code, out = run(capsys, "encode", tok_dir, "-m", corpus, "--out", store_dir,
                    "--shard-items", "2", "--no-progress")
    assert code == 0, out
    assert "bad-empty" in out and "file not found" in out and "errors.jsonl" in out
    store = TokenStore.open(store_dir)
    assert len(store) == 6 and store.checksum == tok.checksum()
    errors = [json.loads(x) for x in (store_dir / "errors.jsonl").read_text().splitlines()]
    assert sorted(e["id"] for e in errors) == ["bad-empty", "bad-missing"]

    code, out = run(capsys, "encode", tok_dir, "-m", corpus, "--out", store_dir, "--no-progress")
    assert code == 0 and len(TokenStore.open(store_dir)) == 6
    assert "skipped (already done) │ 6" in out


def test_user_errors_exit_2_with_one_line(tmp_path, capsys, energy_registered,
                                          corpus) -> None:
    code, out = run(capsys, "fit", "energy", "-m", corpus, "--out", tmp_path / "t",
                    "-o", "colour=blue")
    assert code == 2 and "'colour' is not known" in out and "minutes" in out
    code, out = run(capsys, "fit", "no-such", "-m", corpus, "--out", tmp_path / "t")
    assert code == 2 and "unknown tokenizer 'no-such'" in out
    code, out = run(capsys, "fit", "energy", "-m", corpus, "--out", tmp_path / "t", "--k", "1")
    assert code == 2 and "k must be in 2..65536" in out
    code, out = run(capsys, "fit", "energy", "-m", tmp_path / "nope.jsonl", "--out", tmp_path)
    assert code == 2 and "manifest not found" in out

    assert run(capsys, "fit", "energy", "-m", corpus, "--out", tmp_path / "t")[0] == 0
    code, out = run(capsys, "fit", tmp_path / "t", "-m", corpus, "--out", tmp_path / "u",
                    "--k", "4")
    assert code == 2 and "cannot change a saved tokenizer" in out
    assert run(capsys, "encode", tmp_path / "t", "-m", corpus, "--out", tmp_path / "s",
               "--no-progress")[0] == 0
    assert run(capsys, "fit", "energy", "-m", corpus, "--out", tmp_path / "t2", "--k", "4")[0] == 0
    code, out = run(capsys, "encode", tmp_path / "t2", "-m", corpus, "--out", tmp_path / "s",
                    "--no-progress")
    assert code == 2 and "another tokenizer" in out and "Traceback" not in out
    code, out = run(capsys, "encode", tmp_path / "t", "-m", corpus, "--out", tmp_path / "s",
                    "--batch-seconds", "0")
    assert code == 2
    code, out = run(capsys, "encode", tmp_path / "t", "-m", corpus, "--out", tmp_path / "s",
                    "--engine", "spark")
    assert code == 2 and "local, ray" in out
    code, out = run(capsys, "encode", tmp_path / "t", "-m", corpus, "--out", tmp_path / "s",
                    "--address", "auto", "--max-workers", "2")
    assert code == 2 and "--address, --max-workers only apply with --engine ray" in out


def test_device_cuda_without_cuda_is_a_user_error(tmp_path, capsys, energy_registered,
                                                  corpus) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    code, out = run(capsys, "encode", "energy", "-m", corpus, "--out", tmp_path / "s",
                    "--device", "cuda")
    assert code == 2 and "CUDA is not available" in out


def test_fit_and_encode_mel_kmeans(tmp_path, capsys, fsdd_root) -> None:
    pytest.importorskip("audiotokens.tokenizers.semantic")
    from audiotokens.data.manifest import ManifestItem, write_manifest

    wavs = sorted((fsdd_root / "recordings").glob("*_jackson_*.wav"))[:24]
    items = [ManifestItem(p.stem, str(p), 0.5) for p in wavs]
    manifest = write_manifest(items, tmp_path / "fsdd.jsonl")
    code, out = run(capsys, "fit", "mel-kmeans", "-m", manifest, "--out", tmp_path / "mel",
                    "--k", "16", "--seed", "0")
    assert code == 0, out
    code, out = run(capsys, "encode", tmp_path / "mel", "-m", manifest, "--out",
                    tmp_path / "s", "--no-progress")
    assert code == 0, out
    store = TokenStore.open(tmp_path / "s")
    assert len(store) == 24 and store.info.vocab_sizes[0] == 16
    used = np.unique(np.concatenate([t.codes[:, 0] for _, t in store]))
    assert len(used) > 8  # real speech spreads over most of the clusters
