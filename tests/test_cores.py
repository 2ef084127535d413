"""Sequence cores of the heads: the fused BiLSTM equals the packed one, no leakage across
padding, the conv core's receptive field, registry-style errors, enhancer copy bias."""

from __future__ import annotations

import pytest
import torch

from audiotokens.bench.cores import (
    CORE_KINDS,
    ConvCore,
    LSTMCore,
    make_core,
    packed_lstm,
    reverse_padded,
)
from audiotokens.bench.heads import TokenEnhancer
from audiotokens.bench.tasks.loop import TrainConfig

pytestmark = pytest.mark.usefixtures("single_thread")


def test_reverse_padded_reverses_within_lengths_and_is_its_own_inverse() -> None:
    x = torch.arange(10.0).reshape(2, 5, 1)
    out = reverse_padded(x, torch.tensor([5, 3]))
    assert out[0, :, 0].tolist() == [4.0, 3.0, 2.0, 1.0, 0.0]
    assert out[1, :, 0].tolist() == [7.0, 6.0, 5.0, 8.0, 9.0]  # padding stays in place
    torch.testing.assert_close(reverse_padded(out, torch.tensor([5, 3])), x)


@pytest.mark.parametrize("layers", [1, 2])
def test_lstm_core_equals_a_packed_bidirectional_lstm(layers: int) -> None:
    torch.manual_seed(0)
    core = LSTMCore(6, 5, layers)
    ref = torch.nn.LSTM(6, 5, num_layers=layers, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for layer in range(layers):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(ref, f"{name}_l{layer}").copy_(
                    getattr(core.forward_lstms[layer], f"{name}_l0"))
                getattr(ref, f"{name}_l{layer}_reverse").copy_(
                    getattr(core.backward_lstms[layer], f"{name}_l0"))
    x, lengths = torch.randn(3, 11, 6), torch.tensor([11, 4, 7])
    out = core(x, lengths)
    assert out.shape == (3, 11, 10) and core.out_dim == 10 and core.layers == layers
    torch.testing.assert_close(out, packed_lstm(ref, x, lengths))


@pytest.mark.parametrize("kind", CORE_KINDS)
def test_core_items_do_not_leak_across_padding(kind: str) -> None:
    torch.manual_seed(0)
    core = make_core(kind, 6, 8, layers=2).eval()
    x, lengths = torch.randn(3, 13, 6), torch.tensor([13, 5, 9])
    x[1, 5:] = 50.0  # garbage past item 1's end
    out = core(x, lengths)
    assert out.shape == (3, 13, core.out_dim)
    assert (out[1, 5:] == 0).all() and (out[2, 9:] == 0).all()  # zeros past each end
    for i, n in enumerate(lengths.tolist()):
        alone = core(x[i:i + 1, :n], lengths[i:i + 1])
        torch.testing.assert_close(alone[0], out[i, :n], atol=1e-5, rtol=1e-5)
    # and no gradient reaches the padding
    x.requires_grad_(True)
    core(x, lengths).sum().backward()
    assert (x.grad[1, 5:] == 0).all() and x.grad[1, :5].abs().sum() > 0


def test_conv_core_sees_exactly_its_receptive_field() -> None:
    torch.manual_seed(0)
    core = ConvCore(4, 8, layers=3, kernel_size=3).eval()  # dilations 1, 2, 4
    assert core.receptive_field == 1 + 2 * (1 + 2 + 4)
    x, lengths = torch.randn(1, 40, 4), torch.tensor([40])
    y = x.clone()
    y[0, 20] += 1.0
    changed = (core(x, lengths) - core(y, lengths)).abs().sum(-1)[0] > 0
    half = core.receptive_field // 2
    assert changed.nonzero().flatten().tolist() == list(range(20 - half, 20 + half + 1))


def test_core_names_and_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown core 'gru'; known: lstm, conv"):
        make_core("gru", 4, 8)
    with pytest.raises(ValueError, match="core must be one of"):
        TrainConfig(core="gru")
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        ConvCore(4, 8, kernel_size=4)
    with pytest.raises(ValueError, match="hidden and layers"):
        LSTMCore(4, 8, layers=0)
    assert TrainConfig().core == "lstm" and isinstance(make_core("lstm", 4, 8), LSTMCore)


@pytest.mark.parametrize("kind", CORE_KINDS)
def test_untrained_enhancer_copies_its_input_and_ignores_padding(kind: str) -> None:
    torch.manual_seed(0)
    vocab = (12, 7)
    head = TokenEnhancer(8, vocab, hidden=16, stride=2, core=kind).eval()
    x, lengths = torch.randn(2, 14, 8), torch.tensor([14, 9])
    ids = torch.stack([torch.randint(0, v, (2, 14)) for v in vocab], -1)
    out = head(x, lengths, copy_ids=ids)
    assert out.logits.shape == (2, 14, 2, 12)
    assert (out.logits[:, :14].argmax(-1) == ids).float().mean() > 0.95  # starts as identity
    alone = head(x[1:, :9], lengths[1:], copy_ids=ids[1:, :9])
    torch.testing.assert_close(alone.logits[0, :9], out.logits[1, :9])


@pytest.mark.parametrize("kind", CORE_KINDS)
def test_train_config_core_reaches_the_asr_and_enhancement_heads(kind: str) -> None:
    from audiotokens.bench.features import InputSpec
    from audiotokens.bench.tasks import TaskData, make_task
    from audiotokens.bench.tasks.loop import build_model
    from audiotokens.data import ManifestItem

    cfg = TrainConfig(core=kind, dim=8, hidden=8)
    want = ConvCore if kind == "conv" else LSTMCore
    asr = make_task("asr-synth")
    data = asr.prepare([ManifestItem(id=f"u{i}", path=f"u{i}.wav", duration=1.0, text="ab c",
                                     split=split)
                        for i, split in enumerate(("train", "valid", "test"))])
    spec = InputSpec("tokens", 50.0, (6,))
    assert isinstance(build_model(asr, spec, data, cfg).head.core, want)
    enhance = make_task("enhance")
    assert isinstance(build_model(enhance, spec, TaskData([], [], [], ()), cfg).head.core, want)
