"""Unit vocoder: config validation, training on real speech tokens, decode lengths, layer
subsets, speaker / oracle / adversarial variants, checkpoint resume, save/load round trip,
for both generators (iSTFT, the default, and HiFi-GAN)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from audiotokens.audio import load_audio
from audiotokens.data.manifest import ManifestItem, write_manifest
from audiotokens.tokenizers.base import Tokenizer, TokenizerError, TokenizerInfo, Tokens
from audiotokens.tokenizers.registry import load_tokenizer
from audiotokens.train import LoopConfig, run_loop
from audiotokens.vocoder import (
    UnitVocoder,
    VocoderConfig,
    VocoderTrainOptions,
    default_upsample_rates,
    load_vocoder,
    save_vocoder,
    speaker_vector,
    train_vocoder,
    vocoder_config_for,
)
from audiotokens.vocoder.data import SegmentSampler, load_clips
from audiotokens.vocoder.train import VocoderTrainable

TINY = {"embed_dim": 16, "channels": 16, "backbone_blocks": 1}
TINY_HIFIGAN = {"embed_dim": 16, "channels": 16, "generator": "hifigan",
                "resblock_kernels": (3,), "resblock_dilations": (1,)}
GENERATORS = pytest.mark.parametrize("tiny", [TINY, TINY_HIFIGAN], ids=["istft", "hifigan"])
FAST = {"batch_size": 2, "segment_frames": 8, "lr": 3e-3, "log_every": 1}


class StackedTokenizer(Tokenizer):
    """Test helper: several single-codebook tokenizers at one frame rate as one C-codebook
    tokenizer (codebook j = tokenizer j), so layer subsets can be tested on real tokens."""

    def __init__(self, parts: list[Tokenizer], names: list[str]) -> None:
        super().__init__(config=None, name="stacked")
        self.parts, self.names = parts, names

    @property
    def info(self) -> TokenizerInfo:
        first = self.parts[0].info
        vocab = tuple(v for p in self.parts for v in p.info.vocab_sizes)
        return TokenizerInfo("stacked", "semantic", first.sample_rate, first.frame_rate, vocab,
                             tuple(self.names))

    def encode(self, samples: np.ndarray, sample_rate: int) -> Tokens:
        codes = [p.encode(samples, sample_rate).codes for p in self.parts]
        n = min(len(c) for c in codes)
        return Tokens(np.concatenate([c[:n] for c in codes], axis=1), self.info)


@pytest.fixture(scope="module")
def fsdd_manifest(tmp_path_factory) -> Path:
    from conftest import shared_corpus

    root = shared_corpus("fsdd") / "recordings"
    files = sorted(root.glob("*.wav"))
    speakers = sorted({f.stem.split("_")[1] for f in files})[:3]
    chosen = [f for f in files if f.stem.split("_")[1] in speakers and f.stem.endswith("_0")]
    items = [ManifestItem(f.stem, str(f), load_audio(f).duration, speaker=f.stem.split("_")[1])
             for f in chosen[:12]]
    return write_manifest(items, tmp_path_factory.mktemp("voc") / "train.jsonl")


def mel_kmeans(k: int, manifest: Path) -> Tokenizer:
    """The real mel-kmeans tokenizer with ``k`` centroids, fitted on the manifest's clips."""
    tok = load_tokenizer("mel-kmeans", k=k)
    tok.fit(manifest, progress=False)
    return tok


@pytest.fixture(scope="module")
def mel16(fsdd_manifest) -> Tokenizer:
    return mel_kmeans(16, fsdd_manifest)


@pytest.fixture(scope="module")
def stacked(fsdd_manifest, mel16) -> StackedTokenizer:
    return StackedTokenizer([mel16, mel_kmeans(8, fsdd_manifest)], ["mel_k16", "mel_k8"])


