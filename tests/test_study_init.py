"""The embedding-initialisation study: two arms in one DB, compared where vectors exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audiotokens.bench.db import ResultsDB
from audiotokens.bench.findings import VERDICTS
from audiotokens.bench.runner import BenchConfig
from audiotokens.bench.study_init import run_init_study
from audiotokens.bench.tasks.loop import TrainConfig
from audiotokens.cli import main

pytestmark = pytest.mark.usefixtures("single_thread")


def test_init_study_compares_the_arms_where_vectors_exist(synth_root: Path,
                                                          tmp_path: Path) -> None:
    cfg = BenchConfig(out=tmp_path, data=synth_root, seeds=2, jobs=1, verbose=False,
                      tokenizers=("mel-kmeans:k=8", "continuous-mel"), tasks=("prosody-proxy",),
                      train=TrainConfig(max_steps=6, eval_every=3, batch_size=4, dim=8),
                      cost=False, vocoders=False)
    study = run_init_study(cfg)
    base = f"data-{synth_root.name}"
    assert study.runs == (f"{base}-init-random", f"{base}-init-vectors")
    # continuous-mel has no vectors: only mel-kmeans is compared
    assert [c.task for c in study.comparisons] == ["mel-kmeans:k=8 / prosody-proxy"]
    assert study.comparisons[0].a.n == study.comparisons[0].b.n == 2
    assert study.verdict in VERDICTS and study.comparisons[0].outcome in ("better", "worse",
                                                                           "tie")
    with ResultsDB(tmp_path / "results.db") as db:
        for run, init in zip(study.runs, ("random", "vectors"), strict=True):
            starts = {json.loads(a.payload)["init"] for a in db.artifacts(run, "training")
                      if a.tokenizer == "mel-kmeans:k=8"}
            assert starts == {init}
    saved = json.loads(study.path.read_text())
    assert saved["verdict"] == study.verdict and len(saved["comparisons"]) == 1


def test_init_study_cli_refuses_generative_tasks(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["study", "init", "--tasks", "tts", "--out", str(tmp_path)])
    assert done.value.code == 2 and "discriminative heads only" in capsys.readouterr().err
