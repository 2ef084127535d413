"""Token store: round trips (int16 / int32), atomic shards, checksum guard, validation."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audiotokens.store import TOKENIZER_FILE, StoreError, TokenStore
from audiotokens.testing import EnergyConfig, EnergyTokenizer
from audiotokens.tokenizers.base import TokenizerInfo, Tokens


class ThreeBooks(EnergyTokenizer):
    """A 3-codebook info (one vocab needs int32) to exercise [T, C] row-major storage."""

    @property
    def info(self) -> TokenizerInfo:
        return TokenizerInfo(self.name, "codec", 16000, 100.0, (5, 40000, 7))


def random_items(info: TokenizerInfo, lengths: list[int], seed: int = 0):
    rng = np.random.default_rng(seed)
    return [
        (f"utt-{i}", Tokens(np.stack([rng.integers(0, v, n) for v in info.vocab_sizes], -1), info))
        for i, n in enumerate(lengths)
    ]


def token_type(shard) -> pa.DataType:
    return pq.read_schema(shard).field("tokens").type.value_type


@pytest.mark.parametrize(
    ("tok", "dtype"),
    [(EnergyTokenizer(EnergyConfig(k=16)), pa.int16()),
     (EnergyTokenizer(EnergyConfig(k=40000)), pa.int32()),
     (ThreeBooks(EnergyConfig()), pa.int32())],
    ids=["int16", "int32", "3-codebooks"],
)
def test_round_trip(tmp_path, tok, dtype) -> None:
    store = TokenStore.create(tmp_path / "s", tok)
    items = random_items(tok.info, [7, 0, 31, 1, 12])
    store.write_shard(items[:2])
    store.write_shard(items[2:])
    assert all(token_type(s) == dtype for s in store.shards())

    again = TokenStore.open(tmp_path / "s")
    assert again.info == tok.info and again.checksum == tok.checksum()
    assert again.ids() == [i for i, _ in items] and len(again) == 5
    read = dict(again)
    for item_id, tokens in items:
        np.testing.assert_array_equal(read[item_id].codes, tokens.codes)
        np.testing.assert_array_equal(again.get(item_id).codes, tokens.codes)
        assert read[item_id].codes.dtype == np.int64
    assert again.validate().frames == 7 + 31 + 1 + 12
    header = json.loads((tmp_path / "s" / TOKENIZER_FILE).read_text())
    assert header["tokenizer"] == "energy" and header["created"]
    with pytest.raises(KeyError, match="no item"):
        again.get("nope")


def test_a_failed_write_leaves_no_shard(tmp_path, monkeypatch) -> None:
    tok = EnergyTokenizer(EnergyConfig())
    store = TokenStore.create(tmp_path, tok)
    store.write_shard(random_items(tok.info, [3]))

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("audiotokens.tokenizers.persist.os.fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        store.write_shard(random_items(tok.info, [5, 6], seed=1)[1:])
    monkeypatch.undo()
    assert len(store.shards()) == 1 and not list(tmp_path.glob(".*tmp"))
    reopened = TokenStore.open(tmp_path)
    assert reopened.ids() == ["utt-0"]
    # what a SIGKILLed writer leaves behind is invisible and cleaned up
    (tmp_path / ".shard-00001-deadbeef.parquet.x1.tmp").write_bytes(b"PAR1 partial")
    assert reopened.ids() == ["utt-0"] and reopened.remove_temp_files() == 1


def test_refuses_another_tokenizer(tmp_path) -> None:
    tok = EnergyTokenizer(EnergyConfig(k=16))
    TokenStore.create(tmp_path, tok).write_shard(random_items(tok.info, [4]))
    assert TokenStore.create(tmp_path, EnergyTokenizer(EnergyConfig(k=16))).ids() == ["utt-0"]
    with pytest.raises(StoreError, match="another tokenizer"):
        TokenStore.create(tmp_path, EnergyTokenizer(EnergyConfig(k=8)))
    refit = EnergyTokenizer(EnergyConfig(k=16))
    refit.edges = refit.edges - 1.0  # same config, different weights
    with pytest.raises(StoreError, match="another tokenizer"):
        TokenStore.create(tmp_path, refit)


def test_rejects_bad_tokens_and_duplicates(tmp_path) -> None:
    tok = EnergyTokenizer(EnergyConfig(k=16))
    store = TokenStore.create(tmp_path, tok)
    with pytest.raises(StoreError, match="out of range for codebook 0"):
        store.write_shard([("a", Tokens(np.array([[3], [16]]), tok.info))])
    store.write_shard([("a", Tokens(np.array([[3], [15]]), tok.info))])
    with pytest.raises(StoreError, match="already in the store"):
        store.write_shard([("a", Tokens(np.array([[1]]), tok.info))])
    assert store.ids() == ["a"]


def test_validate_names_a_corrupt_item(tmp_path) -> None:
    tok = EnergyTokenizer(EnergyConfig(k=16))
    store = TokenStore.create(tmp_path, tok)
    store.write_shard(random_items(tok.info, [4]))
    table = pa.table({"id": ["evil"], "n_frames": pa.array([2], pa.int32()),
                      "n_codebooks": pa.array([1], pa.int16()),
                      "tokens": pa.array([[1, 99]], pa.list_(pa.int16()))})
    pq.write_table(table, tmp_path / "shard-00009-manual00.parquet")
    with pytest.raises(StoreError, match=r"shard-00009.*'evil'.*id 99"):
        TokenStore.open(tmp_path).validate()
    (tmp_path / "shard-00009-manual00.parquet").write_bytes(b"not parquet")
    with pytest.raises(StoreError, match="unreadable shard"):
        TokenStore.open(tmp_path).ids()


def test_open_errors_are_one_line(tmp_path) -> None:
    with pytest.raises(StoreError, match="not a token store"):
        TokenStore.open(tmp_path)
    (tmp_path / TOKENIZER_FILE).write_text("{broken")
    with pytest.raises(StoreError, match="unreadable store header"):
        TokenStore.open(tmp_path)
