"""The benchmark runner and ``audiotokens bench``: resume, failures, saved tokenizers, CLI."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from audiotokens.bench.db import ResultsDB
from audiotokens.bench.runner import BenchConfig, bitrate_tier, parse_tokenizer_spec, run_benchmark
from audiotokens.bench.tasks.loop import TrainConfig
from audiotokens.cli import main
from audiotokens.testing import ENERGY_ENTRY
from audiotokens.tokenizers.registry import REGISTRY, Registry, TokenizerEntry

TINY = TrainConfig(max_steps=4, eval_every=2, batch_size=4, dim=16)


pytestmark = pytest.mark.usefixtures("single_thread")


def _registry() -> Registry:
    return Registry([ENERGY_ENTRY, REGISTRY.get("mulaw")])


def test_resume_skips_done_cells(synth_root: Path, tmp_path: Path) -> None:
    cfg = BenchConfig(out=tmp_path, data=synth_root, tokenizers=("energy", "continuous-mel"),
                      tasks=("prosody-proxy",), seeds=2, train=TINY, verbose=False, vocoders=False)
    first = run_benchmark(cfg, _registry())
    assert first.trained == 4 and first.count("skipped") == 0
    assert first.report_path is not None and first.report_path.is_file()
    with ResultsDB(first.db_path) as db:
        before = db.results(first.run)
    cost = [r for r in before if r.task == "cost"]
    assert {r.tokenizer for r in cost} == {"energy"}  # the continuous baseline has no cost row
    assert {r.metric for r in cost} >= {"bitrate_bps", "encode_seconds_per_16s"}
    second = run_benchmark(cfg, _registry())
    assert second.trained == 0 and second.count("skipped") == 4
    with ResultsDB(second.db_path) as db:
        assert db.results(second.run) == before
    # one more seed trains only the new cells
    third = run_benchmark(replace(cfg, seeds=3), _registry())
    assert third.trained == 2 and third.count("skipped") == 4


def test_a_broken_tokenizer_fails_alone_and_saved_folders_load(synth_root: Path,
                                                               tmp_path: Path) -> None:
    registry = _registry()
    registry.add(TokenizerEntry("broken", "audiotokens.no_such_module:Nothing"))
    saved = registry.create("energy", k=8).save(tmp_path / "energy-k8")
    cfg = BenchConfig(out=tmp_path / "out", data=synth_root, tokenizers=("broken", str(saved)),
                      tasks=("prosody-proxy",), train=TINY, cost=False, report=False,
                      verbose=False, seeds=1, vocoders=False)
    summary = run_benchmark(cfg, registry)
    status = {(c.tokenizer, c.status) for c in summary.cells}
    assert status == {("broken", "failed"), ("energy-k8", "done")}
    assert "no_such_module" in next(c.error for c in summary.cells if c.status == "failed")


def test_tiers_and_specs() -> None:
    assert [bitrate_tier(b) for b in (None, 700, 1500, 4000, 24000)] == [
        "continuous", "low", "low", "medium", "high"]
    assert parse_tokenizer_spec("mel-kmeans:k=64:dedup=true") == (
        "mel-kmeans", {"k": 64, "dedup": True})
    with pytest.raises(ValueError, match="key=value"):
        parse_tokenizer_spec("mel-kmeans:64")
    from audiotokens.cli.bench import _split

    specs = _split(["mulaw,hubert:layers=[1,2]:k=50", " codec2 ,",
                    "continuous-hubert:model=m:layers=[6,9]"])
    assert specs == ("mulaw", "hubert:layers=[1,2]:k=50", "codec2",
                     "continuous-hubert:model=m:layers=[6,9]")
    assert parse_tokenizer_spec(specs[1]) == ("hubert", {"layers": [1, 2], "k": 50})


def test_cli_runs_prints_leaderboard_and_resumes(synth_root: Path, tmp_path: Path,
                                                 capsys) -> None:
    args = ["bench", "--data", str(synth_root), "--out", str(tmp_path), "-t",
            "continuous-mel,mulaw", "--tasks", "prosody-proxy", "--steps", "4", "--threads", "1"]
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "leaderboard" in out and "mulaw" in out and "continuous-mel" in out
    assert "6 trained" in out and (tmp_path / "report.html").is_file()  # 3 seeds by default
    assert "discriminative leaderboard" in out and " ± " in out  # mean ± CI over the seeds
    with pytest.raises(SystemExit):
        main(args)
    assert "0 trained, 6 already done" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # other head settings: recomputed, not "already done"
        main([*args[:-4], "--steps", "6", "--threads", "1"])
    assert "6 trained, 0 already done" in capsys.readouterr().out


def test_cli_rejects_unknown_task_and_missing_corpus(synth_root: Path, tmp_path: Path,
                                                     capsys) -> None:
    with pytest.raises(SystemExit) as bad:
        main(["bench", "--tasks", "emotion-recognition", "--out", str(tmp_path)])
    assert bad.value.code == 2 and "kws-fsdd" in capsys.readouterr().err
    with pytest.raises(SystemExit) as missing:
        main(["bench", "--data", str(synth_root), "--tasks", "kws-fsdd", "--out", str(tmp_path)])
    assert missing.value.code == 2
    assert "needs a fsdd corpus" in capsys.readouterr().err
