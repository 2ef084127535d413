"""A unit vocoder attached to a semantic tokenizer: decode, info, save/load, and the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from audiotokens.audio import load_audio
from audiotokens.cli import app
from audiotokens.data import read_manifest, write_manifest
from audiotokens.data.corpora import fsdd_manifest
from audiotokens.tokenizers.base import NoDecoderError
from audiotokens.tokenizers.registry import load_tokenizer


@pytest.fixture
def small_fsdd(fsdd_root: Path, tmp_path: Path) -> Path:
    items = [it for it in fsdd_manifest(fsdd_root) if it.split == "train"][::200]
    return write_manifest(items, tmp_path / "fsdd.jsonl")


def run(*args: str) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_fit_vocoder_cli_attaches_a_decoder_that_survives_save_and_load(
    small_fsdd: Path, tmp_path: Path
) -> None:
    tok_dir = tmp_path / "mel"
    run("fit", "mel-kmeans", "-m", small_fsdd, "--out", tok_dir, "--k", "16")
    assert re.search(r"decoder\s*│\s*no\b", run("info", tok_dir))
    with pytest.raises(NoDecoderError, match="fit vocoder"):
        load_tokenizer(tok_dir).decode(load_tokenizer(tok_dir).encode(np.zeros(3200), 16000))
    out = run("fit", "vocoder", tok_dir, "-m", small_fsdd, "-o", "max_steps=2",
              "-o", "batch_size=2", "-o", "segment_frames=8")
    assert "codebook weights" in out
    assert (tok_dir / "vocoder" / "config.json").is_file()
    assert re.search(r"decoder\s*│\s*yes\b", run("info", tok_dir))

    tok = load_tokenizer(tok_dir)
    assert tok.info.has_decoder
    audio = load_audio(read_manifest(small_fsdd)[0].path, 16000)
    tokens = tok.encode(audio.samples, audio.sample_rate)
    wav = tok.decode(tokens)
    assert wav.dtype == np.float32 and wav.shape == (tokens.n_frames * 320,)
    assert np.isfinite(wav).all()
    again = load_tokenizer(tok_dir).decode(tokens)
    np.testing.assert_array_equal(wav, again)


def test_fit_vocoder_rejects_unknown_options_and_missing_folder(
    small_fsdd: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, ["fit", "vocoder", str(tmp_path / "nope"), "-m",
                                      str(small_fsdd)])
    assert result.exit_code != 0
    tok_dir = tmp_path / "mel"
    run("fit", "mel-kmeans", "-m", small_fsdd, "--out", tok_dir, "--k", "8")
    result = CliRunner().invoke(app, ["fit", "vocoder", str(tok_dir), "-m", str(small_fsdd),
                                      "-o", "bogus=1"])
    assert result.exit_code != 0
    assert "bogus" in str(result.exception) + result.output


def test_ssl_tokens_decode_through_the_tokenizer_with_any_layer_subset(
    hubert_dir: Path, librispeech_root: Path, tmp_path: Path
) -> None:
    from audiotokens.data import librispeech_manifest
    from audiotokens.vocoder import VocoderTrainOptions, train_vocoder, vocoder_config_for

    items = librispeech_manifest(librispeech_root)[:4]
    manifest = write_manifest(items, tmp_path / "libri.jsonl")
    tok = load_tokenizer("hubert", model=str(hubert_dir), layers=[1, 3], k=8,
                         kmeans_iterations=5)
    tok.fit(manifest)
    result = train_vocoder(tok, manifest, vocoder_config_for(tok),
                           VocoderTrainOptions(max_steps=2, batch_size=2, segment_frames=8),
                           progress_desc=None)
    tok.attach_vocoder(result.model)
    assert tok.info.has_decoder

    audio = load_audio(items[0].path, 16000)
    tokens = tok.encode(audio.samples[:16000], 16000)
    assert tokens.info.codebook_names == ("layer1", "layer3")
    full = tok.decode(tokens)
    only_deep = tok.decode(tokens.select([1]))
    assert full.shape == only_deep.shape == (tokens.n_frames * 320,)
    assert result.model.last_layers == ("layer3",)
    assert not np.allclose(full, only_deep)  # the subset really changes the conditioning

    tok.save(tmp_path / "hubert_tok")
    again = load_tokenizer(tmp_path / "hubert_tok")
    np.testing.assert_array_equal(again.decode(tokens.select([1])), only_deep)


def test_resynth_cli_measures_a_tokenizer_through_its_vocoder(
    small_fsdd: Path, tmp_path: Path
) -> None:
    import json

    tok_dir = tmp_path / "mel"
    run("fit", "mel-kmeans", "-m", small_fsdd, "--out", tok_dir, "--k", "8")
    run("fit", "vocoder", tok_dir, "-m", small_fsdd, "-o", "max_steps=1", "-o", "batch_size=2",
        "-o", "segment_frames=8", "-o", "generator=hifigan", "-o", "channels=16")
    assert load_tokenizer(tok_dir).vocoder.config.generator == "hifigan"
    run("resynth", tok_dir, "-m", small_fsdd, "--out", tmp_path / "rs", "--limit", "2")
    assert len(list((tmp_path / "rs" / "audio").glob("*.wav"))) == 2
    metrics = json.loads((tmp_path / "rs" / "metrics.json").read_text())
    assert "stoi" in json.dumps(metrics)
