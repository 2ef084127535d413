"""What makes bench numbers trustworthy: converged heads, chance levels, settings-keyed resume,
semantic tokens decoded by a vocoder the run trains, and the real-speech ASR corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from audiotokens.bench.db import ResultsDB
from audiotokens.bench.features import InputSpec
from audiotokens.bench.runner import BenchConfig, run_benchmark
from audiotokens.bench.tasks import make_task
from audiotokens.bench.tasks.base import TaskData
from audiotokens.bench.tasks.corpora import find_corpora, load_corpus
from audiotokens.bench.tasks.loop import TrainConfig, train_and_evaluate
from audiotokens.data.manifest import ManifestItem

pytestmark = pytest.mark.usefixtures("single_thread")


def _toy(n: int, seed: int) -> tuple[list[ManifestItem], dict[str, np.ndarray], dict]:
    """Two classes told apart by their first token: item i of class c starts with token c."""
    rng = np.random.default_rng(seed)
    items, arrays, targets = [], {}, {}
    for i in range(n):
        label = i % 2
        ids = rng.integers(2, 8, size=(12, 1))
        ids[:4, 0] = label
        item = ManifestItem(f"s{seed}-{i}", f"/x/{i}.wav", 0.24, label=str(label),
                            speaker=f"p{i % 3}")
        items.append(item)
        arrays[item.id], targets[item.id] = ids.astype(np.int64), label
    return items, arrays, targets


def test_a_head_on_a_learnable_toy_task_converges() -> None:
    torch.manual_seed(0)
    train, arrays, targets = _toy(32, 0)
    valid, a2, t2 = _toy(12, 1)
    test, a3, t3 = _toy(12, 2)
    data = TaskData(train, valid, test, ("0", "1"), {**targets, **t2, **t3})
    spec = InputSpec("tokens", 50.0, vocab_sizes=(8,))
    cfg = TrainConfig(max_steps=2000, eval_every=10, patience=3, batch_size=8, dim=16,
                      hidden=16, lr=1e-2)
    result = train_and_evaluate(make_task("prosody-proxy"), data, {**arrays, **a2, **a3},
                                spec, cfg)
    assert result.stopped == "converged" and result.steps < cfg.max_steps
    assert result.metrics["accuracy"] == 1.0  # learnable: the first frames give the class
    assert result.steps == result.best_step + cfg.patience * cfg.eval_every
    assert [h["step"] for h in result.history] == list(range(10, result.steps + 1, 10))
    short = train_and_evaluate(make_task("prosody-proxy"), data, {**arrays, **a2, **a3},
                               spec, TrainConfig(max_steps=10, eval_every=10, patience=3,
                                                 batch_size=8, dim=16, hidden=16))
    assert short.stopped == "budget" and short.steps == 10


def test_min_steps_defers_patience() -> None:
    with pytest.raises(ValueError, match="min_steps"):
        TrainConfig(max_steps=10, min_steps=20)


def test_semantic_tokens_get_a_vocoder_and_generative_results(synth_root: Path,
                                                              tmp_path: Path) -> None:
    cfg = BenchConfig(out=tmp_path, data=synth_root, tokenizers=("mel-kmeans:k=8",),
                      tasks=("resynth-synth",), seeds=1, cost=False, report=False,
                      verbose=False, vocoder_steps=2)
    summary = run_benchmark(cfg)
    assert [(c.task, c.status) for c in summary.cells] == [("resynth-synth", "done")]
    with ResultsDB(summary.db_path) as db:
        metrics = {r.metric for r in db.results(summary.run) if r.task == "resynth-synth"}
    assert {"pesq_wb", "pesq_nb", "stoi", "mel_distance"} <= metrics
    saved = list((tmp_path / "tokenizers").rglob("vocoder/config.json"))
    assert len(saved) == 1  # trained once, saved beside the fitted tokenizer
    no_vocoder = run_benchmark(BenchConfig(out=tmp_path / "off", data=synth_root,
                                           tokenizers=("mel-kmeans:k=8",),
                                           tasks=("resynth-synth",), seeds=1, cost=False,
                                           report=False, verbose=False, vocoders=False))
    assert [c.status for c in no_vocoder.cells] == ["no-decoder"]


def test_real_transcribed_clips_are_one_asr_corpus() -> None:
    from conftest import SHARED_DATA

    if not (SHARED_DATA / "ljspeech_32").is_dir() or \
            not (SHARED_DATA / "pocketsphinx_testdata").is_dir():
        pytest.skip(f"real speech not available under {SHARED_DATA}")
    found = find_corpora(SHARED_DATA)
    assert found["transcribed"] == SHARED_DATA.resolve()  # two folders of clips: both read
    items = load_corpus("transcribed", found["transcribed"])
    speakers = {it.speaker for it in items}
    assert {"LJ", "librivox_austen_reader"} <= speakers
    assert not any(it.path.endswith(".raw") for it in items)  # headerless: skipped
    assert all(it.text and it.split in ("train", "valid", "test") for it in items)
    data = make_task("asr-real").prepare(items)
    assert len(data.test) >= 5 and len(data.train) >= 20
    assert not {it.id for it in data.train} & {it.id for it in data.test}


def test_transcripts_without_text_column_give_one_line_error(tmp_path: Path) -> None:
    from audiotokens.data import transcribed_manifest
    from audiotokens.data.manifest import ManifestError

    (tmp_path / "transcripts.tsv").write_text("path\tcomment\na.wav\thello\n")
    with pytest.raises(ManifestError, match=r"transcripts.tsv: needs tab-separated columns"):
        transcribed_manifest(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ManifestError, match="no transcripts.tsv here or in a sub-folder"):
        transcribed_manifest(tmp_path / "empty")


def test_worker_processes_give_the_same_results(synth_root: Path, tmp_path: Path) -> None:
    from audiotokens.testing import ENERGY_ENTRY
    from audiotokens.tokenizers.registry import REGISTRY, Registry

    registry = Registry([ENERGY_ENTRY, REGISTRY.get("mulaw")])
    tiny = TrainConfig(max_steps=4, eval_every=2, batch_size=4, dim=16)
    values = []
    for jobs in (1, 2):
        cfg = BenchConfig(out=tmp_path / f"j{jobs}", data=synth_root, seeds=2, jobs=jobs,
                          tokenizers=("energy", "mulaw", "continuous-mel"),
                          tasks=("prosody-proxy",), train=tiny, cost=False, report=False,
                          verbose=False)
        summary = run_benchmark(cfg, registry)
        assert summary.trained == 6
        with ResultsDB(summary.db_path) as db:
            values.append({(r.tokenizer, r.seed, r.metric): r.value
                           for r in db.results(summary.run)})
    assert values[0] == values[1] and len(values[0]) == 12  # accuracy + its chance level
