"""Speech enhancement on tokens: the token-to-token head, the task, and the runner's cell."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from audiotokens.bench.db import ResultsDB
from audiotokens.bench.features import InputSpec
from audiotokens.bench.heads import TokenEmbedding, TokenEnhancer
from audiotokens.bench.runner import CORPUS_TASKS, NOISY_SOURCES, BenchConfig, run_benchmark
from audiotokens.bench.tasks import EnhanceTask, TaskData, collate, make_task
from audiotokens.bench.tasks.base import IGNORE_INDEX
from audiotokens.bench.tasks.enhance import clean_id
from audiotokens.bench.tasks.loop import TrainConfig, build_model, train_and_evaluate
from audiotokens.data import ManifestItem
from audiotokens.metrics import dnsmos_available
from audiotokens.testing import ENERGY_ENTRY
from audiotokens.tokenizers.registry import REGISTRY, Registry

pytestmark = pytest.mark.usefixtures("single_thread")

VOCAB = (12, 7)  # two codebooks of different sizes


@pytest.mark.parametrize("out_rank", [0, 4])  # a full output layer, and a factorised one
def test_enhancer_shapes_vocab_mask_and_copy_bias(out_rank: int) -> None:
    torch.manual_seed(0)
    head = TokenEnhancer(8, VOCAB, hidden=16, stride=3, out_rank=out_rank)  # 3 frames a step
    x, lengths = torch.randn(2, 14, 8), torch.tensor([14, 9])
    out = head(x, lengths)
    assert out.logits.shape == (2, 15, 2, 12) and out.lengths.tolist() == [14, 9]
    assert torch.isinf(out.logits[..., 1, 7:]).all() and torch.isfinite(out.logits[..., 0, :]).all()
    ids = torch.stack([torch.randint(0, v, (2, 14)) for v in VOCAB], -1)
    copied = head(x, lengths, copy_ids=ids).logits[:, :14].argmax(-1)
    assert (copied == ids).float().mean() > 0.95  # an untrained head keeps its input
    # frames past an item's length do not change its valid outputs
    x2 = x.clone()
    x2[1, 9:] = 100.0
    assert torch.allclose(head.eval()(x2, lengths).logits[1, :9], head(x, lengths).logits[1, :9])


def _items(n: int, split: str) -> list[ManifestItem]:
    return [ManifestItem(id=f"{split}{i}", path=f"/nowhere/{split}{i}.wav", duration=1.0,
                         speaker=f"{split}{i % 2}", split=split,
                         clean_path=f"/clean/{split}{i}.wav") for i in range(n)]


def _shifted_arrays(items: list[ManifestItem], frames: int = 40) -> dict[str, np.ndarray]:
    """Noisy ids random; clean ids = noisy + 1 (mod vocab): learnable frame by frame."""
    rng = np.random.default_rng(0)
    arrays = {}
    for it in items:
        noisy = np.stack([rng.integers(0, v, frames) for v in VOCAB], -1)
        arrays[it.id] = noisy
        arrays[clean_id(it)] = (noisy + 1) % np.array(VOCAB)
    return arrays


def test_bind_aligns_clean_tokens_and_collate_pads_with_ignore() -> None:
    task = EnhanceTask()
    items = _items(2, "train")
    data = TaskData(items, [], [], ())
    arrays = _shifted_arrays(items)
    arrays[clean_id(items[0])] = arrays[clean_id(items[0])][:30]  # a shorter clean twin
    arrays["train1"] = arrays["train1"][:25]
    bound = task.bind(data, arrays).data
    t0 = bound.targets["train0"]
    assert t0.shape == (40, 2) and (t0[30:] == IGNORE_INDEX).all() and (t0[:30] >= 0).all()
    assert bound.targets["train1"].shape == (25, 2)
    batch = collate(items, arrays, bound)
    assert batch.targets.shape == (2, 40, 2) and batch.target_lengths.tolist() == [40, 25]
    assert (batch.targets[1, 25:] == IGNORE_INDEX).all()
    assert [it.id for it in task.input_items(data)] == ["train0", "train1",
                                                        "clean:/clean/train0.wav",
                                                        "clean:/clean/train1.wav"]
    shared = TaskData([*items, replace(items[0], id="train0~n1")], [], [], ())
    assert len(task.input_items(shared)) == 5  # a second mixture shares its clean twin
    del arrays[clean_id(items[1])]
    with pytest.raises(ValueError, match="clean tokens of train1"):
        task.bind(data, arrays)


@pytest.mark.parametrize(("frame_rate", "out_rank"), [(50.0, 0), (100.0, 0), (50.0, 4)])
def test_training_learns_a_token_mapping_through_crops(frame_rate: float, out_rank: int) -> None:
    """100 Hz: two frames per head frame; out_rank 4: a factorised output layer."""
    task = EnhanceTask(crop_frames=8)  # crops shorter than the 40-frame items
    items = _items(16, "train") + _items(4, "valid") + _items(4, "test")
    split = {"train": items[:16], "valid": items[16:20], "test": items[20:]}
    arrays = _shifted_arrays(items)
    data = task.bind(TaskData(split["train"], split["valid"], split["test"], ()), arrays).data
    spec = InputSpec("tokens", frame_rate, VOCAB)
    cfg = TrainConfig(max_steps=150, eval_every=50, patience=3, batch_size=8, dim=16,
                      hidden=16, lr=1e-2, out_rank=out_rank)
    model = build_model(task, spec, data, cfg)
    assert isinstance(model.head, TokenEnhancer) and model.head.out_rank == out_rank
    assert isinstance(model.inputs, TokenEmbedding) and model.inputs.stride == 1  # no pooling
    assert model.head.stride == frame_rate // 50
    result = train_and_evaluate(task, data, arrays, spec, cfg)
    assert result.metrics["token_accuracy@noisy"] == 0.0  # copying is always wrong here
    assert result.metrics["token_accuracy"] > 0.5
    pred = task.predict(result.model, arrays["test0"])
    assert pred.shape == (40, 2) and (pred < np.array(VOCAB)).all()


def test_unsupported_inputs_are_named() -> None:
    task = make_task("enhance")
    assert isinstance(task, EnhanceTask)
    assert task.unsupported(InputSpec("tokens", 50.0, (1024,) * 8), 1) is None
    reason = task.unsupported(InputSpec("tokens", 16000.0, (256,)), 320)
    assert reason is not None and "81920 output logits" in reason
    assert "continuous" in str(task.unsupported(InputSpec("features", 50.0, n_features=80), 1))
    with pytest.raises(ValueError, match="needs a tokenizer"):
        task.build_head(8, TaskData([], [], [], ()), spec=InputSpec("features", 50.0,
                                                                      n_features=80))


def test_prepare_needs_clean_paths_and_splits_by_speaker() -> None:
    task = EnhanceTask()
    with pytest.raises(ValueError, match="no item has a clean_path"):
        task.prepare([ManifestItem(id="a", path="/a.wav", duration=1.0)])
    items = [ManifestItem(id=f"s{s}_{u}", path=f"/n/{s}{u}.wav", duration=1.0,
                          speaker=f"s{s}", clean_path=f"/c/{s}{u}.wav")
             for s in range(5) for u in range(2)]
    data = task.prepare(items)
    speakers = [{it.speaker for it in part} for part in (data.train, data.valid, data.test)]
    assert len(speakers[1]) == 1 and len(speakers[2]) == 2
    assert not (speakers[0] & speakers[2]) and not (speakers[0] & speakers[1])


def test_enhance_is_a_default_task_with_a_derived_corpus() -> None:
    assert CORPUS_TASKS["noisy"] == ("enhance",)
    assert set(NOISY_SOURCES) == {"librispeech", "synthetic"}


SYNTH_SIZE = (0.7, 5)


def test_runner_enhances_codec2_and_reports_the_rest(synth_root: Path, tmp_path: Path) -> None:
    pytest.importorskip("pycodec2")
    registry = Registry([ENERGY_ENTRY, REGISTRY.get("codec2"), REGISTRY.get("mulaw")])
    tiny = TrainConfig(max_steps=4, eval_every=2, batch_size=4, dim=16, hidden=16)
    cfg = BenchConfig(out=tmp_path, data=synth_root, tokenizers=("codec2", "mulaw", "energy"),
                      tasks=("enhance",), train=tiny, cost=False, verbose=False, seeds=1,
                      vocoders=False)
    summary = run_benchmark(cfg, registry)
    cells = {c.tokenizer: c for c in summary.cells}
    assert cells["codec2"].status == "done", cells["codec2"].error
    assert cells["mulaw"].status == "unsupported" and "max_outputs" in cells["mulaw"].error
    assert cells["energy"].status == "no-decoder"
    assert (tmp_path / "corpus-noisy" / "synthetic" / "noisy.jsonl").is_file()

    with ResultsDB(summary.db_path) as db:
        results = [r for r in db.results(summary.run) if r.task == "enhance"]
        audio = [a for a in db.artifacts(summary.run, "audio") if a.task == "enhance"]
        weights = [json.loads(a.payload) for a in db.artifacts(summary.run, "codebook_weights")
                   if a.task == "enhance"]
    assert len(weights) == 1 and len(weights[0]["names"]) == len(weights[0]["weights"]) > 1
    names = [r.metric for r in results]
    assert names[0] == "pesq_wb" and {"pesq_nb", "stoi", "si_sdr", "pesq_wb@noisy",
                                      "pesq_nb@noisy", "pesq_wb@noisy_tokens",
                                      "pesq_wb@clean_tokens", "token_accuracy",
                                      "token_accuracy@noisy"} <= set(names)
    assert "dnsmos" not in names  # scored with --full only, and the reason is recorded:
    with ResultsDB(summary.db_path) as db:
        scoring = [json.loads(a.payload) for a in db.artifacts(summary.run, "scoring")
                   if a.task == "enhance"]
    why = scoring[0]["unavailable"]["dnsmos"]
    assert ("--full" if dnsmos_available() else "pip install") in why
    values = {r.metric: r.value for r in results}
    assert 1.0 <= values["pesq_wb"] <= 4.7 and 1.0 <= values["pesq_nb"] <= 4.6
    assert 0.0 <= values["token_accuracy"] <= 1.0
    assert values["token_accuracy@noisy"] > 0.0  # codec2 keeps some frames through noise
    kinds = {a.name.split()[0] for a in audio}
    assert kinds == {"enhanced", "noisy", "reference"}
    assert all(Path(a.payload).is_file() for a in audio)

    again = run_benchmark(cfg, registry)
    assert {c.tokenizer: c.status for c in again.cells}["codec2"] == "skipped"
