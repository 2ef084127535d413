"""Testing helpers, batch planning, and the resumable corpus encode job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from audiotokens.audio import load_audio
from audiotokens.data.manifest import read_manifest
from audiotokens.encode import encode_manifest, plan_batches
from audiotokens.shards import ShardResult
from audiotokens.store import StoreError, TokenStore
from audiotokens.testing import (
    BAD_KINDS,
    ENERGY_ENTRY,
    EnergyConfig,
    EnergyTokenizer,
    chirp,
    noisy_speechlike,
    tone,
    write_test_corpus,
)
from audiotokens.tokenizers.registry import Registry, load_tokenizer


def test_signals_are_deterministic_and_sane() -> None:
    x = tone(1000.0, 0.5, 16000)
    assert x.dtype == np.float32 and x.shape == (8000,)
    assert np.argmax(np.abs(np.fft.rfft(x))) * 16000 / 8000 == pytest.approx(1000.0)
    c = chirp(100.0, 4000.0, 1.0, 16000)
    assert c.shape == (16000,) and np.abs(c).max() <= 0.5 + 1e-6
    a, b = noisy_speechlike(1.0, seed=3), noisy_speechlike(1.0, seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, noisy_speechlike(1.0, seed=4))
    assert np.abs(a).max() == pytest.approx(0.5, abs=1e-6)


def test_energy_tokenizer_batch_equals_single_and_save_load(tmp_path) -> None:
    tok = EnergyTokenizer(EnergyConfig(k=12))
    signals = [noisy_speechlike(s, seed=i) for i, s in enumerate((0.31, 1.0, 0.05))]
    batch = tok.encode_batch(signals, 16000)
    assert batch.codes.shape == (3, 100, 1) and batch.lengths.tolist() == [31, 100, 5]
    for x, item in zip(signals, batch.items(), strict=True):
        np.testing.assert_array_equal(tok.encode(x, 16000).codes, item.codes)
    loud, quiet = tok.encode(tone(seconds=0.2), 16000), tok.encode(tone(amplitude=0.01), 16000)
    assert loud.codes.min() > quiet.codes.max()
    resampled = tok.encode(tone(seconds=0.2, sample_rate=8000), 8000)
    assert resampled.n_frames == 20

    tok.fit(write_test_corpus(tmp_path / "c", 6), minutes=1.0)
    tok.save(tmp_path / "tok")
    again = load_tokenizer(tmp_path / "tok", registry=Registry([ENERGY_ENTRY]))
    assert again.checksum() == tok.checksum()
    np.testing.assert_array_equal(again.encode(signals[1], 16000).codes,
                                  tok.encode(signals[1], 16000).codes)


def test_fit_spreads_tokens_over_bins(tmp_path) -> None:
    path = tmp_path / "speech.wav"
    from audiotokens.audio import save_audio

    save_audio(path, noisy_speechlike(8.0, seed=1), 16000)
    (tmp_path / "m.jsonl").write_text(json.dumps({"id": "a", "path": str(path),
                                                  "duration": 8.0}) + "\n")
    tok = EnergyTokenizer(EnergyConfig(k=4))
    before = np.bincount(tok.encode(noisy_speechlike(8.0, seed=1), 16000).codes[:, 0],
                         minlength=4)
    tok.fit(tmp_path / "m.jsonl")
    after = np.bincount(tok.encode(noisy_speechlike(8.0, seed=1), 16000).codes[:, 0],
                        minlength=4)
    assert after.min() >= 0.2 * after.sum() and before.min() < after.min()


def test_write_test_corpus_bad_kinds(tmp_path) -> None:
    manifest = write_test_corpus(tmp_path, 3, bad=BAD_KINDS)
    items = read_manifest(manifest)
    assert [it.id for it in items] == ["item-000", "item-001", "item-002",
                                       "bad-empty", "bad-truncated", "bad-text", "bad-missing"]
    assert load_audio(items[0].path).duration == pytest.approx(items[0].duration, abs=1e-3)
    with pytest.raises(ValueError, match="allowed"):
        write_test_corpus(tmp_path, 1, bad=("weird",))


def test_plan_batches_respects_the_budget() -> None:
    durations = list(np.random.default_rng(0).uniform(0.2, 9.0, 200)) + [25.0]
    batches = plan_batches(durations, 20.0)
    assert sorted(i for b in batches for i in b) == list(range(len(durations)))
    assert batches[0] == [200]  # longer than the budget: alone
    for b in batches[1:]:
        assert max(durations[i] for i in b) * len(b) <= 20.0
    padded = sum(max(durations[i] for i in b) * len(b) for b in batches)
    assert padded < 1.1 * sum(durations)  # sorted by length: little padding
    with pytest.raises(ValueError):
        plan_batches([1.0], 0)


def test_encode_reports_bad_files_and_resumes(tmp_path) -> None:
    manifest = write_test_corpus(tmp_path / "c", 9, bad=BAD_KINDS)
    tok = EnergyTokenizer(EnergyConfig())
    out = tmp_path / "store"
    summary = encode_manifest(tok, manifest, out, batch_seconds=3.0, shard_items=4,
                              progress=False)
    assert summary.encoded == 9 and summary.skipped_done == 0 and summary.total == 13
    reasons = dict(summary.failed)
    assert sorted(reasons) == sorted(f"bad-{k}" for k in BAD_KINDS)
    assert "empty" in reasons["bad-empty"] and "not found" in reasons["bad-missing"]
    assert "not a readable audio file" in reasons["bad-text"]
    assert reasons["bad-truncated"]
    logged = [json.loads(line) for line in summary.errors_path.read_text().splitlines()]
    assert {r["id"]: r["reason"] for r in logged} == reasons
    assert all(r["path"].endswith(".wav") for r in logged)
    assert summary.audio_seconds > 0 and summary.throughput > 0

    store = TokenStore.open(out)  # 13 manifest items planned in shards of 4, bad ones too
    assert len(store) == 9 and len(store.shards()) == 4 and store.validate().items == 9
    markers = [ShardResult.from_json(p.read_text()) for p in sorted((out / "_done").iterdir())]
    assert [m.name + ".parquet" for m in markers] == [s.name for s in store.shards()]
    assert [m.planned for m in markers] == [4, 4, 4, 1] and all(m.complete for m in markers)
    assert sorted(f[0] for m in markers for f in m.failed) == sorted(reasons)
    for item in read_manifest(manifest)[:9]:
        audio = load_audio(item.path, 16000)
        np.testing.assert_array_equal(store.get(item.id).codes,
                                      tok.encode(audio.samples, 16000).codes)

    again = encode_manifest(tok, manifest, out, shard_items=4, progress=False)
    assert again.skipped_done == 9 and again.encoded == 0 and len(again.failed) == 4
    assert len(TokenStore.open(out)) == 9 and len(store.errors()) == 4
    with pytest.raises(StoreError, match="another tokenizer"):
        encode_manifest(EnergyTokenizer(EnergyConfig(k=5)), manifest, out, progress=False)


class LoudnessPicky(EnergyTokenizer):
    """Fails any batch that contains a signal peaking above 0.45 (speech-like items)."""

    def encode_batch(self, batch, sample_rate):
        if any(np.abs(x).max() > 0.45 for x in batch):
            raise RuntimeError("cannot handle loud audio")
        return super().encode_batch(batch, sample_rate)


def test_a_failing_batch_is_retried_item_by_item(tmp_path) -> None:
    manifest = write_test_corpus(tmp_path / "c", 9)
    summary = encode_manifest(LoudnessPicky(EnergyConfig()), manifest, tmp_path / "s",
                              batch_seconds=100.0, progress=False)
    loud = {it.id for it in read_manifest(manifest) if load_audio(it.path).samples.max() > 0.45}
    assert summary.batches == 1 and len(loud) == 3
    assert {i for i, _ in summary.failed} == loud
    assert all(r == "RuntimeError: cannot handle loud audio" for _, r in summary.failed)
    assert summary.encoded == 6 and len(TokenStore.open(tmp_path / "s")) == 6


DRIVER = (
    "import sys; from audiotokens.testing import ENERGY_ENTRY; "
    "from audiotokens.tokenizers.registry import REGISTRY; REGISTRY.add(ENERGY_ENTRY); "
    "from audiotokens.cli import main; main(sys.argv[1:])"
)


def test_sigkill_then_resume_gives_a_clean_store(tmp_path) -> None:
    n = 160
    manifest = write_test_corpus(tmp_path / "c", n, min_seconds=0.3, max_seconds=1.0)
    tok = EnergyTokenizer(EnergyConfig(k=32))
    tok.save(tmp_path / "tok")
    out = tmp_path / "store"
    cmd = [sys.executable, "-c", DRIVER, "encode", str(tmp_path / "tok"), "-m", str(manifest),
           "--out", str(out), "--shard-items", "2", "--batch-seconds", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list(out.glob("shard-*.parquet")) and proc.poll() is None:
        assert time.monotonic() < deadline, "no shard committed within 60 s"
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    killed = TokenStore.open(out)
    assert 0 < len(killed) < n, "the job finished before it could be killed"
    assert killed.validate().items == len(killed)  # only whole shards are visible

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "skipped (already done)" in rerun.stdout
    store = TokenStore.open(out)
    ids = store.ids()
    assert len(ids) == n and len(set(ids)) == n and not list(out.glob(".*tmp"))

    clean = encode_manifest(tok, manifest, tmp_path / "clean", progress=False)
    assert clean.encoded == n
    reference = dict(TokenStore.open(tmp_path / "clean"))
    for item_id, tokens in store:
        np.testing.assert_array_equal(tokens.codes, reference[item_id].codes)


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs CUDA")
def test_encode_on_cuda_matches_cpu(tmp_path) -> None:
    manifest = write_test_corpus(tmp_path / "c", 5)
    tok = EnergyTokenizer(EnergyConfig())
    encode_manifest(tok, manifest, tmp_path / "cpu", device="cpu", progress=False)
    encode_manifest(tok, manifest, tmp_path / "gpu", device="cuda", progress=False)
    gpu = dict(TokenStore.open(tmp_path / "gpu"))
    for item_id, tokens in TokenStore.open(tmp_path / "cpu"):
        np.testing.assert_array_equal(tokens.codes, gpu[item_id].codes)


def test_plan_shards_names_resumes_and_retries(tmp_path) -> None:
    from audiotokens.encode import EncodeSettings, encode_shards, tokenizer_encoder
    from audiotokens.shards import plan_shards

    manifest = write_test_corpus(tmp_path / "c", 7)
    items = read_manifest(manifest)
    tok = EnergyTokenizer(EnergyConfig())
    store = TokenStore.create(tmp_path / "s", tok)
    plan = plan_shards(items, store, 3, stream_over=1.5)
    long = [it.id for it in items if it.duration > 1.5]
    assert len(long) == 2 and [len(s.items) for s in plan] == [3, 2, 2]
    assert [it.id for it in plan[-1].items] == long  # streamed items last, in their own shard
    whole = [it for s in plan[:-1] for it in s.items]
    assert [it.duration for it in whole] == sorted((it.duration for it in whole), reverse=True)
    assert plan == plan_shards(items, store, 3, stream_over=1.5)  # names are deterministic
    assert [s.name[:11] for s in plan] == [f"shard-{i:05d}" for i in range(len(plan))]
    with pytest.raises(ValueError, match="duplicate id"):
        plan_shards(items + items[:1], store, 3)

    enc = tokenizer_encoder(tok)
    settings = EncodeSettings(batch_seconds=3.0, shard_items=3, chunk_seconds=1.5)
    first = next(encode_shards(enc, plan[:1], store, settings))
    assert first.encoded == 3 and (tmp_path / "s" / f"{first.name}.parquet").is_file()
    again = list(encode_shards(enc, plan[:2], store, settings))  # a retried worker
    assert again[0] == first and again[1].encoded == 2
    rest = plan_shards(items, store, 3, stream_over=1.5)  # resume: only what is not stored
    assert [[it.id for it in s.items] for s in rest] == [long]
    assert rest[0].name == plan[2].name  # the same number and ids: the same name
    (streamed,) = encode_shards(enc, rest, store, settings)
    assert streamed.encoded == 2 and streamed.batches == 2  # one unit per streamed item
    assert store.validate().items == 7
