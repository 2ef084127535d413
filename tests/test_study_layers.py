"""The layer x k study: a 2 x 2 grid (+ its 2-layer combinations) on a tiny slice, its heat
maps, tables and verdicts, a re-run that skips everything, and a new k that reuses the
cached frames; the number-of-clusters verdict on hand-made results, also read by the report
of another run of the same DB."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from audiotokens.bench.db import Result, ResultsDB
from audiotokens.bench.findings import VERDICTS, cluster_count_finding, seed_findings
from audiotokens.bench.ranking import rank_results
from audiotokens.bench.report import render_report
from audiotokens.bench.runner import BenchConfig
from audiotokens.bench.study_grid import GridCell, latest_layer_study, parse_grid_label
from audiotokens.bench.study_layers import LayerStudyConfig, default_model, run_layer_study
from audiotokens.bench.tasks.loop import TrainConfig
from audiotokens.cli import main
from audiotokens.ssl.model import SSLModelConfig
from audiotokens.testing import save_tiny_ssl

pytestmark = pytest.mark.usefixtures("single_thread")

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return save_tiny_ssl("hubert", tmp_path_factory.mktemp("ssl"), layer_norm=True)


def bench_config(out: Path, data: Path) -> BenchConfig:
    return BenchConfig(out=out, data=data, tasks=("prosody-proxy",), seeds=2, jobs=1,
                       verbose=False, cost=False, vocoders=False,
                       train=TrainConfig(max_steps=6, eval_every=3, batch_size=4, dim=8))


def test_grid_heatmaps_tables_and_cached_rerun(synth_root, tiny_model, tmp_path) -> None:
    cfg = LayerStudyConfig(bench_config(tmp_path, synth_root), str(tiny_model), (1, 2), (4, 8))
    study = run_layer_study(cfg)
    labels = [c.label for c in study.cells]
    assert labels == ["hubert-L1-k4", "hubert-L1-k8", "hubert-L2-k4", "hubert-L2-k8",
                      "hubert-L1+2-k4", "hubert-L1+2-k8"]
    assert "-layers-" in study.run and study.bench.trained == 6 * 2
    assert len(study.fit.fitted) == 6 and study.fit.sampled_layers == (1, 2)
    # every (layer, k) is its own tokenizer: distinct folders and checksums
    checksums = {json.loads((f / "config.json").read_text())["checksum"]
                 for f in study.fit.folders.values()}
    assert len(checksums) == 6
    # the combination reuses the single-layer centroids of its layers
    combo = json.loads((study.fit.folders[study.cells[5]] / "config.json").read_text())
    assert combo["config"]["layers"] == [1, 2] and combo["config"]["k"] == 8

    (grid,) = study.grids
    assert grid.task == "prosody-proxy" and grid.rows == ("1", "2", "1+2") and grid.ks == (4, 8)
    best = grid.score(grid.best)
    assert all(best.value >= s.value for s in grid.scores.values())
    assert all(s.n == 2 and s.ci95 is not None for s in grid.scores.values())
    assert all(grid.score(c).rank == best.rank for c in grid.ties)
    assert study.heatmaps["prosody-proxy"].read_bytes().startswith(PNG)
    assert study.clusters.verdict == "not measured"  # k 4 and 8: none in 1000-2000
    assert study.combination.verdict in VERDICTS and study.combination.comparisons
    saved = json.loads(study.summary.read_text())
    assert saved["tasks"][0]["best"] == grid.best.label and len(saved["tasks"][0]["cells"]) == 6
    page = study.report.read_text()
    assert "Layer x k study" in page and "hubert-L1+2-k8" in page and "★" in page

    again = run_layer_study(cfg)  # everything cached: no fit, no backbone pass, no head
    assert again.bench.trained == 0 and again.bench.count("skipped") == 12
    assert again.fit.fitted == () and again.fit.sampled_layers == ()
    assert again.grids[0].scores == grid.scores

    wider = run_layer_study(replace(cfg, ks=(4, 8, 12), combine=False))
    assert [c.label for c in wider.fit.fitted] == ["hubert-L1-k12", "hubert-L2-k12"]
    assert wider.fit.sampled_layers == ()  # clustered from the frames kept on disk
    assert wider.bench.trained == 2 * 2 and wider.grids[0].ks == (4, 8, 12)


def test_default_model_is_pretrained_once(tmp_path) -> None:
    tiny = SSLModelConfig(hidden_size=16, heads=2, intermediate_size=32, layers=2,
                          conv_dim=(8, 8, 8, 16), pos_kernel=8, pos_groups=2, proj_dim=8)
    cfg = LayerStudyConfig(replace(BenchConfig(out=tmp_path, synth_minutes=0.2, verbose=False)))
    cfg = replace(cfg, ssl=replace(cfg.ssl, minutes=None, max_steps=2, iterations=1, k=8,
                                   model=tiny))
    model = default_model(cfg)
    assert (model / "config.json").is_file() and model.parent.parent == tmp_path / "ssl"
    stamp = (model / "model.safetensors").stat().st_mtime_ns
    assert default_model(cfg) == model  # reused: same recipe, same corpus
    assert (model / "model.safetensors").stat().st_mtime_ns == stamp
    other = replace(cfg, ssl=replace(cfg.ssl, max_steps=3))
    assert default_model(other) != model


def grid_results(run: str, values: dict[str, list[float]]) -> list[Result]:
    return [Result(run, label, "low", "prosody-proxy", "accuracy", v, seed, True)
            for label, vs in values.items() for seed, v in enumerate(vs)]


def test_cluster_verdicts_and_report_reads_the_study(tmp_path) -> None:
    assert parse_grid_label("hubert-L1+3-k1000") == GridCell("hubert", (1, 3), 1000)
    assert parse_grid_label("mel-kmeans") is None
    big = {"hubert-L1-k1000": [0.90, 0.91, 0.92], "hubert-L1-k100": [0.60, 0.61, 0.62],
           "hubert-L1+2-k100": [0.99, 0.99, 0.99]}  # a combination does not count for k
    holds = cluster_count_finding(rank_results(grid_results("s", big)))
    assert holds.verdict == "holds" and holds.comparisons[0].a.tokenizer == "hubert-L1-k1000"
    small = {**big, "hubert-L2-k100": [0.95, 0.96, 0.97]}
    assert cluster_count_finding(rank_results(grid_results("s", small))).verdict == \
        "does not hold"
    with ResultsDB(tmp_path / "results.db") as db:
        db.add_cell([Result("embedded", "mel-kmeans", "low", "prosody-proxy", "accuracy", 0.5,
                            0, True)])
        db.set_family("embedded", "mel-kmeans", "semantic")
        run = "embedded-layers-tiny-abc123"
        for r in grid_results(run, big):
            db.add_cell([r])
        found = latest_layer_study(db)
        assert found is not None and found[0] == run
        plain = rank_results(db.results("embedded"))
        claim = {f.claim: f for f in seed_findings(plain, {"mel-kmeans": "semantic"}, found)}
        assert claim["1000-2000 clusters are usually best"].verdict == "holds"
        page = render_report(db, run="embedded")
    assert "study run embedded-layers-tiny-abc123" in page


def test_cli_rejects_layers_the_model_lacks(tiny_model, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["study", "layers", "--model", str(tiny_model), "--layers", "2,7", "--k", "4",
              "--tasks", "prosody-proxy", "--out", str(tmp_path)])
    assert done.value.code == 2 and "not [7]" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        main(["study", "layers", "--k", "1,4", "--out", str(tmp_path)])
    assert done.value.code == 2 and "ks must be" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        main(["study", "layers", "--tasks", "nope", "--out", str(tmp_path)])
    assert done.value.code == 2 and "unknown task" in capsys.readouterr().err
