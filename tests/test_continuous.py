"""The continuous SSL baseline: hidden states of chosen layers feed the same heads."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from audiotokens.bench.db import ResultsDB
from audiotokens.bench.features import ContinuousSSL
from audiotokens.bench.runner import BenchConfig, run_benchmark
from audiotokens.bench.tasks.loop import TrainConfig
from audiotokens.testing import noisy_speechlike

pytestmark = pytest.mark.usefixtures("single_thread")

TINY = TrainConfig(max_steps=4, eval_every=2, batch_size=4, dim=16, hidden=16)


def test_layers_are_concatenated_and_keyed(hubert_dir: Path, tmp_path: Path) -> None:
    src = ContinuousSSL("hubert", str(hubert_dir), [1, 2])
    x = noisy_speechlike(1.0, seed=0)
    feats = src.encode(x, 16000)
    dim = src.backbone.dim
    assert feats.dtype == np.float32 and feats.shape[1] == 2 * dim
    assert src.spec.kind == "features" and src.spec.n_features == 2 * dim
    assert abs(feats.shape[0] - src.spec.frame_rate) <= 1  # one second of frames
    one = ContinuousSSL("hubert", str(hubert_dir), [2])
    assert np.allclose(one.encode(x, 16000), feats[:, dim:], atol=1e-5)
    assert one.key() != src.key()
    before = src.key()
    config = hubert_dir / "config.json"
    stat = config.stat()
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert ContinuousSSL("hubert", str(hubert_dir), [1, 2]).key() != before
    with pytest.raises(ValueError, match="16000 Hz"):
        src.encode(x, 8000)
    with pytest.raises(ValueError, match="layers"):
        ContinuousSSL("hubert", str(hubert_dir), [])


def test_bench_runs_a_continuous_ssl_baseline(hubert_dir: Path, synth_root: Path,
                                              tmp_path: Path) -> None:
    spec = f"continuous-hubert:model={hubert_dir}:layers=[1,2]"
    cfg = BenchConfig(out=tmp_path, data=synth_root, tasks=("spkid-synth",),
                      tokenizers=(spec, "continuous-hubert:layers=[1]"), train=TINY,
                      verbose=False, seeds=1, vocoders=False)
    summary = run_benchmark(cfg)
    cells = {c.tokenizer: c for c in summary.cells}
    assert cells[spec].status == "done", cells[spec].error
    bad = cells["continuous-hubert:layers=[1]"]
    assert bad.status == "failed" and "model=" in bad.error
    with ResultsDB(summary.db_path) as db:
        rows = [r for r in db.results(summary.run) if r.tokenizer == spec]
    assert {r.bitrate_tier for r in rows} == {"continuous"}
    assert {r.task for r in rows} == {"spkid-synth"}  # no cost rows for features
