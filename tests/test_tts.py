"""TTS on tokens: phone frames, splits, the text-to-token head, the judge and the runner cell."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audiotokens.bench.db import ResultsDB
from audiotokens.bench.features import InputSpec
from audiotokens.bench.heads import TokenEmbedding
from audiotokens.bench.runner import CORPUS_TASKS, BenchConfig, run_benchmark
from audiotokens.bench.tasks import TTSTask, make_task
from audiotokens.bench.tasks.durations import Segments, fit_durations, segment_frames, segments
from audiotokens.bench.tasks.loop import TrainConfig, build_model, train_and_evaluate
from audiotokens.bench.tasks.tts import SILENCE, phone_frames
from audiotokens.data import ManifestItem
from audiotokens.testing import ENERGY_ENTRY
from audiotokens.tokenizers.registry import REGISTRY, Registry

pytestmark = pytest.mark.usefixtures("single_thread")


def test_phone_frames_follow_the_alignment_on_the_frame_grid() -> None:
    alignment = [("h", 0.0, 0.05), ("a", 0.05, 0.12), ("x", 0.12, 0.16), ("t", 0.2, 0.25)]
    frames = phone_frames(alignment, 7, 50.0, {SILENCE: 0, "a": 1, "h": 2, "t": 3})
    # centres 0.01, 0.03, 0.05, 0.07, 0.09, 0.11, 0.13 s; "x" is unknown -> silence
    assert frames.shape == (7, 1) and frames.dtype == np.int64
    assert frames[:, 0].tolist() == [2, 2, 1, 1, 1, 1, 0]
    assert phone_frames(alignment, 13, 50.0, {"t": 5})[10:, 0].tolist() == [5, 5, 0]


def test_segments_cover_the_utterance_with_pauses() -> None:
    alignment = [("h", 0.05, 0.1), ("a", 0.1, 0.2), ("x", 0.25, 0.3)]
    seg = segments(alignment, 0.5, {SILENCE: 0, "a": 1, "h": 2})
    assert seg.ids.tolist() == [0, 2, 1, 0, 0, 0]  # pause, h, a, pause, x (unknown), pause
    assert seg.seconds.sum() == pytest.approx(0.5)
    assert seg.seconds.tolist() == pytest.approx([0.05, 0.05, 0.1, 0.05, 0.05, 0.2])
    # with the true durations the frames equal the alignment's own
    index = {SILENCE: 0, "a": 1, "h": 2}
    assert np.array_equal(segment_frames(seg, 50.0), phone_frames(alignment, 25, 50.0, index))
    assert segment_frames(seg, 50.0, n_frames=30).shape == (30, 1)


def test_duration_model_learns_per_phone_durations() -> None:
    rng = np.random.default_rng(0)
    data = []
    for _ in range(64):  # phone k lasts 20 * (k + 1) ms, +-10 %
        ids = rng.integers(0, 5, 12)
        data.append(Segments(ids, 0.02 * (ids + 1) * rng.uniform(0.9, 1.1, 12)))
    model = fit_durations(data, 5, steps=300)
    test = np.array([0, 4, 2, 1, 3])
    assert np.abs(model.predict(test) - 0.02 * (test + 1)).max() < 0.012
    assert np.all(model.predict(test) >= 0)


def _item(i: int, split: str | None = "train") -> ManifestItem:
    return ManifestItem(id=f"u{i:03d}", path=f"/x/u{i}.wav", duration=1.0, text="a b",
                        speaker="one", split=split,
                        alignment=[("a", 0.0, 0.3), ("b", 0.3, 0.6), (f"p{i % 3}", 0.6, 0.9)])


def test_prepare_splits_a_single_voice_by_utterance() -> None:
    task = make_task("tts")
    assert isinstance(task, TTSTask) and task.audio_metrics[0].name == "cer"
    data = task.prepare([_item(i) for i in range(60)])  # all "train": hash split instead
    assert data.valid and data.test and len(data.train) > len(data.test)
    assert data.classes[0] == SILENCE and {"a", "b", "p0"} <= set(data.classes)
    assert task.input_spec(InputSpec("tokens", 50.0, (256,) * 8), data).vocab_sizes == \
        (len(data.classes),)
    with pytest.raises(ValueError, match="phone alignment"):
        task.prepare([ManifestItem(id="a", path="/a.wav", duration=1.0, text="hi")])


def test_text_to_token_head_learns_tokens_that_follow_the_phones() -> None:
    task = TTSTask(crop_frames=16)
    data = task.prepare([_item(i) for i in range(60)])
    spec = InputSpec("tokens", 50.0, (8, 5))
    index = {p: i for i, p in enumerate(data.classes)}
    arrays = {}
    for it in data.items:  # tokens are a function of the phone: learnable frame by frame
        phones = phone_frames(it.alignment, 50, 50.0, index)[:, 0]
        arrays[it.id] = np.stack([phones % 8, (2 * phones + 1) % 5], -1)
    bound = task.bind(data, arrays, spec)
    assert bound.inputs[data.train[0].id].shape == (50, 1)
    assert np.array_equal(bound.data.targets[data.train[0].id], arrays[data.train[0].id])
    cfg = TrainConfig(max_steps=120, eval_every=40, patience=3, batch_size=8, dim=16,
                      hidden=16, lr=1e-2)
    model = build_model(task, spec, bound.data, cfg)
    assert isinstance(model.inputs, TokenEmbedding)
    assert model.inputs.tables[0].num_embeddings == len(data.classes) + 1  # + padding row
    result = train_and_evaluate(task, bound.data, bound.inputs, spec, cfg)
    assert result.metrics["token_accuracy"] > 0.9
    assert task.predict(result.model, bound.inputs[data.test[0].id]).shape == (50, 2)


def test_tts_is_a_default_task_of_the_embedded_run() -> None:
    assert CORPUS_TASKS["tts"] == ("tts",)


SYNTH_SIZE = (0.5, 4)


def test_runner_scores_tts_with_the_judge(synth_root: Path, tmp_path: Path) -> None:
    pytest.importorskip("pycodec2")
    registry = Registry([ENERGY_ENTRY, REGISTRY.get("codec2")])
    tiny = TrainConfig(max_steps=4, eval_every=2, batch_size=4, dim=16, hidden=16)
    cfg = BenchConfig(out=tmp_path, data=synth_root, tokenizers=("codec2", "energy"),
                      tasks=("tts",), train=tiny, cost=False, verbose=False, synth_minutes=0.6,
                      seeds=1, vocoders=False)
    summary = run_benchmark(cfg, registry)
    cells = {c.tokenizer: c for c in summary.cells}
    assert cells["codec2"].status == "done", cells["codec2"].error
    assert cells["energy"].status == "no-decoder"
    corpus = tmp_path / "corpus-tts" / "all.jsonl"
    assert corpus.is_file()
    assert len({line.split('"speaker": ')[1].split(",")[0]
                for line in corpus.read_text().splitlines()}) == 1  # one voice

    with ResultsDB(summary.db_path) as db:
        results = [r for r in db.results(summary.run) if r.task == "tts"]
        audio = [a for a in db.artifacts(summary.run, "audio") if a.task == "tts"]
        weights = [a for a in db.artifacts(summary.run, "codebook_weights") if a.task == "tts"]
    assert not weights  # the head reads phones, not the tokenizer's codebooks
    values = {r.metric: r.value for r in results}
    assert results[0].metric == "cer" and not results[0].higher_is_better
    assert {"wer", "cer@reference", "cer@clean_tokens", "cer@oracle_durations", "token_accuracy",
            "duration_mae_ms"} <= set(values)
    assert 0.0 < values["duration_mae_ms"] < 500.0
    # the judge is trained (an untrained CTC judge emits blanks: CER 1.0) and reads the real
    # recording better than the 4-step head's speech (measured: 0.54 vs 0.94)
    assert values["cer@reference"] < 0.9 and values["cer@reference"] < values["cer"]
    assert {a.name.split()[0] for a in audio} == {"synthesized", "reference"}
    assert all(Path(a.payload).is_file() for a in audio)
    # the judge, the duration model and the reference scores are kept for the whole run
    shared = tmp_path / "cache" / "scoring"
    assert len(list(shared.glob("judge-*/weights.safetensors"))) == 1
    assert len(list(shared.glob("durations-*/weights.safetensors"))) == 1
    assert {p.name.split("-")[1] for p in shared.glob("tts-judge-*.json")} == {"judge"}
    assert len(list(shared.glob("tts-judge-*.json"))) == 2  # real recordings, clean tokens