# -- config -----------------------------------------------------------------------------
def test_upsample_rates_must_multiply_to_hop_and_error_lists_a_valid_choice() -> None:
    with pytest.raises(ValueError, match=r"hop_length 320.*\(8, 8, 5\)"):
        VocoderConfig((16,), ("layer0",), 16000, 320, upsample_rates=(8, 4))
    for hop in (1, 2, 240, 256, 320, 480, 600, 13 * 4):
        assert np.prod(default_upsample_rates(hop)) == hop
    cfg = VocoderConfig((16,), ("layer0",), 16000, 320)
    assert np.prod(cfg.upsample_rates) == 320
    assert VocoderConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match=r"layer_dropout must be in \[0, 1\)"):
        VocoderConfig((16,), ("layer0",), 16000, 320, layer_dropout=1.0)
    with pytest.raises(ValueError, match="same length"):
        VocoderConfig((16, 8), ("layer0",), 16000, 320)
    with pytest.raises(ValueError, match="allowed"):
        VocoderConfig.from_dict({**cfg.to_dict(), "hop": 3})


def test_generator_choice_and_stft_hop_are_validated_with_the_allowed_values() -> None:
    cfg = VocoderConfig((16,), ("layer0",), 16000, 320)
    assert cfg.generator == "istft" and cfg.stft_hop == 160 and cfg.spectral().n_fft == 640
    assert VocoderConfig((16,), ("q",), 16000, 75).stft_hop == 75
    with pytest.raises(ValueError, match=r"generator must be one of \['istft', 'hifigan'\]"):
        VocoderConfig((16,), ("layer0",), 16000, 320, generator="wavenet")
    with pytest.raises(ValueError, match="stft_hop 150 must be a positive divisor.*e.g. 160"):
        VocoderConfig((16,), ("layer0",), 16000, 320, stft_hop=150)
    with pytest.raises(ValueError, match="backbone_blocks"):
        VocoderConfig((16,), ("layer0",), 16000, 320, backbone_blocks=-1)
    assert VocoderConfig((16,), ("layer0",), 16000, 320, channels=4).default_lr == 6e-3
    with pytest.raises(ValueError, match="halved"):  # only HiFi-GAN halves its channels
        VocoderConfig((16,), ("layer0",), 16000, 320, channels=4, generator="hifigan")
    assert VocoderConfig((16,), ("q",), 16000, 320, generator="hifigan").default_lr == 2e-4


def test_the_bench_vocoder_budgets_are_valid_settings(stacked) -> None:
    from audiotokens.bench.runner import VOCODER_FIT

    for budget in VOCODER_FIT:
        options = dict(budget)
        cfg = vocoder_config_for(stacked, **options.pop("config", {}))
        VocoderTrainOptions(**options)
        assert cfg.generator == "istft"


def test_config_for_tokenizer_derives_rate_hop_and_codebooks(stacked) -> None:
    cfg = vocoder_config_for(stacked, **TINY)
    assert cfg.vocab_sizes == (16, 8) and cfg.codebook_names == ("mel_k16", "mel_k8")
    assert cfg.sample_rate == 16000 and cfg.hop_length == 320 and cfg.frame_rate == 50.0
    with pytest.raises(ValueError, match="cannot be overridden"):
        vocoder_config_for(stacked, hop_length=160)


# -- model ------------------------------------------------------------------------------
@GENERATORS
def test_forward_and_synthesize_lengths_and_layer_subsets(stacked, fsdd_manifest, tiny) -> None:
    torch.manual_seed(0)
    voc = UnitVocoder(vocoder_config_for(stacked, **tiny))
    codes = torch.randint(0, 8, (2, 7, 2))
    assert voc(codes).shape == (2, 7 * 320)
    clip = load_clips(stacked, fsdd_manifest, voc.config)[0]
    tokens = Tokens(clip.codes, stacked.info)
    full = voc.synthesize(tokens)
    assert full.dtype == np.float32 and full.shape == (tokens.n_frames * 320,)
    assert voc.last_layers == ("mel_k16", "mel_k8")
    only8 = voc.synthesize(tokens, layers=["mel_k8"])
    assert voc.last_layers == ("mel_k8",) and only8.shape == full.shape
    assert not np.allclose(only8, full)
    np.testing.assert_allclose(voc.synthesize(tokens, layers=[1]), only8, atol=1e-6)
    weights = voc.codebook_weights()
    assert list(weights) == ["mel_k16", "mel_k8"] and sum(weights.values()) == pytest.approx(1)
    assert voc.codebook_weights(["mel_k16"]) == {"mel_k16": 1.0, "mel_k8": 0.0}
    assert voc.synthesize(Tokens(np.zeros((0, 2)), stacked.info)).shape == (0,)


