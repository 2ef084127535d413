"""`audiotokens llm vocab|bpe` and `audiotokens export hf` end to end, in process."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audiotokens.cli import main
from audiotokens.encode import encode_manifest
from audiotokens.llm import LLMVocab, TokenBPE
from audiotokens.llm.text import load_text_tokenizer
from audiotokens.store import TokenStore
from audiotokens.testing import EnergyConfig, EnergyTokenizer, write_test_corpus
from audiotokens.testing import save_tiny_text_tokenizer as save_text_tokenizer


def run(capsys, *argv) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out + out.err


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_llm")
    manifest = write_test_corpus(root / "corpus", 6)
    tok = EnergyTokenizer(EnergyConfig(k=8))
    tok.fit(manifest)  # spreads the bins over the corpus: varied, repeating codes
    tok.save(root / "tok")
    encode_manifest(tok, manifest, root / "store", progress=False)
    return root


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def test_vocab_from_store_folder_and_name(tmp_path, capsys, store) -> None:
    code, out = run(capsys, "llm", "vocab", store / "store", "--out", tmp_path / "a")
    assert code == 0, out
    spec = LLMVocab.load(tmp_path / "a")
    assert spec.info == TokenStore.open(store / "store").info and spec.size == 5 + 1 + 8
    code, out = run(capsys, "llm", "vocab", store / "tok", "--out", tmp_path / "b",
                    "--reserved", "3")
    assert code == 0, out
    assert LLMVocab.load(tmp_path / "b").ranges[0].start == 5 + 1 + 3
    code, out = run(capsys, "llm", "vocab", "mulaw", "--out", tmp_path / "c")
    assert code == 0 and LLMVocab.load(tmp_path / "c").info.vocab_sizes == (256,)
    code, out = run(capsys, "llm", "vocab", "mel-kmeans:k=100", "--out", tmp_path / "e")
    assert code == 0 and LLMVocab.load(tmp_path / "e").ranges[0].size == 100
    code, out = run(capsys, "llm", "vocab", "nope", "--out", tmp_path / "d")
    assert code == 2 and "unknown tokenizer 'nope'" in out


def test_vocab_extends_a_text_tokenizer(tmp_path, capsys, store) -> None:
    save_text_tokenizer(tmp_path / "text")
    code, out = run(capsys, "llm", "vocab", store / "tok", "--base", tmp_path / "text",
                    "--out", tmp_path / "v")
    assert code == 0, out
    spec = LLMVocab.load(tmp_path / "v")
    text = load_text_tokenizer(tmp_path / "v" / "text_tokenizer")
    assert spec.base_size == 4 and len(text) == spec.size
    assert text.convert_tokens_to_ids(spec.token_strings()) == list(range(4, spec.size))
    save_text_tokenizer(tmp_path / "clash", words=("hello", "<a_energy_3>"))
    code, out = run(capsys, "llm", "vocab", store / "tok", "--base", tmp_path / "clash",
                    "--out", tmp_path / "w")
    assert code == 2 and "already has token(s) ['<a_energy_3>']" in out


def test_bpe_command(tmp_path, capsys, store) -> None:
    code, out = run(capsys, "llm", "bpe", store / "store", "--vocab-size", "40", "--dedup",
                    "--out", tmp_path / "bpe")
    assert code == 0, out
    assert "reduction" in out and "x shorter" in out and "exact on every item" in out
    model = TokenBPE.load(tmp_path / "bpe")
    assert model.dedup and 8 < model.vocab_size <= 40
    for _, tokens in TokenStore.open(store / "store"):
        assert np.array_equal(model.decode(model.encode(tokens)).codes, tokens.codes)
    report = model.report(t for _, t in TokenStore.open(store / "store"))
    assert report.reduction > 2 and f"{report.reduction:.2f}x shorter" in out
    assert report.symbols < report.codes  # dedup shortened the sequences before BPE
    code, out = run(capsys, "llm", "bpe", store / "store", "--vocab-size", "4",
                    "--out", tmp_path / "small")
    assert code == 2 and "below the 8 base symbols" in out
    code, out = run(capsys, "llm", "bpe", tmp_path, "--vocab-size", "40", "--out", tmp_path / "x")
    assert code == 2 and "not a token store" in out


def test_export_command(tmp_path, capsys, store) -> None:
    from datasets import load_from_disk

    manifest = store / "corpus" / "manifest.jsonl"
    code, out = run(capsys, "export", "hf", store / "store", "-m", manifest, "--out",
                    tmp_path / "hf")
    assert code == 0, out
    assert "exported 6 items (all 6)" in out
    ds = load_from_disk(str(tmp_path / "hf" / "dataset"))
    assert sorted(ds["id"]) == sorted(TokenStore.open(store / "store").ids())
    assert json.loads((tmp_path / "hf" / "tokenizer.json").read_text())["tokenizer"] == "energy"
    code, out = run(capsys, "export", "hf", store / "store", "--out", tmp_path / "hf")
    assert code == 2 and "already holds an export" in out
