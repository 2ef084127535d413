"""What scoring shares between cells: the JSON score cache, cached modules and the TTS judge."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from audiotokens.bench.scorecache import ScoreCache, cached_module
from audiotokens.bench.tasks import TTSTask, collate
from audiotokens.bench.tasks import loop as loop_module
from audiotokens.bench.tasks.judge import load_or_train_judge
from audiotokens.data import read_manifest

pytestmark = pytest.mark.usefixtures("single_thread")


def _counting():
    """(calls made, x -> a compute function recording x and returning scores of 2x)."""
    calls: list[float] = []

    def compute(x: float):
        def run() -> dict[str, tuple[float, str]]:
            calls.append(x)
            return {"pesq": (2 * x, ""), "stoi": (math.nan, "too short")}
        return run
    return calls, compute


def test_score_cache_computes_once_per_key_and_shares_through_its_folder(tmp_path: Path
                                                                         ) -> None:
    calls, compute = _counting()
    cache = ScoreCache(tmp_path)
    first = cache.get("noisy", ("a.wav", 1), compute(1.5))
    assert first["pesq"] == [3.0, ""] and math.isnan(first["stoi"][0])  # as read from JSON
    assert cache.get("noisy", ("a.wav", 1), compute(99.0))["pesq"] == [3.0, ""]
    assert calls == [1.5]
    # another process (a new object on the same folder) reads it instead of computing
    again = ScoreCache(tmp_path).get("noisy", ("a.wav", 1), compute(99.0))
    assert again["pesq"] == [3.0, ""] and calls == [1.5]
    # anything else in the key computes a new entry
    assert ScoreCache(tmp_path).get("noisy", ("a.wav", 2), compute(2.0))["pesq"][0] == 4.0
    assert ScoreCache(tmp_path).get("other", ("a.wav", 1), compute(5.0))["pesq"][0] == 10.0
    assert calls == [1.5, 2.0, 5.0]
    assert len(list(tmp_path.glob("*.json"))) == 3
    # a broken entry (a write cut short elsewhere) is recomputed
    path = tmp_path / f"{cache.key('noisy', ('a.wav', 1))}.json"
    path.write_text("{trunc")
    assert ScoreCache(tmp_path).get("noisy", ("a.wav", 1), compute(1.5))["pesq"][0] == 3.0
    assert calls == [1.5, 2.0, 5.0, 1.5]
    # the scorer packages' versions are part of every key
    other = ScoreCache(tmp_path)
    other._versions = {**cache.versions, "pesq": "0.0.0-other"}
    assert other.key("noisy", ("a.wav", 1)) != cache.key("noisy", ("a.wav", 1))


def test_memory_cache_writes_nothing(tmp_path: Path) -> None:
    calls, compute = _counting()
    cache = ScoreCache()
    assert cache.path("x") is None
    cache.get("k", 1, compute(1.0))
    cache.get("k", 1, compute(2.0))
    assert calls == [1.0]


def test_cached_module_trains_once_then_loads_the_same_weights(tmp_path: Path) -> None:
    trained: list[int] = []

    def train() -> torch.nn.Module:
        trained.append(1)
        torch.manual_seed(len(trained))
        return torch.nn.Linear(3, 2)

    first = cached_module(tmp_path, "lin-abc", train, lambda: torch.nn.Linear(3, 2))
    again = cached_module(tmp_path, "lin-abc", train, lambda: torch.nn.Linear(3, 2))
    assert len(trained) == 1 and not again.training
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(),
                                                  again.state_dict().values(), strict=True))
    cached_module(tmp_path, "lin-other", train, lambda: torch.nn.Linear(3, 2))
    cached_module(None, "lin-abc", train, lambda: torch.nn.Linear(3, 2))  # no folder: trains
    assert len(trained) == 3
    assert (tmp_path / "lin-abc" / "config.json").is_file()


def test_a_second_process_waits_for_the_first_training_then_loads(tmp_path: Path) -> None:
    import threading
    import time

    trained: list[float] = []

    def slow_train() -> torch.nn.Module:
        trained.append(time.monotonic())
        time.sleep(0.5)
        return torch.nn.Linear(2, 2)

    # flock is per open file: two threads contend for it like two worker processes
    results: list[torch.nn.Module] = []
    workers = [threading.Thread(target=lambda: results.append(cached_module(
        tmp_path, "slow", slow_train, lambda: torch.nn.Linear(2, 2)))) for _ in range(2)]
    for w in workers:
        w.start()
        time.sleep(0.1)
    for w in workers:
        w.join()
    assert len(trained) == 1 and len(results) == 2
    assert torch.equal(results[0].weight, results[1].weight)


SYNTH_SIZE = (0.3, 3)


def test_judge_is_trained_once_per_folder_and_reloaded_identically(
        synth_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = TTSTask().prepare(read_manifest(synth_root / "all.jsonl"))
    real = loop_module.train_and_evaluate
    runs: list[int] = []

    def counted(*args, **kwargs):
        runs.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(loop_module, "train_and_evaluate", counted)
    first = load_or_train_judge("tts", "tts", data, steps=3, folder=tmp_path)
    loaded = load_or_train_judge("tts", "tts", data, steps=3, folder=tmp_path)
    assert len(runs) == 1 and loaded.key == first.key
    assert loaded.data.classes == first.data.classes
    from audiotokens.bench.features import ContinuousMel, encode_items

    arrays = encode_items(ContinuousMel(), loaded.data.test).arrays
    batch = collate(loaded.data.test, arrays, loaded.data)
    with torch.no_grad():
        out_a = first.model.eval()(batch.x, batch.lengths).logits
        out_b = loaded.model(batch.x, batch.lengths).logits
    assert torch.equal(out_a, out_b)  # identical predictions, not merely close
    # a changed setting (here the step budget) is another judge: trained anew
    other = load_or_train_judge("tts", "tts", data, steps=4, folder=tmp_path)
    assert len(runs) == 2 and other.key != first.key
    assert len(list(tmp_path.glob("judge-*/weights.safetensors"))) == 2


def test_path_stamp_of_no_model_is_empty(tmp_path, monkeypatch) -> None:
    """An empty model path (a tokenizer without an SSL model) stamps nothing: it must not
    stand for the working directory, whose changing files would change every fit's recipe."""
    from audiotokens.bench.keys import path_stamp

    monkeypatch.chdir(tmp_path)
    (tmp_path / "results.db").write_bytes(b"x")
    assert path_stamp("") == []
    assert path_stamp("results.db")[0][:2] == ("results.db", 1)
    assert path_stamp(tmp_path / "missing") == []
