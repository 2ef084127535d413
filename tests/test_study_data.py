"""The clustering-data study: a tiny 2 x 2 run (two synthetic voice domains) gives its table,
drops and verdict and re-runs without training; the verdict on hand-made pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audiotokens.bench.db import ResultsDB
from audiotokens.bench.findings import DATA_CLAIM, VERDICTS
from audiotokens.bench.ranking import RankedScore
from audiotokens.bench.report import render_report
from audiotokens.bench.runner import BenchConfig
from audiotokens.bench.study_data import (
    DataStudyConfig,
    DomainPair,
    _pair,
    data_finding,
    run_data_study,
)
from audiotokens.bench.tasks.loop import TrainConfig

pytestmark = pytest.mark.usefixtures("single_thread")


def test_two_by_two_study_gives_table_drops_verdict_and_resumes(tmp_path: Path) -> None:
    bench = BenchConfig(out=tmp_path, seeds=2, jobs=1, verbose=False, synth_minutes=0.6,
                        tasks=("prosody-proxy",),
                        train=TrainConfig(max_steps=6, eval_every=3, batch_size=4, dim=8))
    cfg = DataStudyConfig(bench, tokenizer="mel-kmeans:k=8")
    study = run_data_study(cfg)
    assert study.fits == ("synth_male", "synth_female")
    assert set(study.table) == {"synth_male", "synth_female"}
    for tasks in study.table.values():
        assert set(tasks) == {"prosody-proxy"} and set(tasks["prosody-proxy"]) == set(study.fits)
        assert all(s.n == 2 for s in tasks["prosody-proxy"].values())
    assert sorted((p.domain, p.fit) for p in study.pairs) == [
        ("synth_female", "synth_male"), ("synth_male", "synth_female")]
    p = study.pairs[0]
    assert p.drop == pytest.approx(p.in_domain.value - p.out_domain.value)  # accuracy: higher
    assert study.finding.claim == DATA_CLAIM and study.finding.verdict in VERDICTS
    assert study.trained == 2 * 2 * 2  # 2 domains x 2 fitted tokenizers x 2 seeds
    saved = json.loads(study.path.read_text())
    assert saved["verdict"] == study.finding.verdict and len(saved["pairs"]) == 2
    with ResultsDB(tmp_path / "results.db") as db:
        page = render_report(db, run=study.runs["synth_male"])
    assert "data study embedded" in page
    again = run_data_study(cfg)
    assert again.trained == 0 and again.pairs == study.pairs


def test_fit_data_names_and_manifests_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="a-z"):
        DataStudyConfig(BenchConfig(out=tmp_path), fit_data=(("Bad-Name", tmp_path),))
    with pytest.raises(ValueError, match="no such manifest"):
        DataStudyConfig(BenchConfig(out=tmp_path), fit_data=(("ok", tmp_path / "x.jsonl"),))


def _hand(inside: float, outside: float, hib: bool = True, ci: float = 0.01,
          n: int = 3) -> DomainPair:
    return _pair("d", "t", "m", hib, "other", RankedScore("in", "low", inside, ci, n, 1),
                 RankedScore("out", "low", outside, ci, n, 1))


def test_data_verdict_on_hand_made_pairs() -> None:
    small = [_hand(0.80, 0.76), _hand(0.90, 0.85), _hand(0.50, 0.50)]  # ~5 % drops
    assert data_finding(small).verdict == "holds"
    huge = [_hand(0.80, 0.50), _hand(0.90, 0.60)]  # ~35 % drops: "hugely"
    assert data_finding(huge).verdict == "does not hold"
    ood = [_hand(0.70, 0.80), _hand(0.20, 0.10, hib=False)]  # OOD better (cer: lower)
    assert [p.outcome for p in ood] == ["worse", "worse"]
    assert data_finding(ood).verdict == "does not hold"
    ties = [_hand(0.80, 0.79, ci=0.05), _hand(0.80, 0.70)]
    assert data_finding(ties).verdict == "inconclusive"
    one = [_hand(0.8, 0.7, ci=None, n=1)]
    assert data_finding(one).verdict == "inconclusive"
    assert data_finding([]).verdict == "not measured"
    assert _hand(0.20, 0.25, hib=False).relative == pytest.approx(0.25)


def test_cli_rejects_bad_fit_data_and_unknown_tasks(tmp_path: Path, capsys) -> None:
    from audiotokens.cli import main

    for args, message in ((["--fit-data", "nofile"], "NAME=MANIFEST"),
                          (["--fit-data", f"x={tmp_path / 'none.jsonl'}"], "no such manifest"),
                          (["--tasks", "kws-nowhere"], "unknown task")):
        with pytest.raises(SystemExit) as done:
            main(["study", "data", "--out", str(tmp_path), *args])
        assert done.value.code == 2 and message in capsys.readouterr().err
