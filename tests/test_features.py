"""Feature backbones: shapes, frame counts, batching, early stop, normalisation, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiotokens.audio import load_audio
from audiotokens.dsp import MelConfig, dct_matrix, log_mel
from audiotokens.tokenizers.features import (
    MelBackbone,
    MfccBackbone,
    SSLBackbone,
    build_backbone,
    pad_batch,
    ssl_frame_rate,
)

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def speech(librispeech_root) -> list[np.ndarray]:
    """Three real 16 kHz utterances of different lengths (2.0-2.4 s)."""
    names = ["3005/3005-163389-0007", "3331/3331-159605-0004", "367/367-130732-0006"]
    base = librispeech_root / "audio_data" / "librispeech_test-other"
    return [load_audio(base / f"{n}.flac", 16000).samples for n in names]


def batch_of(signals: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    return pad_batch([torch.from_numpy(s) for s in signals])


def test_pad_batch_shapes() -> None:
    wav, lengths = pad_batch([torch.ones(5), torch.ones(3)])
    assert wav.shape == (2, 5) and wav.dtype == torch.float32
    assert lengths.tolist() == [5, 3] and wav[1, 3:].abs().sum() == 0
    with pytest.raises(ValueError, match="empty"):
        pad_batch([])


def test_mel_frames_follow_hop_and_batch_equals_single(speech) -> None:
    bb = MelBackbone()
    assert (bb.frame_rate, bb.layer_count, bb.dim) == (50.0, 1, 80)
    out = bb.forward(*batch_of(speech), layers=[0])
    assert out.layer(0).shape == (3, max(len(s) for s in speech) // 320, 80)
    assert out.lengths.tolist() == [len(s) // 320 for s in speech]
    for item, s in zip(out.items(0), speech, strict=True):
        alone = log_mel(torch.from_numpy(s), MelConfig())
        torch.testing.assert_close(item, alone, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match=r"0\.\.0"):
        bb.forward(*batch_of(speech), layers=[1])


def test_mfcc_is_dct_of_log_mel_plus_deltas(speech) -> None:
    plain = MfccBackbone(n_coeffs=13, deltas=False)
    full = MfccBackbone(n_coeffs=13, deltas=True)
    assert plain.dim == 13 and full.dim == 39
    wav, lengths = batch_of(speech)
    a, b = plain.forward(wav, lengths).layer(0), full.forward(wav, lengths)
    for with_deltas, without in zip(b.items(0), plain.forward(wav, lengths).items(0), strict=True):
        torch.testing.assert_close(with_deltas[:, :13], without)
    assert a.shape[:2] == b.layer(0).shape[:2]
    mel = log_mel(torch.from_numpy(speech[1]), MelConfig())
    torch.testing.assert_close(b.items(0)[1][:, :13], mel @ dct_matrix(80, 13),
                               atol=1e-3, rtol=1e-4)
    # deltas are computed per item: a padded item's deltas equal its deltas alone
    alone = full.forward(*batch_of([speech[2]])).items(0)[0]
    torch.testing.assert_close(b.items(0)[2], alone, atol=1e-3, rtol=1e-4)
    # a constant signal has zero deltas
    const = full.forward(torch.full((1, 3200), 0.1), torch.tensor([3200])).layer(0)
    assert const[..., 13:].abs().max() < 1e-4


def test_ssl_backbone_layers_frames_and_sizes(hubert_dir, speech) -> None:
    bb = build_backbone("hubert", str(hubert_dir))
    assert isinstance(bb, SSLBackbone)
    assert (bb.layer_count, bb.dim, bb.frame_rate, bb.min_samples) == (4, 32, 50.0, 400)
    assert ssl_frame_rate(str(hubert_dir)) == 50.0
    assert not bb.use_attention_mask  # group-norm ("base") config: zero padding only
    out = bb.forward(*batch_of(speech), layers=[0, 3])
    assert out.layers == (0, 3) and len(out.features) == 2
    assert out.layer(3).shape[1:] == (max(out.lengths.tolist()), 32)
    expected = [(len(s) - 400) // 320 + 1 for s in speech]  # the CNN's valid-conv length
    assert out.lengths.tolist() == expected
    for n, s in zip(out.lengths.tolist(), speech, strict=True):
        assert abs(n - 50.0 * len(s) / 16000) <= 1
    assert not torch.equal(out.layer(0), out.layer(3))
    with pytest.raises(ValueError, match=r"0\.\.3"):
        bb.forward(*batch_of(speech), layers=[4])


def test_early_stop_keeps_features_of_lower_layers(hubert_dir, speech) -> None:
    full = build_backbone("hubert", str(hubert_dir))
    short = build_backbone("hubert", str(hubert_dir), max_layer=1)
    assert len(short.model.encoder.layers) == 1 and len(full.model.encoder.layers) == 3
    wav, lengths = batch_of(speech)
    a, b = full.forward(wav, lengths, [0, 1]), short.forward(wav, lengths, [0, 1])
    for i in (0, 1):
        torch.testing.assert_close(a.layer(i), b.layer(i))
    with pytest.raises(ValueError, match="max_layer"):
        short.forward(wav, lengths, [2])


def test_layer_norm_model_batches_exactly_with_attention_mask(wavlm_dir, speech) -> None:
    bb = build_backbone("wavlm", str(wavlm_dir))
    assert bb.use_attention_mask
    out = bb.forward(*batch_of(speech), layers=[1, 3])
    for j, s in enumerate(speech):
        alone = bb.forward(*batch_of([s]), layers=[1, 3])
        for i in (1, 3):
            torch.testing.assert_close(out.items(i)[j], alone.items(i)[0], atol=1e-4, rtol=1e-4)


def test_waveform_normalisation_makes_features_gain_invariant(wavlm_dir, speech) -> None:
    bb = build_backbone("wavlm", str(wavlm_dir))
    assert bb.do_normalize  # no preprocessor config saved: the feature extractor default
    wav, lengths = batch_of(speech)
    a = bb.forward(wav, lengths, [2]).layer(2)
    b = bb.forward(wav * 0.1 + 0.01, lengths, [2]).layer(2)  # quieter, with a DC offset
    torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-3)


def test_clear_errors_for_wrong_models_and_names(hubert_dir, tmp_path) -> None:
    with pytest.raises(ValueError, match="'hubert' model, not 'wavlm'"):
        build_backbone("wavlm", str(hubert_dir))
    with pytest.raises(ValueError, match="cannot load a model config"):
        build_backbone("hubert", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="needs model="):
        build_backbone("hubert")
    with pytest.raises(ValueError, match="allowed:.*mel.*data2vec"):
        build_backbone("nope")
    with pytest.raises(ValueError, match=r"0\.\.3"):
        build_backbone("hubert", str(hubert_dir), max_layer=9)
