"""SemanticTokenizer on real speech: tiny random-init HuBERT / WavLM and mel / MFCC k-means."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from audiotokens.audio import load_audio
from audiotokens.data.manifest import ManifestItem, write_manifest
from audiotokens.testing import save_tiny_ssl
from audiotokens.tokenizers.base import TokenizerError
from audiotokens.tokenizers.features import pad_batch
from audiotokens.tokenizers.kmeans import inertia
from audiotokens.tokenizers.registry import load_tokenizer
from audiotokens.tokenizers.semantic import SemanticConfig, SemanticTokenizer, dedup_frames

LIBRI = ["3005/3005-163389-0007", "3331/3331-159605-0004", "367/367-130732-0006",
         "367/367-130732-0000", "3005/3005-163389-0004", "2414/2414-128291-0009"]

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def libri_paths(librispeech_root) -> list[Path]:
    base = librispeech_root / "audio_data" / "librispeech_test-other"
    return [base / f"{n}.flac" for n in LIBRI]


@pytest.fixture
def manifest(libri_paths, tmp_path) -> Path:
    """The first four utterances plus one broken file (skipped with a warning by fit)."""
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio at all")
    items = [ManifestItem(id=p.stem, path=str(p), duration=0.0) for p in libri_paths[:4]]
    items.insert(2, ManifestItem(id="broken", path=str(broken), duration=0.0))
    return write_manifest(items, tmp_path / "train.jsonl")


def fitted(manifest: Path, **options) -> SemanticTokenizer:
    tok = load_tokenizer(options.pop("name"), k=16, kmeans_iterations=10, **options)
    with pytest.warns(UserWarning, match="broken.wav"):
        tok.fit(manifest)
    assert isinstance(tok, SemanticTokenizer)
    return tok


def test_hubert_fit_encode_real_speech(hubert_dir, manifest, libri_paths, tmp_path) -> None:
    tok = load_tokenizer("hubert", model=hubert_dir, layers=[0, 3], k=16, kmeans_iterations=10)
    info = tok.info
    assert not info.fitted and info.kind == "semantic" and info.frame_rate == 50.0
    assert info.codebook_names == ("layer0", "layer3") and info.vocab_sizes == (16, 16)
    assert info.source == f"hubert:{hubert_dir}"
    audio = load_audio(libri_paths[5])  # held out from fit
    with pytest.raises(TokenizerError, match="fit"):
        tok.encode(audio.samples, audio.sample_rate)
    with pytest.warns(UserWarning, match="broken.wav"):
        tok.fit(manifest)
    report = tok.last_fit
    assert report is not None and (report.items, report.skipped) == (4, 1)
    assert report.vectors[0] == report.frames and tok.info.fitted

    toks = tok.encode(audio.samples, audio.sample_rate)
    assert toks.codes.shape[1] == 2 and toks.codes.dtype == np.int64
    assert abs(toks.n_frames - 50.0 * audio.duration) <= 1
    toks.validate()
    assert len(np.unique(toks.codes[:, 1])) > 3  # real speech spreads over several units
    # same input -> same tokens; refit with the same seed -> the same tokenizer
    np.testing.assert_array_equal(tok.encode(audio.samples, audio.sample_rate).codes, toks.codes)
    again = load_tokenizer("hubert", model=hubert_dir, layers=[0, 3], k=16, kmeans_iterations=10)
    with pytest.warns(UserWarning):
        again.fit(manifest)
    assert again.checksum() == tok.checksum()
    # 8 kHz input is resampled inside: same frame count
    low = tok.encode(load_audio(libri_paths[5], 8000).samples, 8000)
    assert abs(low.n_frames - toks.n_frames) <= 1
    # save -> load: config keeps the model folder, weights only the centroids
    tok.save(tmp_path / "tok")
    loaded = load_tokenizer(tmp_path / "tok")
    np.testing.assert_array_equal(loaded.encode(audio.samples, audio.sample_rate).codes,
                                  toks.codes)
    assert set(tok.state_tensors()) == {"centroids.layer0", "centroids.layer3"}
    assert loaded.info == tok.info


def test_layer_selection_sets_codebooks(hubert_dir, manifest, libri_paths) -> None:
    two = fitted(manifest, name="hubert", model=hubert_dir, layers=[1, 2])
    one = fitted(manifest, name="hubert", model=hubert_dir, layers=[2])
    audio = load_audio(libri_paths[0])
    a, b = two.encode(audio.samples, 16000), one.encode(audio.samples, 16000)
    assert a.codes.shape[1] == 2 and b.codes.shape[1] == 1
    # layer 2's codebook is trained on the same frames either way
    np.testing.assert_array_equal(a.codes[:, 1], b.codes[:, 0])


def test_one_frame_sample_fits_every_layer_and_k(hubert_dir, manifest) -> None:
    """A sample of layers [1, 2] from one backbone pass fits tokenizers of either layer and
    any k with exactly the centroids of fitting each from scratch."""
    union = load_tokenizer("hubert", model=hubert_dir, layers=[1, 2], k=16)
    with pytest.warns(UserWarning, match="broken.wav"):
        sample = union.sample_frames(manifest)
    assert sorted(sample.vectors) == [1, 2] and sample.report.items == 4
    for layers, k in (([2], 8), ([1], 16), ([1, 2], 8)):
        shared = load_tokenizer("hubert", model=hubert_dir, layers=layers, k=k,
                                kmeans_iterations=10)
        shared.fit_sample(sample)
        alone = load_tokenizer("hubert", model=hubert_dir, layers=layers, k=k,
                               kmeans_iterations=10)
        with pytest.warns(UserWarning, match="broken.wav"):
            alone.fit(manifest)
        assert shared.checksum() == alone.checksum()
        assert shared.last_fit.frames == alone.last_fit.frames
    other = load_tokenizer("hubert", model=hubert_dir, layers=[3], k=8)
    with pytest.raises(TokenizerError, match="holds layers"):
        other.fit_sample(sample)


def test_wavlm_batch_equals_single_and_dedup(wavlm_dir, manifest, libri_paths) -> None:
    tok = fitted(manifest, name="wavlm", model=wavlm_dir, layers=[1, 3], batch_size=4)
    signals = [load_audio(p).samples for p in libri_paths[3:]]
    signals.append(signals[0][:200])  # shorter than one frame: 0 tokens
    batch = tok.encode_batch(signals, 16000)
    assert batch.codes.shape[0] == 4 and batch.lengths[-1] == 0
    for item, s in zip(batch.items(), signals, strict=True):
        np.testing.assert_array_equal(item.codes, tok.encode(s, 16000).codes)
    dedup = SemanticTokenizer(SemanticConfig(**{**tok.config_dict(), "dedup": True}))
    dedup.load_state_tensors({k: v.numpy() for k, v in tok.state_tensors().items()})
    plain = tok.encode(signals[0], 16000).codes
    short = dedup.encode(signals[0], 16000).codes
    np.testing.assert_array_equal(short, dedup_frames(plain))
    assert len(short) < len(plain) and not (short[1:] == short[:-1]).all(axis=1).any()


@pytest.mark.parametrize("kind", ["hubert", "data2vec"])
def test_models_that_cannot_pad_exactly_still_batch_exactly(kind, manifest, libri_paths,
                                                            tmp_path) -> None:
    """Group-norm HuBERT and Data2VecAudio change a padded item's features; exact_batches
    (the default) forwards equal-length groups separately, so the batch equals per-item."""
    model = save_tiny_ssl(kind, tmp_path / kind, layer_norm=kind == "data2vec")
    tok = fitted(manifest, name=kind, model=model, layers=[1, 3], batch_size=8)
    assert not tok.backbone.pads_exactly
    signals = [load_audio(p).samples[:32000] for p in libri_paths[3:]]
    signals += [signals[0][:9000], signals[1][:9000], signals[2][:200]]  # a pair, too short
    batch = tok.encode_batch(signals, 16000)
    assert batch.lengths.tolist()[-3:] == [27, 27, 0]  # (9000 - 400) // 320 + 1
    singles = [tok.encode(s, 16000).codes for s in signals]
    for item, alone in zip(batch.items(), singles, strict=True):
        np.testing.assert_array_equal(item.codes, alone)
    loose = SemanticTokenizer(SemanticConfig(**{**tok.config_dict(), "exact_batches": False}))
    loose.load_state_tensors({k: v.numpy() for k, v in tok.state_tensors().items()})
    padded = loose.backbone.forward(*pad_batch([torch.from_numpy(s) for s in signals[:4]]),
                                    [3]).items(3)
    exact = tok.backbone.forward(*pad_batch([torch.from_numpy(s) for s in signals[:4]]),
                                 [3]).items(3)
    alone = tok.backbone.forward(*pad_batch([torch.from_numpy(signals[3])]), [3]).items(3)[0]
    torch.testing.assert_close(exact[3], alone, atol=1e-5, rtol=1e-5)
    assert (padded[3] - alone).abs().max() > 1e-3  # the padded forward does differ


@pytest.mark.parametrize("name", ["mel-kmeans", "mfcc-kmeans"])
def test_weightless_tokens_carry_information(name, fsdd_root, tmp_path) -> None:
    rec = fsdd_root / "recordings"
    train = [ManifestItem(id=p.stem, path=str(p), duration=0.0)
             for p in sorted(rec.glob("*_1[01].wav"))]  # takes 10, 11 of every speaker
    assert len(train) >= 60
    tok = load_tokenizer(name, k=32, kmeans_iterations=20)
    tok.fit(write_manifest(train, tmp_path / "m.jsonl"))

    def frames(paths: list[Path]) -> np.ndarray:
        return torch.cat(tok._forward([load_audio(p, 16000).samples for p in paths])
                         .items(0)).numpy()

    # baselines built from the training frames only, scored on held-out takes (take 0)
    x_train, x_test = frames([Path(it.path) for it in train]), frames(sorted(rec.glob("*_0.wav")))
    cent = tok.state_tensors()["centroids.layer0"].numpy()
    rng = np.random.default_rng(0)
    mean, std = x_train.mean(0), x_train.std(0)
    gaussian = (mean + std * rng.normal(size=cent.shape)).astype(np.float32)
    ours, rand, one = (inertia(x_test, c) for c in (cent, gaussian, mean[None]))
    assert ours < 0.5 * rand and ours < 0.6 * one, (ours, rand, one)

    held = [load_audio(p).samples for p in sorted(rec.glob("*_jackson_0.wav"))[:4]]
    batch = tok.encode_batch(held, 8000)
    for item, s in zip(batch.items(), held, strict=True):
        np.testing.assert_array_equal(item.codes, tok.encode(s, 8000).codes)
    assert len(np.unique(batch.codes[0][: batch.lengths[0]])) > 2


def test_config_errors_name_the_allowed_values() -> None:
    with pytest.raises(ValueError, match="one of.*mel.*wavlm"):
        SemanticConfig(backbone="nope")
    with pytest.raises(ValueError, match="needs model="):
        SemanticConfig(backbone="hubert", layers=[3])
    with pytest.raises(ValueError, match="needs layers="):
        SemanticConfig(backbone="hubert", model="x")
    with pytest.raises(ValueError, match=r"must be \[0\]"):
        SemanticConfig(backbone="mel", layers=[2])
    with pytest.raises(ValueError, match="max_vectors"):
        SemanticConfig(k=100, max_vectors=10)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        SemanticTokenizer(SemanticConfig()).fit("m.jsonl", bogus=1)


def test_bad_weights_and_inputs_are_clear_errors(hubert_dir) -> None:
    tok = load_tokenizer("mel-kmeans", k=4)
    with pytest.raises(TokenizerError, match="expected"):
        tok.load_state_tensors({"centroids.layer1": np.zeros((4, 80), np.float32)})
    with pytest.raises(TokenizerError, match="k=4"):
        tok.load_state_tensors({"centroids.layer0": np.zeros((5, 80), np.float32)})
    tok.load_state_tensors({"centroids.layer0": np.zeros((4, 12), np.float32)})
    with pytest.raises(TokenizerError, match="D=12"):
        tok.encode(np.zeros(16000, np.float32), 16000)
    tok.load_state_tensors({"centroids.layer0": np.zeros((4, 80), np.float32)})
    with pytest.raises(ValueError, match="mono"):
        tok.encode(np.zeros((2, 100), np.float32), 16000)
    with pytest.raises(ValueError, match="NaN"):
        tok.encode(np.full(1000, np.nan, np.float32), 16000)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_gives_the_cpu_tokens(hubert_dir, manifest, libri_paths) -> None:
    tok = fitted(manifest, name="hubert", model=hubert_dir, layers=[0, 2])
    audio = load_audio(libri_paths[5])
    cpu = tok.encode(audio.samples, 16000).codes
    gpu = tok.to("cuda").encode(audio.samples, 16000).codes
    assert (gpu == cpu).mean() > 0.98  # float differences may flip a rare boundary frame