def test_bad_decode_inputs_raise_clear_errors(stacked) -> None:
    voc = UnitVocoder(vocoder_config_for(stacked, **TINY))
    tokens = Tokens(np.zeros((5, 2)), stacked.info)
    with pytest.raises(ValueError, match=r"unknown codebook 'layer7'.*mel_k16"):
        voc.synthesize(tokens, layers=["layer7"])
    with pytest.raises(ValueError, match="at least one"):
        voc.synthesize(tokens, layers=[])
    other = TokenizerInfo("x", "semantic", 16000, 50.0, (16, 9))
    with pytest.raises(ValueError, match="vocab sizes"):
        voc.synthesize(Tokens(np.zeros((5, 2)), other))
    with pytest.raises(ValueError, match="out of range"):
        voc.synthesize(Tokens(np.full((5, 2), 8), stacked.info))
    with pytest.raises(ValueError, match="keeps no codebook"):
        voc(torch.zeros(1, 3, 2, dtype=torch.int64), torch.zeros(2, dtype=torch.bool))


def test_layer_dropout_masks_are_never_empty_and_drop_at_the_given_rate(stacked,
                                                                       fsdd_manifest) -> None:
    cfg = vocoder_config_for(stacked, layer_dropout=0.6, **TINY)
    sampler = SegmentSampler(load_clips(stacked, fsdd_manifest, cfg), cfg, 12)
    masks = np.stack([sampler.batch(s, 1).mask.numpy() for s in range(400)])
    assert masks.any(axis=1).all()
    assert 0.25 < masks.mean() < 0.6  # 0.4 kept, plus the forced keep when both drop
    b = sampler.batch(3, 4)
    assert b.inputs.shape == (4, 12, 2) and b.audio.shape == (4, 12 * 320)
    np.testing.assert_array_equal(sampler.batch(3, 4).inputs, b.inputs)  # pure in step


# -- training ---------------------------------------------------------------------------
# The iSTFT generator starts from unit magnitudes in every bin (loud noise, also in FSDD's empty
# band above 4 kHz) and needs a higher rate to leave it within a few steps.
@pytest.mark.parametrize(("tiny", "lr", "steps"), [(TINY, 1e-2, 24), (TINY_HIFIGAN, 3e-3, 12)],
                         ids=["istft", "hifigan"])
def test_training_on_real_speech_tokens_reduces_the_loss(mel16, fsdd_manifest, tiny, lr,
                                                         steps) -> None:
    cfg = vocoder_config_for(mel16, **tiny)
    options = VocoderTrainOptions(max_steps=steps, **{**FAST, "lr": lr})
    sampler = SegmentSampler(load_clips(mel16, fsdd_manifest, cfg), cfg, options.segment_frames)
    torch.manual_seed(0)
    trainable = VocoderTrainable(UnitVocoder(cfg), sampler, options)
    before = trainable.evaluate()
    run_loop(trainable, LoopConfig(max_steps=steps, log_every=4), progress_desc=None)
    after = trainable.evaluate()
    print(f"eval loss {before:.3f} -> {after:.3f}")
    assert after < 0.85 * before, (before, after)


