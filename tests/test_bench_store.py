"""The bench's one data path: items encoded into (or read from) a token / features store and
read lazily by the heads; a store made by ``audiotokens encode`` serves the bench as is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from audiotokens.bench.arrays import StoreArrays
from audiotokens.bench.db import ResultsDB
from audiotokens.bench.features import ContinuousMel, TokenizerSource, encode_items
from audiotokens.bench.runner import BenchConfig, BenchError, run_benchmark
from audiotokens.bench.tasks import make_task
from audiotokens.bench.tasks.base import collate
from audiotokens.bench.tasks.loop import TrainConfig, _HeadTrainer
from audiotokens.cli import main
from audiotokens.data.manifest import ManifestItem, read_manifest, write_manifest
from audiotokens.encode import encode_manifest
from audiotokens.store import ROW_GROUP_ITEMS, TokenStore
from audiotokens.testing import ENERGY_ENTRY, EnergyConfig, EnergyTokenizer, write_test_corpus
from audiotokens.tokenizers.base import Tokens
from audiotokens.tokenizers.registry import Registry, load_tokenizer

pytestmark = pytest.mark.usefixtures("single_thread")

TINY = TrainConfig(max_steps=4, eval_every=2, batch_size=4, dim=16)


def _bench(out: Path, data: Path, tokenizer: Path, **kw) -> tuple[list, object]:
    cfg = BenchConfig(out=out, data=data, tokenizers=(str(tokenizer),), tasks=("prosody-proxy",),
                      seeds=1, train=TINY, cost=False, report=False, verbose=False, **kw)
    summary = run_benchmark(cfg, Registry([ENERGY_ENTRY]))
    with ResultsDB(summary.db_path) as db:
        rows = sorted((r.tokenizer, r.task, r.metric, r.seed, r.value)
                      for r in db.results(summary.run))
    return rows, summary


@pytest.fixture(scope="module")
def energy_dir(tmp_path_factory) -> Path:
    return EnergyTokenizer(EnergyConfig(k=8)).save(tmp_path_factory.mktemp("tok") / "energy-k8")


def test_bench_on_a_store_from_encode_gives_the_results_of_encoding_itself(
        synth_root: Path, energy_dir: Path, tmp_path: Path) -> None:
    own, first = _bench(tmp_path / "own", synth_root, energy_dir)
    assert first.trained == 1 and own
    tok = load_tokenizer(energy_dir, Registry([ENERGY_ENTRY]))
    encode_manifest(tok, synth_root / "all.jsonl", tmp_path / "store", progress=False,
                    shard_items=7)
    given, second = _bench(tmp_path / "given", synth_root, energy_dir, tokens=tmp_path / "store")
    assert second.trained == 1 and given == own  # same metrics, same values
    assert not (tmp_path / "given" / "cache").exists()  # read, never encoded


def test_a_store_of_another_tokenizer_or_missing_items_is_one_clear_error(
        synth_root: Path, energy_dir: Path, tmp_path: Path, capsys) -> None:
    other = EnergyTokenizer(EnergyConfig(k=5))
    encode_manifest(other, synth_root / "all.jsonl", tmp_path / "other", progress=False)
    with pytest.raises(BenchError, match="checksum") as wrong:
        _bench(tmp_path / "a", synth_root, energy_dir, tokens=tmp_path / "other")
    assert "\n" not in str(wrong.value) and str(tmp_path / "other") in str(wrong.value)
    capsys.readouterr()
    with pytest.raises(SystemExit) as cli:  # the CLI: one line on stderr, exit status 2
        main(["bench", "--data", str(synth_root), "--out", str(tmp_path / "cli"), "-t",
              str(energy_dir), "--tasks", "prosody-proxy", "--steps", "2", "--jobs", "1",
              "--tokens", str(tmp_path / "other")])
    err = capsys.readouterr().err.strip()
    assert cli.value.code == 2 and len(err.splitlines()) == 1 and "checksum" in err

    items = read_manifest(synth_root / "all.jsonl")
    few = write_manifest(items[:5], tmp_path / "few.jsonl")
    tok = load_tokenizer(energy_dir, Registry([ENERGY_ENTRY]))
    encode_manifest(tok, few, tmp_path / "part", progress=False)
    with pytest.raises(BenchError, match=r"lacks \d+ of the \d+ items") as short:
        _bench(tmp_path / "b", synth_root, energy_dir, tokens=tmp_path / "part")
    assert "\n" not in str(short.value) and items[5].id not in {it.id for it in items[:5]}
    with pytest.raises(BenchError, match="exactly one --tokenizers"):
        BenchConfig(tokens=tmp_path / "part", tokenizers=("a", "b"))


@pytest.mark.parametrize("kind", ["tokens", "features"])
def test_resume_reads_the_store_and_encodes_nothing(tmp_path: Path, monkeypatch, kind) -> None:
    items = read_manifest(write_test_corpus(tmp_path / "c", 5))
    source = ContinuousMel() if kind == "features" else TokenizerSource(
        EnergyTokenizer(EnergyConfig()))
    first = encode_items(source, items, tmp_path / "cache", corpus="c")
    assert first.n_encoded == len(items) and set(first.arrays) == {it.id for it in items}
    assert TokenStore.open(first.cache_path).kind == kind

    def no_encoding(*args, **kwargs):
        raise AssertionError("resume encoded again")

    monkeypatch.setattr("audiotokens.encode.encode_to_store", no_encoding)
    again = encode_items(source, items, tmp_path / "cache", corpus="c")
    assert again.n_encoded == 0 and again.cache_path == first.cache_path
    in_memory = encode_items(source, items)  # the plain in-memory encode, for reference
    for it in items:
        got, want = again.arrays[it.id], in_memory.arrays[it.id]
        assert got.shape == want.shape
        if kind == "tokens":
            np.testing.assert_array_equal(got, want)
        else:  # stored as float16
            np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3)


def _store_of(folder: Path, lengths: list[list[int]]) -> tuple[TokenStore, dict[str, np.ndarray]]:
    tok = EnergyTokenizer(EnergyConfig(k=16))
    store, rng, written, n = TokenStore.create(folder, tok), np.random.default_rng(0), {}, 0
    for shard in lengths:
        rows = []
        for t in shard:
            codes = rng.integers(0, 16, (t, 1))
            rows.append((f"u{n:04d}", Tokens(codes, tok.info)))
            written[f"u{n:04d}"] = codes
            n += 1
        store.write_shard(rows)
    return store, written


def test_lazy_mapping_covers_every_item_once_and_keeps_little(tmp_path: Path) -> None:
    sizes = [[3 + i % 5 for i in range(150)], [4] * 10, [2 + i % 3 for i in range(70)]]
    store, written = _store_of(tmp_path / "s", sizes)
    arrays = StoreArrays(store, cache_mb=0)  # keep only the row group being read
    assert len(arrays) == len(written) and sorted(arrays) == sorted(written)
    seen = [k for k in arrays]
    assert len(seen) == len(set(seen)) == len(written)
    for k in seen:
        np.testing.assert_array_equal(arrays[k], written[k])
        assert arrays.n_frames(k) == len(written[k])
        assert arrays.cached_bytes <= ROW_GROUP_ITEMS * 8 * 16  # one group of <= 7 frames
    groups = sum(-(-len(s) // ROW_GROUP_ITEMS) for s in sizes)
    assert arrays.groups_read == groups  # in store order each group is decoded once
    subset = StoreArrays(store, ["u0001", "u0200"])
    assert sorted(subset) == ["u0001", "u0200"] and "u0002" not in subset
    with pytest.raises(KeyError, match="no item 'u0002'"):
        subset["u0002"]


def test_an_epoch_of_batches_reads_every_training_item_exactly_once(tmp_path: Path) -> None:
    store, written = _store_of(tmp_path / "s", [[5] * 40, [6] * 30])
    arrays = StoreArrays(store, cache_mb=0.001)
    items = [ManifestItem(k, f"{k}.wav", 1.0, speaker=f"s{i % 2}", label=str(i % 2))
             for i, k in enumerate(written)]
    task = make_task("emotion")
    data = task.prepare(items)
    data.train.extend(data.valid + data.test)  # every item trains here
    trainer = _HeadTrainer(task, torch.nn.Linear(1, 1), data, arrays,  # type: ignore[arg-type]
                           TrainConfig(batch_size=16))
    for _epoch in range(2):
        ids: list[str] = []
        while len(ids) < len(data.train):
            batch = collate(trainer._next_items(), arrays, data)
            for row, item_id in enumerate(batch.ids):
                np.testing.assert_array_equal(batch.x[row, : batch.lengths[row]].numpy(),
                                              written[item_id])
            ids += batch.ids
        assert sorted(ids) == sorted(it.id for it in data.train)  # each once per epoch
