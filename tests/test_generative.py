"""The resynthesis task: scores in the DB, audio artifacts, no-decoder tokenizers reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiotokens.bench.db import ResultsDB
from audiotokens.bench.ranking import rank_results
from audiotokens.bench.runner import CORPUS_TASKS, BenchConfig, run_benchmark
from audiotokens.bench.tasks import ResynthTask, make_task
from audiotokens.bench.tasks.generative import speaker_similarity_available
from audiotokens.bench.tasks.loop import TrainConfig
from audiotokens.data import ManifestItem
from audiotokens.testing import ENERGY_ENTRY
from audiotokens.tokenizers.registry import REGISTRY, Registry

TINY = TrainConfig(max_steps=4, eval_every=2, batch_size=4, dim=16)


pytestmark = pytest.mark.usefixtures("single_thread")


def test_task_declares_pesq_first_and_is_in_the_defaults() -> None:
    task = make_task("resynth-synth")
    assert isinstance(task, ResynthTask) and task.primary.name == "pesq_wb"
    names = [m.name for m in task.metrics]
    assert names[:5] == ["pesq_wb", "pesq_nb", "stoi", "si_sdr", "mel_distance"]
    assert ("spk_sim" in names) == speaker_similarity_available()
    assert "resynth-synth" in CORPUS_TASKS["synthetic"]
    assert "resynth-librispeech" in CORPUS_TASKS["librispeech"]


def test_prepare_keeps_long_test_items_only(tmp_path: Path) -> None:
    items = [ManifestItem(id=f"u{i}", path=str(tmp_path / f"u{i}.wav"), duration=d, split=s)
             for i, (d, s) in enumerate([(2.0, "test"), (0.4, "test"), (3.0, "train")])]
    task = ResynthTask("resynth-x", "synthetic")
    data = task.prepare(items)
    assert [it.id for it in data.test] == ["u0"] and not data.train and not data.valid
    with pytest.raises(ValueError, match="no test items of >= 1.0 s"):
        task.prepare(items[1:])


def test_resynth_scores_mulaw_and_reports_tokenizers_without_decoder(
        synth_root: Path, tmp_path: Path) -> None:
    registry = Registry([ENERGY_ENTRY, REGISTRY.get("mulaw")])
    cfg = BenchConfig(out=tmp_path, data=synth_root, tokenizers=("mulaw", "energy",
                                                                 "continuous-mel"),
                      tasks=("resynth-synth", "prosody-proxy"), seeds=2, train=TINY,
                      cost=False, verbose=False, vocoders=False)
    summary = run_benchmark(cfg, registry)
    resynth = {c.tokenizer: c for c in summary.cells if c.task == "resynth-synth"}
    assert resynth["mulaw"].status == "done"
    assert resynth["energy"].status == "no-decoder"
    assert resynth["continuous-mel"].status == "no-decoder"
    assert summary.count("failed") == 0

    with ResultsDB(summary.db_path) as db:
        results = db.results(summary.run)
        audio = db.artifacts(summary.run, "audio")
    rows = [r for r in results if r.task == "resynth-synth"]
    assert {r.tokenizer for r in rows} == {"mulaw"} and {r.seed for r in rows} == {0}
    value = {r.metric: r.value for r in rows}
    assert rows[0].metric == "pesq_wb"  # the ranking's primary metric is recorded first
    assert value["stoi"] > 0.9  # 8-bit mu-law at 16 kHz is near-transparent
    assert 3.0 < value["pesq_wb"] <= 4.65 and value["si_sdr"] > 20.0
    assert 3.0 < value["pesq_nb"] <= 4.56 and value["pesq_nb"] != value["pesq_wb"]
    assert 0.0 <= value["mel_distance"] < 0.5
    if speaker_similarity_available():
        assert 0.8 < value["spk_sim"] <= 1.0 + 1e-6
    decoded = [a for a in audio if a.name.startswith("decoded ")]
    refs = [a for a in audio if a.name.startswith("reference ")]
    assert len(decoded) == 2 and len(refs) == 2
    assert all(a.tokenizer == "mulaw" and Path(a.payload).is_file() for a in audio)

    with ResultsDB(summary.db_path) as db:
        primaries, reasons = db.primaries(summary.run), db.primary_reasons(summary.run)
    assert primaries["resynth-synth"] == "pesq_wb"  # the synthetic corpus is at 16 kHz
    assert reasons["resynth-synth"].endswith("references at >= 16 kHz: wide-band PESQ")
    ranking = rank_results(results, primaries)
    assert ranking.primary["resynth-synth"] == "pesq_wb"
    missing = {row.tokenizer: row.missing for row in ranking.boards["generative"].rows}
    assert missing == {"mulaw": (), "energy": ("resynth-synth",),
                       "continuous-mel": ("resynth-synth",)}
    assert summary.report_path is not None
    page = summary.report_path.read_text()
    assert page.count("<audio controls") == 4 and "decoded " in page and "reference " in page
    n_metrics = len({r.metric for r in rows})  # energy and continuous-mel rows: no decoder
    assert page.count('muted">not measured</span>') == 2 * n_metrics

    again = run_benchmark(cfg, registry)  # resumes: mulaw's resynth cell is not redone
    cells = {c.tokenizer: c.status for c in again.cells if c.task == "resynth-synth"}
    assert cells == {"mulaw": "skipped", "energy": "no-decoder", "continuous-mel": "no-decoder"}
    with ResultsDB(again.db_path) as db:
        assert len(db.artifacts(again.run, "audio")) == 4


def test_a_narrow_band_reference_makes_narrow_band_pesq_primary(tmp_path: Path) -> None:
    import audiotokens as at
    from audiotokens.audio import save_audio
    from audiotokens.testing import noisy_speechlike

    items = [ManifestItem(f"u{rate}", str(save_audio(
        tmp_path / f"u{rate}.wav", noisy_speechlike(1.5, rate, seed=rate), rate)), 1.5)
        for rate in (16000, 8000)]
    task = ResynthTask("resynth-x", "synthetic", n_samples=0)
    tok = at.load_tokenizer("mulaw")
    out = task.run(tok, items, tmp_path / "o", run="r", label="mulaw", tier="high")
    assert out.primary == "pesq_nb" and out.results[0].metric == "pesq_nb"
    assert out.primary_reason.startswith("1 of 2 references below 16 kHz (lowest 8000 Hz)")
    assert out.summaries["pesq_nb"].n_scored == 2  # both clips on the narrow-band scale
    wb = out.summaries["pesq_wb"]  # the 8 kHz clip has no wide-band score, and says why
    assert (wb.n_scored, wb.n_items) == (1, 2)
    assert wb.failures == ("u8000: PESQ-WB: needs audio at >= 16000 Hz, got 8000 Hz",)
    wide = task.run(tok, items[:1], tmp_path / "o1", run="r", label="mulaw", tier="high")
    assert wide.primary == "pesq_wb" and wide.results[0].metric == "pesq_wb"
    assert out.metrics["pesq_wb"] == pytest.approx(wide.metrics["pesq_wb"])  # never mixed
