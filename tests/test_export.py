"""HF export: a token store + manifest labels -> datasets (save_to_disk + Parquet), loads back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audiotokens.data.manifest import read_manifest, write_manifest
from audiotokens.encode import encode_manifest
from audiotokens.export import export_hf
from audiotokens.store import StoreError, TokenStore
from audiotokens.testing import EnergyConfig, EnergyTokenizer, write_test_corpus


@pytest.fixture(scope="module")
def labelled_store(tmp_path_factory):
    """A 6-item corpus with text / speaker / label / split (one item without a split),
    encoded with the testing tokenizer; a 7th manifest item failed to encode."""
    root = tmp_path_factory.mktemp("export")
    manifest = write_test_corpus(root / "corpus", 6, bad=("empty",))
    items = read_manifest(manifest)
    splits = ["train", "train", "valid", "test", "train", None, "train"]
    for i, (item, split) in enumerate(zip(items, splits, strict=True)):
        item.text, item.speaker, item.label, item.split = f"word {i}", f"spk{i % 2}", "a", split
    write_manifest(items, manifest)
    store = root / "store"
    summary = encode_manifest(EnergyTokenizer(EnergyConfig(k=8)), manifest, store,
                              shard_items=4, progress=False)
    assert summary.encoded == 6 and len(summary.failed) == 1
    return manifest, store


def _expected(manifest, store) -> dict[str, dict]:
    items = {it.id: it for it in read_manifest(manifest)}
    out = {}
    for item_id, tokens in TokenStore.open(store):
        it = items[item_id]
        out[item_id] = {"id": item_id, "n_frames": tokens.n_frames,
                        "tokens": tokens.codes.tolist(), "duration": it.duration,
                        "text": it.text, "speaker": it.speaker, "label": it.label,
                        "split": it.split}
    return out


def test_export_loads_back_equal(tmp_path, labelled_store) -> None:
    from datasets import Dataset, load_from_disk

    manifest, store = labelled_store
    summary = export_hf(store, tmp_path / "hf", manifest, rows_per_file=2)
    expected = _expected(manifest, store)
    assert summary.rows == 6 and summary.unmatched_manifest_items == 1
    assert summary.splits == {"train": 3, "valid": 1, "test": 1, "all": 1}
    ds = load_from_disk(str(summary.dataset_dir))
    assert ds.features["tokens"].feature.feature.dtype == "int16"
    assert {row["id"]: row for row in ds} == expected
    names = sorted(p.name for p in summary.parquet_files)
    assert "train-00000-of-00002.parquet" in names and "all-00000-of-00001.parquet" in names
    rows = {}
    for path in summary.parquet_files:
        part = Dataset.from_parquet(str(path), cache_dir=str(tmp_path / "cache"))
        split = path.name.split("-")[0]
        for row in part:
            assert (row["split"] or "all") == split
            rows[row["id"]] = row
    assert rows == expected
    header = json.loads((tmp_path / "hf" / "tokenizer.json").read_text())
    assert header["checksum"] == TokenStore.open(store).checksum
    assert not (tmp_path / "hf" / ".cache").exists()


def test_export_without_manifest_and_errors(tmp_path, labelled_store) -> None:
    from datasets import load_from_disk

    manifest, store = labelled_store
    summary = export_hf(store, tmp_path / "plain")
    ds = load_from_disk(str(summary.dataset_dir))
    assert ds.column_names == ["id", "n_frames", "tokens"] and summary.splits == {"all": 6}
    tokens = {i: t for i, t in TokenStore.open(store)}
    for row in ds:
        assert np.array_equal(np.array(row["tokens"]).reshape(-1, 1), tokens[row["id"]].codes)
    with pytest.raises(FileExistsError, match="already holds an export"):
        export_hf(store, tmp_path / "plain")
    partial = tmp_path / "partial.jsonl"
    write_manifest(read_manifest(manifest)[:3], partial)
    with pytest.raises(StoreError, match=r"3 stored item\(s\) are not in this manifest"):
        export_hf(store, tmp_path / "bad", partial)
