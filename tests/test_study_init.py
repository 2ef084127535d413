"""The embedding-initialisation study: its arms (random / vectors, trained / frozen) in one DB,
compared where vectors exist; the verdict on hand-made comparisons; frozen tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from audiotokens.bench.db import ResultsDB
from audiotokens.bench.findings import INIT_CLAIM, VERDICTS, TaskComparison
from audiotokens.bench.heads import TokenEmbedding
from audiotokens.bench.ranking import RankedScore
from audiotokens.bench.report import render_report
from audiotokens.bench.runner import BenchConfig
from audiotokens.bench.study_init import ARMS, init_finding, latest_init_study, run_init_study
from audiotokens.bench.tasks.loop import TrainConfig
from audiotokens.cli import main

pytestmark = pytest.mark.usefixtures("single_thread")


def test_init_study_compares_the_arms_where_vectors_exist(synth_root: Path,
                                                          tmp_path: Path) -> None:
    cfg = BenchConfig(out=tmp_path, data=synth_root, seeds=2, jobs=1, verbose=False,
                      tokenizers=("mel-kmeans:k=8", "continuous-mel"), tasks=("prosody-proxy",),
                      train=TrainConfig(max_steps=6, eval_every=3, batch_size=4, dim=8),
                      cost=False, vocoders=False)
    study = run_init_study(cfg, arms=tuple(ARMS))
    base = f"data-{synth_root.name}"
    assert study.runs == {arm: f"{base}-init-{arm}" for arm in ARMS}
    # continuous-mel has no vectors: only mel-kmeans is compared, in every arm but random
    assert {arm: [c.task for c in cs] for arm, cs in study.comparisons.items()} == {
        arm: ["mel-kmeans:k=8 / prosody-proxy"] for arm in ARMS if arm != "random"}
    c = study.comparisons["vectors-frozen"][0]
    assert c.a.n == c.b.n == 2 and c.outcome in ("better", "worse", "tie")
    assert study.verdict in VERDICTS
    # the verdict is judged on the two vector arms only
    assert len(study.finding.comparisons) == 2
    with ResultsDB(tmp_path / "results.db") as db:
        for arm, run in study.runs.items():
            starts = {(json.loads(a.payload)["init"], json.loads(a.payload)["frozen"])
                      for a in db.artifacts(run, "training") if a.tokenizer == "mel-kmeans:k=8"}
            assert starts == {("vectors" if ARMS[arm].vectors else "random", ARMS[arm].frozen)}
        assert latest_init_study(db) == (base, study.runs)
        report = render_report(db, run=study.runs["random"])
    assert INIT_CLAIM in report and f"init study {base}" in report
    saved = json.loads(study.path.read_text())
    assert saved["verdict"] == study.verdict and len(saved["comparisons"]) == 3
    # a re-run of one arm reads the same scores back
    again = run_init_study(cfg, arms=("vectors",))
    assert again.comparisons["vectors"] == study.comparisons["vectors"]


def _score(tok: str, mean: float, n: int = 3) -> RankedScore:
    return RankedScore(tok, "low", mean, 0.01, n, 1)


def _pair(outcome: str, n: int = 3) -> TaskComparison:
    values = {"better": 0.9, "worse": 0.5, "tie": 0.7}
    return TaskComparison("mel-kmeans / kws", _score("mel-kmeans", values[outcome], n),
                          _score("mel-kmeans", 0.7, n), outcome)


def test_init_verdict_on_hand_made_comparisons() -> None:
    holds = init_finding({"vectors": [_pair("tie")], "vectors-frozen": [_pair("worse")],
                          "random-frozen": [_pair("better")]})  # the control does not count
    assert holds.verdict == "holds" and len(holds.comparisons) == 2
    gain = init_finding({"vectors": [_pair("better"), _pair("better")],
                         "vectors-frozen": [_pair("tie")]})
    assert gain.verdict == "does not hold"
    assert "better than random on 2 of 3" in gain.evidence
    mixed = init_finding({"vectors": [_pair("better")], "vectors-frozen": [_pair("tie")]})
    assert mixed.verdict == "inconclusive"
    one_seed = init_finding({"vectors": [_pair("tie", n=1)]})
    assert one_seed.verdict == "inconclusive" and "one seed" in one_seed.evidence
    assert init_finding({"random-frozen": [_pair("tie")]}).verdict == "not measured"


def test_frozen_tables_keep_their_start_and_the_head_trains() -> None:
    emb = TokenEmbedding((6, 4), dim=8, init_vectors=[torch.randn(6, 5), None], freeze=True)
    before = [t.weight.detach().clone() for t in emb.tables]
    opt = torch.optim.AdamW(emb.parameters(), lr=0.1)
    ids = torch.randint(0, 4, (2, 5, 2))
    frames, _ = emb(ids, torch.tensor([5, 3]))
    frames.pow(2).sum().backward()
    opt.step()
    assert all(torch.equal(b, t.weight) for b, t in zip(before, emb.tables, strict=True))
    assert emb.logits.grad is not None
    trained = TokenEmbedding((6,), dim=8)
    assert all(p.requires_grad for p in trained.parameters())


def test_init_study_cli_refuses_generative_tasks(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["study", "init", "--tasks", "tts", "--out", str(tmp_path)])
    assert done.value.code == 2 and "discriminative heads only" in capsys.readouterr().err
