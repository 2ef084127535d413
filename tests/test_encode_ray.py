"""The Ray engine on real speech (FSDD): the same store as a local encode, a worker killed
mid-job is retried, and a job stopped by a killed worker resumes with only the shards it
had not committed. One local Ray (2 CPUs) serves the module."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the Ray engine needs `pip install audiotokens[ray]`")

from audiotokens.cli import main  # noqa: E402
from audiotokens.data.manifest import ManifestItem, write_manifest  # noqa: E402
from audiotokens.encode import EncodeError, encode_manifest  # noqa: E402
from audiotokens.encode_ray import RayConfig, RayEngine, ShardWorker  # noqa: E402
from audiotokens.store import TokenStore  # noqa: E402
from audiotokens.tokenizers.registry import load_tokenizer  # noqa: E402

SHARD_ITEMS = 3


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """10 FSDD recordings (5 speakers) plus two bad files, a mel-kmeans tokenizer fitted on
    them, and the local engine's store of them (the reference)."""
    from audiotokens.audio import probe_audio
    from conftest import shared_corpus

    recordings = shared_corpus("fsdd") / "recordings"
    root = tmp_path_factory.mktemp("ray-job")
    speakers = ("george", "jackson", "lucas", "nicolas", "theo")
    paths = [recordings / f"{d}_{s}_{t}.wav" for s in speakers for d, t in ((3, 7), (8, 12))]
    items = [ManifestItem(p.stem, str(p), probe_audio(p).duration) for p in paths]
    (root / "text.wav").write_text("not audio\n")
    items += [ManifestItem("bad-text", str(root / "text.wav"), 0.5),
              ManifestItem("bad-missing", str(root / "missing.wav"), 0.5)]
    manifest = write_manifest(items, root / "manifest.jsonl")
    tok = load_tokenizer("mel-kmeans", k=16, kmeans_iterations=5)
    with pytest.warns(UserWarning, match="unreadable"):
        tok.fit(manifest)
    local = encode_manifest(tok, manifest, root / "local", shard_items=SHARD_ITEMS,
                            batch_seconds=2.0, progress=False)
    assert local.encoded == 10 and {i for i, _ in local.failed} == {"bad-text", "bad-missing"}
    return tok, manifest, root


@pytest.fixture(scope="module")
def local_ray(job):
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


def dies_once(flag: Path) -> type[ShardWorker]:
    """A worker class whose process exits (os._exit, like a segfault or the OOM killer) on
    its second shard, the first time any worker gets there (``flag`` records that)."""

    class DiesOnce(ShardWorker):
        shards_started = 0

        def encode(self, shard):
            self.shards_started += 1
            if self.shards_started == 2 and not flag.exists():
                flag.touch()
                os._exit(1)
            return super().encode(shard)

    return DiesOnce


def errors(store: TokenStore) -> list[tuple[str, str, str]]:
    return sorted((e["id"], e["path"], e["reason"]) for e in store.errors())


def assert_same_store(out: Path, reference: Path) -> None:
    """Same shard names, same tokens for every id, same failures as the reference."""
    store, ref = TokenStore.open(out), TokenStore.open(reference)
    assert [s.name for s in store.shards()] == [s.name for s in ref.shards()]
    tokens = dict(store)
    assert sorted(tokens) == sorted(ref.ids())
    for item_id, expected in ref:
        np.testing.assert_array_equal(tokens[item_id].codes, expected.codes)
    assert errors(store) == errors(ref) and len(errors(ref)) == 2
    assert not list(out.glob(".*.tmp"))


def test_ray_equals_local_and_retries_a_killed_worker(job, local_ray, tmp_path) -> None:
    tok, manifest, root = job
    engine = RayEngine(RayConfig(max_workers=2), worker=dies_once(tmp_path / "died"))
    summary = encode_manifest(tok, manifest, tmp_path / "ray", shard_items=SHARD_ITEMS,
                              batch_seconds=2.0, progress=False, engine=engine)
    assert (tmp_path / "died").exists()  # a worker was killed, its shard retried
    assert summary.encoded == 10 and summary.skipped_done == 0
    assert sorted(summary.failed) == sorted(
        (r["id"], r["reason"]) for r in TokenStore.open(root / "local").errors())
    assert_same_store(tmp_path / "ray", root / "local")


def test_ray_job_stopped_by_a_killed_worker_resumes(job, local_ray, tmp_path, capsys,
                                                    monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    tok, manifest, root = job
    out = tmp_path / "ray"
    no_retry = RayEngine(RayConfig(max_workers=1, max_restarts=0),
                         worker=dies_once(tmp_path / "died"))
    with pytest.raises(EncodeError, match="died at this shard 1 times.*re-run"):
        encode_manifest(tok, manifest, out, shard_items=SHARD_ITEMS, batch_seconds=2.0,
                        progress=False, engine=no_retry)
    assert (tmp_path / "died").exists()
    stopped = TokenStore.open(out)
    committed = stopped.done_ids()
    assert 0 < len(committed) < 10 and stopped.validate().items == len(committed)

    tok.save(tmp_path / "tok")  # the rerun goes through the command line
    with pytest.raises(SystemExit) as exit_code:
        main(["encode", str(tmp_path / "tok"), "-m", str(manifest), "--out", str(out),
              "--engine", "ray", "--max-workers", "1", "--shard-items", str(SHARD_ITEMS),
              "--batch-seconds", "2", "--no-progress"])
    printed = capsys.readouterr().out
    assert exit_code.value.code in (0, None), printed
    counts = {key: int(re.search(rf"{key}\W+(\d+)", printed).group(1))
              for key in ("encoded now", "already done", "failed")}
    # finished shards are not encoded again
    assert counts == {"encoded now": 10 - len(committed), "already done": len(committed),
                      "failed": 2}
    store = TokenStore.open(out)
    tokens = dict(store)
    for item_id, expected in TokenStore.open(root / "local"):
        np.testing.assert_array_equal(tokens[item_id].codes, expected.codes)
    assert len(tokens) == 10 and not list(out.glob(".*.tmp"))
