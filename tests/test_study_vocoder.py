"""The vocoder study: a scalable vocoder (layer dropout) vs one per layer subset, scored per
subset with seeds, resumable; training on a fixed layer set keeps that mask every batch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audiotokens.bench.db import ResultsDB
from audiotokens.bench.runner import BenchConfig, BenchError
from audiotokens.bench.study_vocoder import VocoderStudyConfig, run_vocoder_study
from audiotokens.tokenizers.rvq import RVQConfig, RVQTokenizer
from audiotokens.vocoder import VocoderConfig
from audiotokens.vocoder.data import SegmentSampler, VocoderClip

pytestmark = pytest.mark.usefixtures("single_thread")


def _tiny_rvq(folder: Path, synth_root: Path) -> Path:
    tok = RVQTokenizer(RVQConfig(channels=4, ratios=(4, 4, 5), latent_dim=16, n_codebooks=2,
                                 codebook_size=8, spectral_dim=16, stft_hop=40,
                                 n_codebooks_used=2))
    tok.fit(synth_root / "train.jsonl", max_steps=2, max_items=4, progress=False)
    tok.save(folder)
    return folder


def test_study_scores_both_arms_per_subset_and_resumes(synth_root: Path,
                                                       tmp_path: Path) -> None:
    tok = _tiny_rvq(tmp_path / "rvq", synth_root)
    cfg = VocoderStudyConfig(BenchConfig(out=tmp_path / "out", seeds=2, data=synth_root,
                                         verbose=False),
                             str(tok), steps=3, test_items=2)
    study = run_vocoder_study(cfg)
    names = study.subsets
    assert names == ("q0", "q1", "q0+q1")
    # per seed: 1 scalable vocoder scored on 3 subsets + 3 dedicated ones
    assert study.trained == 2 * (3 + 3)
    stoi = {g.subset: g for g in study.gaps if g.metric == "stoi"}
    assert set(stoi) == set(names)
    for g in stoi.values():
        assert g.scalable.n == g.dedicated.n == 2 and g.gap_ci95 is not None
        assert g.gap == pytest.approx(g.dedicated.value - g.scalable.value)
        assert g.outcome in ("better", "worse", "tie")
    mel = [g for g in study.gaps if g.metric == "mel_distance"]
    assert len(mel) == 3 and all(g.gap == pytest.approx(g.scalable.value - g.dedicated.value)
                                 for g in mel)  # lower is better
    assert "scalable vocoder's stoi" in study.statement
    saved = json.loads(study.path.read_text())
    assert saved["statement"] == study.statement and len(saved["gaps"]) == 6
    with ResultsDB(tmp_path / "out" / "results.db") as db:
        assert db.boards(study.run) == {f"resynth[{n}]": "generative" for n in names}
    again = run_vocoder_study(cfg)
    assert again.trained == 0 and again.gaps == study.gaps
    with pytest.raises(BenchError, match="no codebook 'q7'"):
        run_vocoder_study(VocoderStudyConfig(cfg.bench, str(tok), (("q7",),), steps=3))


def test_a_fixed_layer_set_is_kept_every_batch() -> None:
    config = VocoderConfig((8, 8, 8), ("a", "b", "c"), 16000, 320, layer_dropout=0.5)
    clip = VocoderClip("x", np.zeros((20, 3), dtype=np.int64), np.zeros(20 * 320, np.float32))
    keep = np.array([True, False, True])
    fixed = SegmentSampler([clip], config, 8, keep=keep)
    for step in range(20):
        assert fixed.batch(step, 2).mask.tolist() == keep.tolist()
    assert fixed.batch(0, 2, stream=1, full_mask=True).mask.tolist() == keep.tolist()
    free = SegmentSampler([clip], config, 8)
    assert len({tuple(free.batch(s, 2).mask.tolist()) for s in range(20)}) > 1
    with pytest.raises(ValueError, match="at least one codebook"):
        SegmentSampler([clip], config, 8, keep=np.zeros(3, dtype=bool))
