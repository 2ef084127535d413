"""Results DB: schema, atomic cells, replace/skip, reopen, errors; aggregation over seeds."""

from __future__ import annotations

import math
import sqlite3
import sys

import pytest

from audiotokens.bench.db import (
    _T95,
    SCHEMA_VERSION,
    Artifact,
    Result,
    ResultsDB,
    ResultsDBError,
    summarize,
    t_critical_95,
)


def res(tok="a", task="asr", metric="wer", value=0.5, seed=0, run="r1", tier="low",
        hib=False) -> Result:
    return Result(run, tok, tier, task, metric, value, seed, hib, wall_seconds=1.5,
                  peak_mem_mb=10.0)


def test_schema_versioned_wal_and_timestamps(tmp_path) -> None:
    path = tmp_path / "sub" / "results.db"
    db = ResultsDB(path)
    db.add_cell([res()], [Artifact("r1", "a", "asr", 0, "audio", "x", "/nope.wav")])
    assert db.schema_version() == SCHEMA_VERSION
    db.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT version FROM schema").fetchall() == [(SCHEMA_VERSION,)]
    for table in ("schema", "cells", "results", "artifacts"):
        created = conn.execute(f"SELECT created FROM {table}").fetchone()[0]
        assert created.startswith("20") and "T" in created
    conn.close()


def test_round_trip_order_filters_and_reopen(tmp_path) -> None:
    path = tmp_path / "results.db"
    a = [res("a", metric="wer", value=0.3), res("a", metric="cer", value=0.1)]
    b = [res("b", value=0.4, seed=1)]
    c = [res("a", run="r2", task="kws", metric="accuracy", value=0.9, hib=True)]
    arts = [Artifact("r1", "a", "asr", 0, "codebook_weights", "w", '{"names": ["q0"], '
                     '"weights": [1.0]}'), Artifact("r1", "a", "asr", 0, "audio", "s1", "x.wav")]
    with ResultsDB(path) as db:
        db.add_cell(a, arts)
        db.add_cell(b)
        db.add_cell(c)
    with ResultsDB(path, create=False) as db:
        assert db.results() == [*a, *b, *c]
        assert db.results("r2") == c
        assert db.results("nope") == []
        assert db.runs() == ["r1", "r2"]
        assert db.artifacts() == arts
        assert db.artifacts(kind="audio") == arts[1:]
        assert db.artifacts(run="r2") == []
        assert db.has_cell("r1", "a", "asr", 0)
        assert db.has_cell("r1", "b", "asr", 1)
        assert not db.has_cell("r1", "b", "asr", 0)
        assert not db.has_cell("r2", "a", "asr", 0)
        assert db.results("r2")[0].higher_is_better is True


def test_re_adding_a_cell_replaces_results_and_artifacts(tmp_path) -> None:
    db = ResultsDB(tmp_path / "results.db")
    db.add_cell([res(value=0.3), res(metric="cer", value=0.1)],
                [Artifact("r1", "a", "asr", 0, "audio", "old", "old.wav")])
    db.add_cell([res("b", value=0.7)])
    db.add_cell([res(value=0.2)], [Artifact("r1", "a", "asr", 0, "audio", "new", "new.wav")])
    assert [(r.tokenizer, r.metric, r.value) for r in db.results()] == [
        ("b", "wer", 0.7), ("a", "wer", 0.2)]
    assert [a.name for a in db.artifacts()] == ["new"]


def test_a_failing_cell_writes_nothing_and_keeps_the_old_one(tmp_path) -> None:
    db = ResultsDB(tmp_path / "results.db")
    db.add_cell([res(value=0.3)], [Artifact("r1", "a", "asr", 0, "audio", "s", "s.wav")])
    # the duplicate metric fails inside the transaction, after the old cell was deleted
    with pytest.raises(ResultsDBError, match="not stored"):
        db.add_cell([res(value=0.1), res(value=0.2)])
    assert [r.value for r in db.results()] == [0.3]
    assert [a.name for a in db.artifacts()] == ["s"]
    with pytest.raises(ResultsDBError, match="not stored"):
        db.add_cell([res("new", value=0.1)], [Artifact("r1", "new", "asr", 0, "audio", "s", "1"),
                                              Artifact("r1", "new", "asr", 0, "audio", "s", "2")])
    assert not db.has_cell("r1", "new", "asr", 0)
    assert len(db.results()) == 1


def test_bad_cells_are_rejected_before_writing(tmp_path) -> None:
    db = ResultsDB(tmp_path / "results.db")
    with pytest.raises(ResultsDBError, match="one cell per add_cell"):
        db.add_cell([res(seed=0), res(seed=1)])
    with pytest.raises(ResultsDBError, match="one cell per add_cell"):
        db.add_cell([res()], [Artifact("r1", "a", "kws", 0, "audio", "s", "x")])
    with pytest.raises(ResultsDBError, match="not finite"):
        db.add_cell([res(value=math.nan)])
    with pytest.raises(ResultsDBError, match="at least one"):
        db.add_cell([])
    assert db.results() == [] and db.runs() == []