def test_checkpoint_resume_matches_an_uninterrupted_run(stacked, fsdd_manifest,
                                                        tmp_path) -> None:
    cfg = vocoder_config_for(stacked, **TINY)
    straight = train_vocoder(stacked, fsdd_manifest, cfg,
                             VocoderTrainOptions(max_steps=3, **FAST), progress_desc=None)
    ckpt = tmp_path / "voc.pt"
    first = train_vocoder(stacked, fsdd_manifest, cfg,
                          VocoderTrainOptions(max_steps=2, checkpoint=ckpt, **FAST),
                          progress_desc=None)
    assert first.steps == 2 and ckpt.is_file()
    resumed = train_vocoder(stacked, fsdd_manifest, cfg,
                            VocoderTrainOptions(max_steps=3, checkpoint=ckpt, **FAST),
                            progress_desc=None)
    assert resumed.steps == 3 and len(resumed.history) == 1
    assert straight.n_clips == 12 and straight.last["loss"] > 0
    for (name, a), b in zip(straight.model.state_dict().items(),
                            resumed.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_speaker_oracle_and_adversarial_variants_train(mel16, fsdd_manifest) -> None:
    options = VocoderTrainOptions(max_steps=1, **FAST)
    spk = train_vocoder(mel16, fsdd_manifest, vocoder_config_for(mel16, speaker_dim=8, **TINY),
                        options, progress_desc=None)
    audio = load_audio(load_clips_paths(fsdd_manifest)[0], 16000).samples
    vec = speaker_vector(audio, 16000, 8)
    assert vec.shape == (8,) and np.isfinite(vec).all()
    tokens = mel16.encode(audio, 16000)
    out = spk.model.synthesize(tokens, speaker=vec)
    assert out.shape == (tokens.n_frames * 320,)
    with pytest.raises(ValueError, match="needs speaker"):
        spk.model.synthesize(tokens)
    oracle = train_vocoder(mel16, fsdd_manifest,
                           vocoder_config_for(mel16, continuous_input_dim=20, **TINY), options,
                           progress_desc=None)
    assert oracle.model(torch.randn(1, 6, 20)).shape == (1, 6 * 320)
    assert oracle.model.codebook_weights() == {}
    adv = train_vocoder(mel16, fsdd_manifest, vocoder_config_for(mel16, adversarial=True, **TINY),
                        options, progress_desc=None)
    assert {"d_loss", "g_adv", "g_feat"} <= set(adv.last)


def load_clips_paths(manifest: Path) -> list[str]:
    return [json.loads(line)["path"] for line in manifest.read_text().splitlines()]


# -- persistence ------------------------------------------------------------------------
@GENERATORS
def test_save_load_round_trip_gives_identical_audio(stacked, fsdd_manifest, tmp_path,
                                                    tiny) -> None:
    torch.manual_seed(1)
    voc = UnitVocoder(vocoder_config_for(stacked, **tiny)).eval()
    tokens = Tokens(load_clips(stacked, fsdd_manifest, voc.config)[2].codes, stacked.info)
    folder = tmp_path / "tok" / "vocoder"
    save_vocoder(voc, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "weights.safetensors"]
    loaded = load_vocoder(folder)
    assert loaded.config == voc.config
    for layers in (None, ["mel_k16"]):
        np.testing.assert_array_equal(loaded.synthesize(tokens, layers),
                                      voc.synthesize(tokens, layers))


def test_a_format_1_folder_without_a_generator_field_loads_as_hifigan(stacked, fsdd_manifest,
                                                                     tmp_path) -> None:
    torch.manual_seed(2)
    voc = UnitVocoder(vocoder_config_for(stacked, **TINY_HIFIGAN)).eval()
    save_vocoder(voc, tmp_path)
    header = json.loads((tmp_path / "config.json").read_text())
    for name in ("generator", "backbone_blocks", "stft_hop"):  # fields format 1 lacked
        del header["config"][name]
    (tmp_path / "config.json").write_text(json.dumps({**header, "format_version": 1}))
    loaded = load_vocoder(tmp_path)
    assert loaded.config.generator == "hifigan"
    tokens = Tokens(load_clips(stacked, fsdd_manifest, voc.config)[0].codes, stacked.info)
    np.testing.assert_array_equal(loaded.synthesize(tokens), voc.synthesize(tokens))
    header["format_version"] = 2  # format 2 without the field means the default, iSTFT
    (tmp_path / "config.json").write_text(json.dumps(header))
    with pytest.raises(TokenizerError, match="weights do not match"):
        load_vocoder(tmp_path)


def test_loading_a_broken_vocoder_folder_names_the_file(stacked, tmp_path) -> None:
    with pytest.raises(TokenizerError, match="config.json: unreadable"):
        load_vocoder(tmp_path)
    voc = UnitVocoder(vocoder_config_for(stacked, **TINY))
    save_vocoder(voc, tmp_path)
    header = json.loads((tmp_path / "config.json").read_text())
    header["config"]["channels"] = 32
    (tmp_path / "config.json").write_text(json.dumps(header))
    with pytest.raises(TokenizerError, match="weights.safetensors: weights do not match"):
        load_vocoder(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"kind": "other"}))
    with pytest.raises(TokenizerError, match="not a unit-vocoder"):
        load_vocoder(tmp_path)
