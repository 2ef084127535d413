"""The tokenizer contract: Tokens shapes, info/bitrate, registry misses, save/load files."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audiotokens.tokenizers.base import TokenizerError, TokenizerInfo, Tokens
from audiotokens.tokenizers.registry import REGISTRY, Registry, TokenizerEntry, load_tokenizer


def make_info(vocab=(1024, 1024), frame_rate=75.0) -> TokenizerInfo:
    return TokenizerInfo("t", "codec", 24000, frame_rate, vocab)


def test_bitrate_is_frame_rate_times_bits() -> None:
    info = make_info((1024, 1024, 256), 75.0)
    assert info.bitrate_bps == pytest.approx(75 * (10 + 10 + 8))
    assert info.n_codebooks == 3
    assert info.codebook_names == ("q0", "q1", "q2")
    assert TokenizerInfo.from_dict(info.to_dict()) == info
    assert make_info((500,), 50.0).bitrate_bps == pytest.approx(50 * math.log2(500))


def test_info_rejects_bad_values() -> None:
    with pytest.raises(ValueError):
        TokenizerInfo("t", "codec", 0, 75.0, (1024,))
    with pytest.raises(ValueError):
        TokenizerInfo("t", "codec", 16000, 50.0, ())


def test_tokens_stack_and_split_round_trip() -> None:
    info = make_info()
    rng = np.random.default_rng(0)
    items = [Tokens(rng.integers(0, 1024, (n, 2)), info) for n in (5, 9, 1)]
    batch = Tokens.stack(items)
    assert batch.codes.shape == (3, 9, 2) and batch.is_batch
    assert batch.lengths.tolist() == [5, 9, 1]
    for a, b in zip(items, batch.items(), strict=True):
        np.testing.assert_array_equal(a.codes, b.codes)
    sub = batch.select([1])
    assert sub.info.n_codebooks == 1 and sub.codes.shape == (3, 9, 1)


def test_tokens_shape_and_range_checks() -> None:
    info = make_info()
    with pytest.raises(ValueError, match="codebooks"):
        Tokens(np.zeros((4, 3)), info)
    with pytest.raises(ValueError):
        Tokens(np.zeros(4), info)
    with pytest.raises(ValueError, match="out of range"):
        Tokens(np.full((4, 2), 1024), info).validate()


def test_registry_miss_lists_known_names() -> None:
    with pytest.raises(TokenizerError, match="mel-kmeans"):
        load_tokenizer("no-such-tokenizer")
    reg = Registry([TokenizerEntry("a", "x:y")])
    with pytest.raises(ValueError, match="already registered"):
        reg.add(TokenizerEntry("a", "x:y"))


def test_every_registry_entry_builds_a_tokenizer_with_its_own_name() -> None:
    from audiotokens.tokenizers.base import Tokenizer

    for name in REGISTRY.names():
        cls = REGISTRY.get(name).resolve()
        assert issubclass(cls, Tokenizer), name
    tok = REGISTRY.create("mfcc-kmeans", k=8)
    assert tok.name == "mfcc-kmeans" and not tok.info.fitted
    assert REGISTRY.create("mulaw").info.n_codebooks == 1


def test_loading_a_folder_without_config_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(TokenizerError, match="not a saved tokenizer"):
        load_tokenizer(tmp_path)


def test_saved_unregistered_tokenizer_loads_through_its_package_target(tmp_path) -> None:
    from audiotokens.testing import EnergyConfig, EnergyTokenizer, noisy_speechlike

    tok = EnergyTokenizer(EnergyConfig(k=8), name="energy")
    tok.save(tmp_path / "tok")
    again = load_tokenizer(tmp_path / "tok")
    x = noisy_speechlike(1.0, 16000, seed=0)
    np.testing.assert_array_equal(tok.encode(x, 16000).codes, again.encode(x, 16000).codes)


def test_saved_target_outside_the_package_is_refused(tmp_path) -> None:
    import json

    from audiotokens.testing import EnergyConfig, EnergyTokenizer

    EnergyTokenizer(EnergyConfig(k=8), name="energy").save(tmp_path / "tok")
    cfg = tmp_path / "tok" / "config.json"
    header = json.loads(cfg.read_text())
    header["target"] = "os:system"
    cfg.write_text(json.dumps(header))
    with pytest.raises(TokenizerError, match="unknown tokenizer 'energy'"):
        load_tokenizer(tmp_path / "tok")
