"""HuBERT pretraining: frames on the 50 Hz grid, the loss falls, saved models load in plain
transformers and in the project's hubert tokenizer / continuous baseline, iteration 2's
targets come from iteration 1's layer, and a re-run resumes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from audiotokens.data.manifest import read_manifest
from audiotokens.ssl import SSLError
from audiotokens.ssl.data import BatchConfig, StepDataset
from audiotokens.ssl.masking import MaskConfig
from audiotokens.ssl.model import HubertPretrainModel, SSLModelConfig
from audiotokens.ssl.recipe import IterationRecord, RecipeConfig, fit_ssl, save_model
from audiotokens.ssl.targets import FrameTargets, align_frames, compute_targets
from audiotokens.ssl.trainer import PretrainTrainable, TrainConfig
from audiotokens.tokenizers.registry import load_tokenizer

pytestmark = pytest.mark.usefixtures("single_thread")
SYNTH_SIZE = (0.5, 4)
TINY = SSLModelConfig(hidden_size=32, layers=2, heads=2, intermediate_size=64,
                      conv_dim=(16, 32, 32, 32), pos_kernel=16, pos_groups=4, proj_dim=16,
                      dropout=0.0)
BATCH = BatchConfig(batch_seconds=4.0, max_crop_seconds=1.0)


def tiny_recipe(**kw) -> RecipeConfig:
    opts = dict(iterations=1, k=8, minutes=None, max_steps=2, model=TINY, batch=BATCH,
                train=TrainConfig(lr=2e-3, warmup_steps=0), progress=False, log_every=1,
                kmeans_max_vectors=2000, score_layers=False)
    return RecipeConfig(**{**opts, **kw})


def test_model_frames_sit_on_the_50hz_grid_and_match_transformers() -> None:
    model = HubertPretrainModel(TINY, k=8).eval()
    for n in (345, 346, 665, 16000, 16001, 48000 + 319):
        hf = int(model.frame_lengths(torch.tensor([n]))[0])
        assert TINY.frames(n) == hf
        with torch.no_grad():
            out = model.hubert(torch.randn(1, n)).last_hidden_state
        assert out.shape[1] == hf
    assert TINY.frames(344) == 0
    assert TINY.frames(16000 * 3) == 149  # 50 frames/s, minus the receptive field's frame
    assert align_frames(np.arange(150), 149).tolist() == list(range(149))  # MFCC: N // 320
    assert align_frames(np.arange(3), 5).tolist() == [0, 1, 2, 2, 2]
    with pytest.raises(ValueError, match="multiply to 320"):
        SSLModelConfig(conv_stride=(5, 4, 4, 2))


@pytest.fixture(scope="module")
def mfcc_targets(synth_root):
    items = read_manifest(synth_root / "train.jsonl")
    tok = load_tokenizer("mfcc-kmeans", k=8, max_vectors=2000)
    tok.fit(synth_root / "train.jsonl")
    return items, compute_targets(tok, items, TINY.frames, "mfcc")


def test_batches_are_cropped_on_the_frame_grid(mfcc_targets) -> None:
    items, targets = mfcc_targets
    data = StepDataset(items, targets, TINY.frames, BATCH, seed=0)
    for step in range(4):
        batch = data[step]
        assert batch.targets.shape[1] == TINY.frames(batch.wav.shape[1])
        assert batch.wav.shape[1] <= 16000 and batch.seconds <= BATCH.batch_seconds
        assert batch.wav.mean(1).abs().max() < 1e-4  # normalised per crop
        assert torch.equal(batch.wav, data[step].wav)  # a pure function of the step
    ranks = [StepDataset(items, targets, TINY.frames, BATCH, seed=0, rank=r, world_size=2)
             for r in (0, 1)]
    assert [ranks[r].plan.batch_at(2 * 5 + r, 0) for r in (0, 1)] != [[]] * 2
    assert not torch.equal(ranks[0][5].wav[:1, :100], ranks[1][5].wav[:1, :100])


def test_loss_falls_on_a_tiny_corpus(mfcc_targets) -> None:
    items, targets = mfcc_targets
    torch.manual_seed(0)
    model = HubertPretrainModel(TINY, k=8)
    data = StepDataset(items, targets, TINY.frames, BatchConfig(4.0, 1.0), seed=0)
    trainer = PretrainTrainable(model, data, TrainConfig(lr=3e-3, warmup_steps=0),
                                MaskConfig(mask_prob=0.5, span=5))
    losses = [trainer.train_step(step)["loss"] for step in range(40)]
    assert np.mean(losses[:5]) > np.mean(losses[-5:]) + 0.15, losses
    assert trainer.audio_seconds > 0


def test_learning_rate_warms_up_then_decays_over_the_budget() -> None:
    cfg = TrainConfig(lr=1e-3, warmup_steps=10, final_lr_ratio=0.1)
    assert cfg.lr_at(0) == pytest.approx(1e-4) and cfg.lr_at(9) == pytest.approx(1e-3)
    assert cfg.lr_at(50, 0.5) == pytest.approx(1e-3 * 0.55)
    assert cfg.lr_at(99, 1.0) == cfg.lr_at(99, 3.0) == pytest.approx(1e-4)


def test_saved_model_reloads_with_identical_hidden_states(tmp_path, synth_root) -> None:
    from transformers import HubertModel

    from audiotokens.bench.features import ContinuousSSL
    from audiotokens.bench.runner import parse_tokenizer_spec

    torch.manual_seed(1)
    model = HubertPretrainModel(TINY, k=8)
    save_model(model, tmp_path / "m")
    plain = HubertModel.from_pretrained(tmp_path / "m").eval()
    wav = torch.randn(2, 8000)
    with torch.no_grad():
        ours = model.hubert.eval()(wav, output_hidden_states=True).hidden_states
        theirs = plain(wav, output_hidden_states=True).hidden_states
    assert len(ours) == TINY.layers + 1
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)
    # the continuous baseline: the same layers' hidden states of the normalised input
    name, opts = parse_tokenizer_spec(f"continuous-hubert:model={tmp_path / 'm'}:layers=[1,2]")
    assert name == "continuous-hubert"
    cont = ContinuousSSL("hubert", opts["model"], opts["layers"])
    one = wav[:1]
    feats = cont.encode(one[0].numpy(), 16000)
    norm = (one - one.mean()) / torch.sqrt(one.var(unbiased=False) + 1e-7)
    with torch.no_grad():
        hs = plain(norm, output_hidden_states=True).hidden_states
    assert np.allclose(feats, torch.cat([hs[1][0], hs[2][0]], -1).numpy(), atol=1e-5)
    # and the hubert tokenizer fits and encodes with it
    tok = load_tokenizer("hubert", model=str(tmp_path / "m"), layers=[2], k=8, max_vectors=500)
    tok.fit(synth_root / "train.jsonl")
    codes = tok.encode(one[0].numpy(), 16000).codes
    assert codes.shape == (TINY.frames(8000), 1) and tok.info.frame_rate == 50.0


def test_recipe_two_iterations_targets_from_iteration_one_and_resume(tmp_path,
                                                                     synth_root) -> None:
    out = tmp_path / "run"
    cfg = tiny_recipe(iterations=2, target_layer=1)
    result = fit_ssl([synth_root / "all.jsonl"], out, cfg)
    assert [r.steps for r in result.iterations] == [2, 2]
    for i in (1, 2):
        rec = IterationRecord.load(out / f"iter{i}")
        assert rec is not None and rec.complete and rec.steps == 2
        assert [c["step"] for c in rec.loss_curve] == [1.0, 2.0]
        assert rec.data["train_items"] == len(read_manifest(synth_root / "train.jsonl"))
        assert rec.settings["k"] == 8 and rec.train_seconds > 0
    # iteration 2's targets are k-means tokens of iteration 1's layer 1
    t2 = FrameTargets.load(out / "targets" / "iter2")
    assert t2.source == f"hubert:{out / 'iter1'}@layer1"
    tok = load_tokenizer(str(out / "targets" / "iter2" / "tokenizer"))
    assert tok.config.model == str(out / "iter1") and tok.config.layers == [1]
    items = {it.id: it for it in read_manifest(synth_root / "train.jsonl")}
    from audiotokens.audio import load_audio

    first = items[t2.item_ids[0]]
    samples = load_audio(first.path, 16000).samples
    again = align_frames(tok.encode(samples, 16000).codes[:, 0], TINY.frames(len(samples)))
    assert np.array_equal(again, t2.of(0))
    t1 = FrameTargets.load(out / "targets" / "iter1")
    assert t1.source == "mfcc" and not np.array_equal(t1.of(0), t2.of(0))
    summary = json.loads((out / "ssl.json").read_text())
    assert summary["model"] == "iter2" and summary["k"] == 8

    # a re-run with a larger step budget continues the step count from the checkpoints
    more = fit_ssl([synth_root / "all.jsonl"], out, tiny_recipe(iterations=2, target_layer=1,
                                                                max_steps=4))
    assert [r.steps for r in more.iterations] == [4, 4]
    rec = IterationRecord.load(out / "iter1")
    assert [c["step"] for c in rec.loss_curve] == [1.0, 2.0, 3.0, 4.0]
    saved = torch.load(out / "checkpoints" / "iter1.pt", weights_only=True)
    assert saved["step"] == 4
    # the same command again: nothing left to do, nothing retrained
    same = fit_ssl([synth_root / "all.jsonl"], out, tiny_recipe(iterations=2, target_layer=1,
                                                                max_steps=4))
    assert [r.train_seconds for r in same.iterations] == [r.train_seconds
                                                          for r in more.iterations]
    with pytest.raises(SSLError, match="different k"):
        fit_ssl([synth_root / "all.jsonl"], out, tiny_recipe(iterations=2, target_layer=1,
                                                             k=9))
