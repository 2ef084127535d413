"""Compression tokenizers: EnCodec / DAC / Mimi through transformers (tiny random-init models
saved to disk and loaded by path), Codec2 and mu-law, all on real speech."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import audiotokens as at
from audiotokens.metrics import stoi_score
from audiotokens.testing import save_tiny_codec
from audiotokens.tokenizers.base import CONFIG_FILE, WEIGHTS_FILE, Tokens

HF_NAMES = ("encodec", "dac", "mimi")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models run fastest single-threaded (and the test machine's cores are shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf_codecs")
    return {name: save_tiny_codec(name, root / name, seed=i) for i, name in enumerate(HF_NAMES)}


@pytest.fixture(scope="module")
def hf_tokenizers(model_dirs) -> dict[str, at.Tokenizer]:
    """One loaded tokenizer per codec (all codebooks), shared to keep model loads few."""
    return {n: at.load_tokenizer(n, model=str(model_dirs[n]), bitrate="high") for n in HF_NAMES}


def _speech(root: Path, seconds: float, index: int = 0) -> at.Audio:
    files = sorted((root / "audio_data").rglob("*.flac"))
    audio = at.load_audio(files[index])
    return at.Audio(audio.samples[: int(seconds * audio.sample_rate)], audio.sample_rate)


@pytest.fixture
def speech(librispeech_root) -> at.Audio:
    """~2 s of real LibriSpeech test-other speech at 16 kHz."""
    return _speech(librispeech_root, 2.0)


def _hf_config(path: Path) -> dict:
    return json.loads((path / "config.json").read_text())


# -- transformers codecs ------------------------------------------------------------------
@pytest.mark.parametrize("name", HF_NAMES)
def test_hf_codec_round_trip_on_real_speech(name, hf_tokenizers, speech) -> None:
    tok = hf_tokenizers[name].to("cpu")
    info = tok.info
    tokens = tok.encode(speech.samples, speech.sample_rate)
    tokens.validate()
    assert tokens.codes.dtype == np.int64 and tokens.codes.shape[1] == info.n_codebooks
    assert abs(tokens.n_frames - speech.duration * info.frame_rate) <= 1
    assert len(np.unique(tokens.codes)) > 4  # real speech maps onto many codebook entries
    audio = tok.decode(tokens)
    hop = info.sample_rate / info.frame_rate
    assert audio.dtype == np.float32 and audio.ndim == 1 and np.isfinite(audio).all()
    assert len(audio) == tokens.n_frames * hop
    assert abs(len(audio) - speech.duration * info.sample_rate) <= hop
    np.testing.assert_array_equal(tok.encode(speech.samples, speech.sample_rate).codes,
                                  tokens.codes)


def test_hf_info_matches_model_config(model_dirs) -> None:
    tok = at.load_tokenizer("encodec", model=str(model_dirs["encodec"]), bitrate="medium")
    cfg = _hf_config(model_dirs["encodec"])
    hop = math.prod(cfg["upsampling_ratios"])
    assert tok.info.sample_rate == cfg["sampling_rate"]
    assert tok.info.frame_rate == cfg["sampling_rate"] / hop
    assert set(tok.info.vocab_sizes) == {cfg["codebook_size"]}
    assert tok.info.kind == "codec" and tok.info.has_decoder
    assert tok.info.bitrate_bps == pytest.approx(
        tok.info.frame_rate * tok.info.n_codebooks * math.log2(cfg["codebook_size"]))


@pytest.mark.parametrize("name, max_books", [("encodec", 16), ("dac", 6), ("mimi", 8)])
def test_bitrate_tiers_choose_codebooks(name, max_books, model_dirs) -> None:
    infos = {b: at.load_tokenizer(name, model=str(model_dirs[name]), bitrate=b).info
             for b in ("low", "medium", "high")}
    bits_per_book = infos["high"].bitrate_bps / infos["high"].n_codebooks
    expected_low = max(1, math.floor(1500 / bits_per_book))
    assert infos["low"].n_codebooks == expected_low
    assert infos["low"].bitrate_bps <= max(1500.0, bits_per_book)
    expected_medium = max(expected_low, min(math.floor(6000 / bits_per_book), max_books // 2))
    assert infos["medium"].n_codebooks == expected_medium
    assert infos["high"].n_codebooks == max_books
    assert infos["low"].bitrate_bps < infos["medium"].bitrate_bps < infos["high"].bitrate_bps
    explicit = at.load_tokenizer(name, model=str(model_dirs[name]), n_codebooks=3)
    assert explicit.info.n_codebooks == 3
    with pytest.raises(ValueError, match=rf"\[1, {max_books}\]"):
        _ = at.load_tokenizer(name, model=str(model_dirs[name]), n_codebooks=99).info


def test_encodec_tiers_map_to_encodec_bandwidths(model_dirs) -> None:
    # tiny model: 250 Hz x 6 bits = 1.5 kbps per codebook, bandwidths 1.5 / 6 / 24 kbps
    got = [at.load_tokenizer("encodec", model=str(model_dirs["encodec"]), bitrate=b)
           .info.bitrate_bps for b in ("low", "medium", "high")]
    assert got == [1500.0, 6000.0, 24000.0]


@pytest.mark.parametrize("name", HF_NAMES)
def test_encode_batch_lengths_and_padding(name, hf_tokenizers, librispeech_root) -> None:
    tok = hf_tokenizers[name]
    a, b = _speech(librispeech_root, 2.0, 0), _speech(librispeech_root, 1.3, 1)
    batch = tok.encode_batch([a.samples, b.samples], 16000)
    singles = [tok.encode(x.samples, 16000) for x in (a, b)]
    assert batch.codes.shape[:2] == (2, singles[0].n_frames)
    assert batch.lengths.tolist() == [s.n_frames for s in singles]
    assert (batch.codes[1, singles[1].n_frames:] == 0).all()
    if name in ("encodec", "mimi"):  # causal models: padding cannot change earlier frames
        for got, want in zip(batch.items(), singles, strict=True):
            np.testing.assert_array_equal(got.codes, want.codes)


@pytest.mark.parametrize("name", HF_NAMES)
def test_hf_save_load_keeps_model_path_only(name, model_dirs, hf_tokenizers, speech,
                                            tmp_path) -> None:
    tok = hf_tokenizers[name]
    folder = tok.save(tmp_path / "tok")
    assert (folder / CONFIG_FILE).is_file() and not (folder / WEIGHTS_FILE).exists()
    header = json.loads((folder / CONFIG_FILE).read_text())
    assert header["config"]["model"] == str(model_dirs[name])
    again = at.load_tokenizer(folder)
    assert again.info == tok.info
    np.testing.assert_array_equal(again.encode(speech.samples, 16000).codes,
                                  tok.encode(speech.samples, 16000).codes)


def test_hf_clear_errors(model_dirs, tmp_path, speech) -> None:
    with pytest.raises(at.TokenizerError, match="is a 'dac' model, not 'encodec'"):
        _ = at.load_tokenizer("encodec", model=str(model_dirs["dac"])).info
    with pytest.raises(at.TokenizerError, match="cannot load"):
        _ = at.load_tokenizer("mimi", model=str(tmp_path)).info
    with pytest.raises(ValueError, match="bitrate must be one of"):
        at.load_tokenizer("dac", model=str(model_dirs["dac"]), bitrate="ultra")
    tok = at.load_tokenizer("dac", model=str(model_dirs["dac"]), bitrate="low")
    with pytest.raises(ValueError, match="NaN"):  # checked before the model loads
        tok.encode(np.full(1000, np.nan, dtype=np.float32), 16000)
    wrong = Tokens(np.zeros((5, tok.info.n_codebooks + 1)),
                   at.TokenizerInfo("x", "codec", 16000, 500.0, (64,) * (tok.info.n_codebooks + 1)))
    with pytest.raises(ValueError, match="decodes"):
        tok.decode(wrong)


# -- Codec2 -------------------------------------------------------------------------------
CODEC2_BPS = {"700C": 700, "1200": 1200, "1300": 1300, "1400": 1400, "1600": 1600,
              "2400": 2400, "3200": 3200}


@pytest.mark.parametrize("mode", list(CODEC2_BPS))
def test_codec2_bitrate_is_nominal(mode) -> None:
    info = at.load_tokenizer("codec2", mode=mode).info
    assert info.bitrate_bps == CODEC2_BPS[mode]
    assert info.sample_rate == 8000 and info.frame_rate in (25.0, 50.0)
    assert all(v <= 256 and v & (v - 1) == 0 for v in info.vocab_sizes)
    wide = at.load_tokenizer("codec2", mode=mode, max_bits=16).info
    assert wide.bitrate_bps == CODEC2_BPS[mode] and max(wide.vocab_sizes) <= 65536


def test_codec2_fields_are_the_codec_bits(speech) -> None:
    import pycodec2

    tok = at.load_tokenizer("codec2", mode=1300)
    tokens = tok.encode(speech.samples, speech.sample_rate)
    codec = pycodec2.Codec2(1300)
    x8k = at.audio.resample(speech.samples, 16000, 8000)
    first = codec.encode(np.round(x8k[:320] * 32767).astype(np.int16))
    value = int.from_bytes(first, "big") >> (len(first) * 8 - 52)  # the 52 frame bits
    widths = [int(math.log2(v)) for v in tok.info.vocab_sizes]
    fields, shift = [], 52
    for w in widths:
        shift -= w
        fields.append((value >> shift) & ((1 << w) - 1))
    assert tokens.codes[0].tolist() == fields


@pytest.mark.parametrize("mode", ["700C", "1600", "3200"])
def test_codec2_round_trip_on_real_speech(mode, librispeech_root) -> None:
    clip = _speech(librispeech_root, 3.0)
    tok = at.load_tokenizer("codec2", mode=mode)
    tokens = tok.encode(clip.samples, clip.sample_rate)
    tokens.validate()
    hop = 8000 / tok.info.frame_rate
    assert abs(tokens.n_frames - clip.duration * tok.info.frame_rate) <= 1
    audio = tok.decode(tokens)
    assert audio.dtype == np.float32 and len(audio) == tokens.n_frames * hop
    ref = at.audio.resample(clip.samples, 16000, 8000)
    noise = np.random.default_rng(0).standard_normal(len(ref)).astype(np.float32) * ref.std()
    assert stoi_score(ref, audio, 8000) > stoi_score(ref, noise, 8000) + 0.15


def test_codec2_config_validation() -> None:
    assert at.load_tokenizer("codec2", mode=700).config.mode == "700C"
    with pytest.raises(ValueError, match="700C"):
        at.load_tokenizer("codec2", mode="450")
    with pytest.raises(ValueError, match=r"\[1, 16\]"):
        at.load_tokenizer("codec2", max_bits=20)


# -- mu-law -------------------------------------------------------------------------------
def test_mulaw_info_and_ids() -> None:
    from audiotokens.tokenizers.classic import mulaw_decode, mulaw_encode

    info = at.load_tokenizer("mulaw").info
    assert info.vocab_sizes == (256,) and info.bitrate_bps == 128000
    assert at.load_tokenizer("mulaw", sample_rate=8000).info.bitrate_bps == 64000
    ids = mulaw_encode(np.array([-1.0, -0.01, 0.0, 0.01, 1.0, 2.0]))
    assert ids.tolist()[0] == 0 and ids.tolist()[-2:] == [255, 255]
    assert (np.diff(ids) >= 0).all()
    assert np.abs(mulaw_decode(np.arange(256))).max() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="sample_rate"):
        at.load_tokenizer("mulaw", sample_rate=100)


@pytest.mark.parametrize("rate", [16000, 8000])
def test_mulaw_round_trip_snr(rate, speech, fsdd_root) -> None:
    tok = at.load_tokenizer("mulaw", sample_rate=rate)
    for clip in (speech, at.load_audio(fsdd_root / "recordings" / "3_jackson_0.wav")):
        tokens = tok.encode(clip.samples, clip.sample_rate)
        ref = at.audio.resample(clip.samples, clip.sample_rate, rate)
        assert tokens.codes.shape == (len(ref), 1)
        tokens.validate()
        out = tok.decode(tokens)
        snr = 10 * np.log10(np.sum(ref**2) / np.sum((ref - out) ** 2))
        assert snr > 30.0
