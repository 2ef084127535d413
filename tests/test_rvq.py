"""The ``rvq`` tokenizer: config/bitrate tiers, shapes, training on real speech, quantizer
dropout, codebook usage, save/load, checkpoint resume and clear errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from audiotokens.audio import load_audio
from audiotokens.data.manifest import ManifestItem, write_manifest
from audiotokens.tokenizers.base import TokenizerError, Tokens
from audiotokens.tokenizers.registry import load_tokenizer
from audiotokens.tokenizers.rvq import RVQConfig, RVQTokenizer

COMMON = dict(channels=4, ratios=(2, 4, 5), latent_dim=16, n_codebooks=4, codebook_size=32)
ARCHS = {  # tiny versions of both architectures (hop 40)
    "waveform": dict(encoder="waveform", decoder="waveform"),
    "spectral": dict(encoder="spectral", decoder="istft", spectral_dim=16, spectral_blocks=1,
                     stft_hop=20),
}
TINY = {**COMMON, **ARCHS["spectral"]}  # the default architecture
NEW_FIELDS = ("encoder", "decoder", "spectral_dim", "spectral_blocks", "stft_hop")
FIT = dict(batch_size=4, segment_seconds=0.2, progress=False, log_every=1)


def speech_manifest(fsdd_root: Path, folder: Path, n: int = 24) -> Path:
    """A manifest of real FSDD digits (8 kHz, resampled on load) from two speakers."""
    items = []
    for speaker in ("jackson", "nicolas"):
        for digit in range(n // 2):
            path = fsdd_root / "recordings" / f"{digit % 10}_{speaker}_{digit // 10 + 5}.wav"
            items.append(ManifestItem(id=path.stem, path=str(path), duration=0.5,
                                      speaker=speaker, split="train"))
    return write_manifest(items, folder / "train.jsonl")


@pytest.fixture(scope="module", params=sorted(ARCHS))
def trained(request, tmp_path_factory) -> tuple[RVQTokenizer, object, list[np.ndarray]]:
    """A tiny codec of each architecture trained for 25 steps on real speech (shared by
    several tests)."""
    from conftest import shared_corpus

    root = shared_corpus("fsdd")
    manifest = speech_manifest(root, tmp_path_factory.mktemp("rvq"))
    torch.manual_seed(0)
    tok = load_tokenizer("rvq", **COMMON, **ARCHS[request.param])
    summary = tok.fit(manifest, max_steps=25, lr=2e-3, **FIT)  # tiny models take a high lr
    clips = [load_audio(root / "recordings" / f"{d}_theo_0.wav", 16000).samples for d in (3, 7)]
    return tok, summary, clips


def test_config_validation_lists_allowed_values() -> None:
    with pytest.raises(ValueError, match=r"\['high', 'low', 'medium'\]"):
        RVQConfig(bitrate="ultra")
    with pytest.raises(ValueError, match=r"n_codebooks_used must be in \[1, 8\]"):
        RVQConfig(n_codebooks_used=9)
    with pytest.raises(ValueError, match="quantizer_warmup_steps must be >= 0"):
        RVQConfig(quantizer_warmup_steps=-1)
    with pytest.raises(TypeError, match="allowed"):
        load_tokenizer("rvq", hop=320)


def test_default_info_and_bitrate_tiers() -> None:
    tok = load_tokenizer("rvq")
    info = tok.info
    assert (info.kind, info.sample_rate, info.frame_rate) == ("codec", 16000, 50.0)
    assert info.has_decoder and not info.fitted
    assert info.vocab_sizes == (1024,) * 8 and info.bitrate_bps == pytest.approx(4000)
    rates = {b: load_tokenizer("rvq", bitrate=b).info.bitrate_bps for b in ("low", "medium")}
    assert 1000 <= rates["low"] <= 1500 and rates["medium"] == pytest.approx(3000)
    used = load_tokenizer("rvq", n_codebooks_used=2, bitrate="high").info
    assert used.n_codebooks == 2 and used.codebook_names == ("q0", "q1")
    n_params = sum(p.numel() for p in tok.model.parameters())
    assert 1e6 < n_params < 5e6  # a few M parameters, but at 50-100 frames/s: cheap on CPU


@pytest.mark.parametrize("n", [1, 39, 40, 41, 1000])
def test_shapes_frames_are_ceil_n_over_hop(n: int) -> None:
    tok = load_tokenizer("rvq", **TINY)
    hop = tok.config.hop_length
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1
    toks = tok.encode(x, 16000)
    assert toks.codes.shape == (math.ceil(n / hop), 4) and toks.codes.dtype == np.int64
    toks.validate()
    audio = tok.decode(toks)
    assert audio.shape == (toks.n_frames * hop,) and audio.dtype == np.float32
    # 8 kHz input is resampled: N' = 2N samples at the codec's rate
    assert tok.encode(x, 8000).n_frames == math.ceil(2 * n / hop)


def test_encode_is_deterministic_and_batch_matches_lengths() -> None:
    torch.manual_seed(0)
    tok = load_tokenizer("rvq", **TINY)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (800, 2000, 410)]
    a, b = tok.encode(xs[1], 16000), tok.encode(xs[1], 16000)
    np.testing.assert_array_equal(a.codes, b.codes)
    batch = tok.encode_batch(xs, 16000)
    assert batch.lengths.tolist() == [20, 50, 11] and batch.codes.shape == (3, 50, 4)
    np.testing.assert_array_equal(batch.items()[1].codes, a.codes)  # the longest: no padding
    first = tok.encode(xs[0], 16000).codes
    np.testing.assert_array_equal(batch.items()[0].codes[:10], first[:10])  # away from the end


def test_training_on_real_speech_reduces_the_loss(trained) -> None:
    tok, summary, _ = trained
    losses = [h["loss"] for h in tok_history(summary)]
    assert summary.steps == 25 and tok.info.fitted
    mels = [h["mel"] for h in tok_history(summary)]
    assert np.mean(losses[-8:]) < 0.92 * np.mean(losses[:4])
    assert np.mean(mels[-8:]) < 0.95 * np.mean(mels[:4])
    assert summary.items == 24 and summary.audio_seconds > 5


def test_quantizer_warmup_then_codes_are_trained(fsdd_root, tmp_path) -> None:
    manifest = speech_manifest(fsdd_root, tmp_path, n=6)
    tok = load_tokenizer("rvq", quantizer_warmup_steps=3, **TINY)
    history = tok_history(tok.fit(manifest, max_steps=6, **FIT))
    assert [h["quantized"] for h in history] == [0.0] * 3 + [1.0] * 3
    assert all(h["ppl0"] == 0 and h["commit"] == 0 for h in history[:3])  # bypassed
    assert all(h["ppl0"] >= 1 and h["commit"] > 0 for h in history[3:])  # codes in use
    assert tok.model.quantizer.is_initialized
    # a run that ends inside the warm-up still leaves k-means-initialised codebooks
    short = load_tokenizer("rvq", quantizer_warmup_steps=50, **TINY)
    short.fit(manifest, max_steps=2, **FIT)
    assert short.model.quantizer.is_initialized
    assert short.encode(np.ones(800, dtype=np.float32) * 0.1, 16000).codes.shape == (20, 4)


def tok_history(summary) -> list[dict[str, float]]:
    assert summary.history, "fit keeps the logged history"
    return summary.history


def test_codebook_usage_is_reported_and_sane(trained) -> None:
    tok, summary, _ = trained
    assert len(summary.perplexity) == len(summary.usage) == 4
    for ppl, use in zip(summary.perplexity, summary.usage, strict=True):
        assert 1.0 <= ppl <= 32 + 1e-4 and 0 < use <= 1
    assert max(summary.perplexity) > 2  # not collapsed onto one code everywhere


def test_fewer_codebooks_decode_and_latent_error_shrinks(trained) -> None:
    tok, _, clips = trained
    hop = tok.config.hop_length
    x = clips[0]
    toks = tok.encode(x, 16000)
    for n in (1, 2, 4):
        audio = tok.decode(toks.select(list(range(n))))
        assert audio.shape == (toks.n_frames * hop,) and np.isfinite(audio).all()
    audio_skip = tok.decode(toks.select([0, 2]))  # any subset, matched by codebook name
    assert audio_skip.shape == (toks.n_frames * hop,)
    pad = np.zeros(toks.n_frames * hop, dtype=np.float32)
    pad[: len(x)] = x
    with torch.no_grad():
        lat = tok.model.encoder(torch.from_numpy(pad)[None, None])
        codes = torch.from_numpy(toks.codes)[None]
        errs = [float((tok.model.quantizer.decode(codes[..., :n]) - lat).pow(2).mean())
                for n in range(1, 5)]
    assert errs[-1] < errs[0]
    assert all(b <= a * 1.05 for a, b in zip(errs, errs[1:], strict=False))


def test_low_bitrate_view_of_a_trained_model(trained, tmp_path) -> None:
    tok, _, clips = trained
    tok.save(tmp_path / "tok")
    header = json.loads((tmp_path / "tok" / "config.json").read_text())
    header["config"]["n_codebooks_used"] = 2
    (tmp_path / "tok" / "config.json").write_text(json.dumps(header))
    low = load_tokenizer(tmp_path / "tok")
    assert low.info.n_codebooks == 2 and low.info.fitted
    np.testing.assert_array_equal(low.encode(clips[1], 16000).codes,
                                  tok.encode(clips[1], 16000).codes[:, :2])


def test_save_load_gives_identical_tokens_and_audio(trained, tmp_path) -> None:
    tok, _, clips = trained
    folder = tok.save(tmp_path / "rvq")
    assert (folder / "config.json").is_file() and (folder / "weights.safetensors").is_file()
    back = load_tokenizer(folder)
    assert back.info == tok.info and back.checksum() == tok.checksum()
    a, b = tok.encode(clips[0], 16000), back.encode(clips[0], 16000)
    np.testing.assert_array_equal(a.codes, b.codes)
    np.testing.assert_array_equal(tok.decode(a), back.decode(b))


def _strip_new_fields(folder: Path) -> None:
    """Make a saved folder look like one written before the architecture fields existed."""
    header = json.loads((folder / "config.json").read_text())
    for name in NEW_FIELDS:
        del header["config"][name]
    (folder / "config.json").write_text(json.dumps(header))


def test_config_json_from_before_the_architecture_fields_loads_the_waveform_codec(
        fsdd_root, tmp_path) -> None:
    manifest = speech_manifest(fsdd_root, tmp_path, n=4)
    old = load_tokenizer("rvq", **{**COMMON, **ARCHS["waveform"], "ratios": (4, 8, 10)})
    old.fit(manifest, max_steps=2, **FIT)
    folder = old.save(tmp_path / "old")
    _strip_new_fields(folder)
    back = load_tokenizer(folder)
    assert (back.config.encoder, back.config.decoder) == ("waveform", "waveform")
    x = load_audio(fsdd_root / "recordings" / "3_theo_0.wav", 16000).samples
    a, b = old.encode(x, 16000), back.encode(x, 16000)
    np.testing.assert_array_equal(a.codes, b.codes)
    np.testing.assert_array_equal(old.decode(a), back.decode(b))
    # an old codec whose hop the spectral default cannot use fails naming the fix
    small = load_tokenizer("rvq", **COMMON, **ARCHS["waveform"])  # hop 40
    _strip_new_fields(small.save(tmp_path / "small"))
    with pytest.raises(ValueError, match='add "encoder": "waveform", "decoder": "waveform"'):
        load_tokenizer(tmp_path / "small")


def test_architecture_choices_are_validated_and_weights_must_match() -> None:
    with pytest.raises(ValueError, match=r"decoder must be one of \['waveform', 'istft'\]"):
        RVQConfig(decoder="hifigan")
    with pytest.raises(ValueError, match="stft_hop 30 must divide hop_length 320"):
        RVQConfig(encoder="spectral", decoder="istft", stft_hop=30)
    assert RVQConfig().default_lr == 3e-4
    assert RVQConfig(encoder="waveform", decoder="waveform").default_lr == 1e-3
    spectral = load_tokenizer("rvq", **TINY)
    wider = load_tokenizer("rvq", **{**TINY, "spectral_dim": 24})
    with pytest.raises(TokenizerError, match="do not match the config"):
        wider.load_state_tensors({k: v.numpy() for k, v in spectral.state_tensors().items()})


def test_checkpoint_resume_counts_total_steps(fsdd_root, tmp_path) -> None:
    manifest = speech_manifest(fsdd_root, tmp_path, n=6)
    ckpt = tmp_path / "rvq.pt"
    first = load_tokenizer("rvq", **TINY)
    assert first.fit(manifest, max_steps=3, checkpoint=ckpt, **FIT).steps == 3
    resumed = load_tokenizer("rvq", **TINY)
    summary = resumed.fit(manifest, max_steps=5, checkpoint=ckpt, **FIT)
    assert summary.steps == 5 and len(summary.history) == 2  # only steps 4 and 5 ran
    assert resumed.model.quantizer.is_initialized


def test_fit_is_reproducible_from_its_seed(fsdd_root, tmp_path) -> None:
    """Two fits with the same seed give the same weights whatever the global torch RNG did
    before (the initial weights come from the fit's seed), and another seed differs."""
    manifest = speech_manifest(fsdd_root, tmp_path, n=4)

    def fitted(global_seed: int, seed: int = 0) -> dict[str, np.ndarray]:
        torch.manual_seed(global_seed)
        tok = load_tokenizer("rvq", **TINY)
        tok.fit(manifest, max_steps=2, seed=seed, **FIT)
        return {k: v.numpy().copy() for k, v in tok.state_tensors().items()}

    first, second, other = fitted(1), fitted(2), fitted(1, seed=1)
    assert all(np.array_equal(first[k], second[k]) for k in first)
    assert not all(np.array_equal(first[k], other[k]) for k in first)


def test_adversarial_flag_trains_a_discriminator(fsdd_root, tmp_path) -> None:
    manifest = speech_manifest(fsdd_root, tmp_path, n=4)
    tok = load_tokenizer("rvq", adversarial=True, **TINY)
    summary = tok.fit(manifest, max_steps=1, **FIT)
    assert {"d_loss", "g_adv", "g_feat"} <= set(summary.losses)
    assert all(np.isfinite(v) for v in summary.losses.values())


def test_clear_errors(tmp_path) -> None:
    tok = load_tokenizer("rvq", **TINY)
    with pytest.raises(ValueError, match="mono"):
        tok.encode(np.zeros((2, 100), dtype=np.float32), 16000)
    with pytest.raises(ValueError, match="NaN"):
        tok.encode(np.full(100, np.nan, dtype=np.float32), 16000)
    other = load_tokenizer("rvq", n_codebooks=8, **{k: v for k, v in TINY.items()
                                                      if k != "n_codebooks"})
    toks = other.encode(np.zeros(400, dtype=np.float32), 16000)
    with pytest.raises(TokenizerError, match="allowed: q0, q1, q2, q3"):
        tok.decode(toks)
    with pytest.raises(TokenizerError, match="no audio items"):
        tok.fit(write_manifest([], tmp_path / "empty.jsonl"))
    bad = Tokens(np.zeros((3, 4), dtype=np.int64), tok.info).items()[0]
    bad.codes[0, 0] = 99
    with pytest.raises(ValueError, match="out of range"):
        tok.decode(bad)
    small = load_tokenizer("rvq", **{**TINY, "latent_dim": 8})
    with pytest.raises(TokenizerError, match="do not match the config"):
        small.load_state_tensors({k: v.numpy() for k, v in tok.state_tensors().items()})