def test_unusable_files_give_one_line_errors(tmp_path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all, just some bytes" * 100)
    with pytest.raises(ResultsDBError, match="junk.db: not a results database"):
        ResultsDB(junk)
    with pytest.raises(FileNotFoundError, match="missing.db"):
        ResultsDB(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()
    old = tmp_path / "old.db"
    ResultsDB(old).close()
    conn = sqlite3.connect(old)
    conn.execute("UPDATE schema SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(ResultsDBError, match=f"version 99, this audiotokens reads version "
                                             f"{SCHEMA_VERSION}"):
        ResultsDB(old)


def test_summarize_mean_std_ci() -> None:
    rows = [res(value=v, seed=s) for s, v in enumerate([1.0, 2.0, 3.0])]
    rows += [res("b", value=0.5), res("a", metric="cer", value=7.0)]
    out = summarize(rows)
    assert [(s.tokenizer, s.metric) for s in out] == [("a", "wer"), ("b", "wer"), ("a", "cer")]
    s = out[0]
    assert (s.mean, s.std, s.n, s.seeds) == (2.0, 1.0, 3, (0, 1, 2))
    assert s.ci95 == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert s.higher_is_better is False and s.wall_seconds == 1.5 and s.peak_mem_mb == 10.0
    assert (out[1].mean, out[1].std, out[1].n, out[1].ci95) == (0.5, 0.0, 1, None)
    with pytest.raises(ResultsDBError, match="higher_is_better"):
        summarize([res(hib=True), res(seed=1, hib=False)])


def test_t_table_matches_scipy_and_is_the_fallback(monkeypatch) -> None:
    stats = pytest.importorskip("scipy.stats")
    for df, value in _T95.items():
        assert value == pytest.approx(stats.t.ppf(0.975, df), abs=6e-4)
    assert t_critical_95(4) == pytest.approx(2.776445, abs=1e-6)
    monkeypatch.setitem(sys.modules, "scipy.stats", None)  # import now raises ImportError
    assert t_critical_95(2) == 4.303
    assert t_critical_95(35) == 2.042  # between rows: the smaller df (wider interval)
    assert t_critical_95(10_000) == 1.960
    with pytest.raises(ValueError, match=">= 1"):
        t_critical_95(0)


def test_cell_keys_and_boards(tmp_path) -> None:
    with ResultsDB(tmp_path / "r.db") as db:
        db.add_cell([res()], key="settings-a")
        assert db.has_cell("r1", "a", "asr", 0)
        assert db.has_cell("r1", "a", "asr", 0, key="settings-a")
        assert not db.has_cell("r1", "a", "asr", 0, key="settings-b")  # other settings
        db.add_cell([res(value=0.4)], key="settings-b")  # recomputed: replaces the cell
        assert db.has_cell("r1", "a", "asr", 0, key="settings-b")
        assert [r.value for r in db.results("r1")] == [0.4]
        db.set_board("r1", "asr", "discriminative")
        db.set_board("r1", "tts", "generative")
        db.set_board("r2", "asr", "generative")
        assert db.boards("r1") == {"asr": "discriminative", "tts": "generative"}


def test_version_1_file_is_upgraded_and_its_cells_recomputed(tmp_path) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)  # the version-1 layout: cells without a key, no tasks table
    conn.executescript(
        "CREATE TABLE schema (version INTEGER NOT NULL, created TEXT NOT NULL);"
        "INSERT INTO schema VALUES (1, '2026-01-01');"
        "CREATE TABLE cells (run TEXT NOT NULL, tokenizer TEXT NOT NULL, task TEXT NOT NULL,"
        " seed INTEGER NOT NULL, created TEXT NOT NULL, PRIMARY KEY (run, tokenizer, task, seed));"
        "INSERT INTO cells VALUES ('r1', 'a', 'asr', 0, '2026-01-01');")
    conn.close()
    with ResultsDB(path) as db:
        assert db.schema_version() == SCHEMA_VERSION == 3
        assert db.has_cell("r1", "a", "asr", 0)
        assert not db.has_cell("r1", "a", "asr", 0, key="any-settings")
        assert db.boards("r1") == {} and db.primaries("r1") == {}


def test_version_2_file_keeps_its_pesq_column_and_records_primaries(tmp_path) -> None:
    path = tmp_path / "v2.db"
    with ResultsDB(path) as db:  # a version-2 file: no primaries table, an old "pesq" column
        db.add_cell([res(task="resynth", metric="pesq", value=2.5, hib=True),
                     res(task="resynth", metric="stoi", value=0.8, hib=True)])
    conn = sqlite3.connect(path)
    conn.executescript("DROP TABLE primaries; UPDATE schema SET version = 2;")
    conn.close()
    with ResultsDB(path) as db:
        assert db.schema_version() == 3 and db.primaries("r1") == {}
        assert [(r.metric, r.value) for r in db.results("r1")] == [("pesq", 2.5), ("stoi", 0.8)]
        db.set_primary("r1", "resynth", "pesq_nb", "1 of 3 references below 16 kHz")
        db.set_primary("r1", "resynth", "pesq_wb", "all 3 references at >= 16 kHz")  # replaced
        db.set_primary("r2", "enhance", "pesq_nb")
        assert db.primaries("r1") == {"resynth": "pesq_wb"}
        assert db.primary_reasons("r1") == {"resynth": "all 3 references at >= 16 kHz"}
