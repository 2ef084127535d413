"""The benchmark's results database (one SQLite file) and aggregation over seeds.

A *cell* is one (run, tokenizer, task, seed): the runner computes it, then stores all its
metric values and artifacts with :meth:`ResultsDB.add_cell` in one transaction, so a crashed
run never leaves half a cell behind and a re-run can skip cells with :meth:`ResultsDB.has_cell`.

Schema (version :data:`SCHEMA_VERSION`, recorded in the ``schema`` table):
``cells`` (run, tokenizer, task, seed, key, created: ``key`` hashes every setting that made
the cell, so a re-run with other settings recomputes it), ``results`` (one row per metric of
a cell), ``artifacts`` (codebook weights and training curves as JSON, paths to audio
samples, ...), ``tasks`` (per run and task: its leaderboard, "discriminative" or
"generative"), ``families`` (per run and tokenizer: "semantic", "codec", "sample" or
"continuous"), ``primaries`` (per run and task: the primary metric the task chose for its
data, e.g. ``pesq_wb`` or ``pesq_nb``, and why; the ranking uses it unless told otherwise).
Older files are upgraded in place: version 1 cells get an empty key (so the runner
recomputes them); a version-2 file gets the empty ``primaries`` table, and its tasks keep
ranking on their first recorded metric (an old ``pesq`` column stays as it was).
``created`` columns are UTC ISO-8601 timestamps. The file runs in WAL mode so readers do
not block the runner.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

__all__ = [
    "SCHEMA_VERSION",
    "Result",
    "Artifact",
    "CellSummary",
    "ResultsDB",
    "ResultsDBError",
    "summarize",
    "t_critical_95",
]

SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema (version INTEGER NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    run TEXT NOT NULL, tokenizer TEXT NOT NULL, task TEXT NOT NULL, seed INTEGER NOT NULL,
    created TEXT NOT NULL, key TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run, tokenizer, task, seed));
CREATE TABLE IF NOT EXISTS tasks (
    run TEXT NOT NULL, task TEXT NOT NULL, board TEXT NOT NULL, PRIMARY KEY (run, task));
CREATE TABLE IF NOT EXISTS primaries (
    run TEXT NOT NULL, task TEXT NOT NULL, metric TEXT NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY (run, task));
CREATE TABLE IF NOT EXISTS families (
    run TEXT NOT NULL, tokenizer TEXT NOT NULL, family TEXT NOT NULL,
    PRIMARY KEY (run, tokenizer));
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run TEXT NOT NULL, tokenizer TEXT NOT NULL, bitrate_tier TEXT NOT NULL, task TEXT NOT NULL,
    metric TEXT NOT NULL, value REAL NOT NULL, seed INTEGER NOT NULL,
    higher_is_better INTEGER NOT NULL, wall_seconds REAL NOT NULL, peak_mem_mb REAL NOT NULL,
    created TEXT NOT NULL, UNIQUE (run, tokenizer, task, seed, metric));
CREATE TABLE IF NOT EXISTS artifacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run TEXT NOT NULL, tokenizer TEXT NOT NULL, task TEXT NOT NULL, seed INTEGER NOT NULL,
    kind TEXT NOT NULL, name TEXT NOT NULL, payload TEXT NOT NULL, created TEXT NOT NULL,
    UNIQUE (run, tokenizer, task, seed, kind, name));
CREATE INDEX IF NOT EXISTS results_run ON results (run);
CREATE INDEX IF NOT EXISTS artifacts_run ON artifacts (run, kind);
"""

_RESULT_COLS = ("run, tokenizer, bitrate_tier, task, metric, value, seed, higher_is_better, "
                "wall_seconds, peak_mem_mb")
_ARTIFACT_COLS = "run, tokenizer, task, seed, kind, name, payload"


class ResultsDBError(ValueError):
    """The results file cannot be used (not SQLite, other schema version, bad cell)."""


@dataclass(frozen=True)
class Result:
    """One metric value of one cell. ``value`` is finite; ``wall_seconds`` is the cell's time,
    ``peak_mem_mb`` its peak memory in MiB (0.0 when not measured)."""

    run: str
    tokenizer: str
    bitrate_tier: str
    task: str
    metric: str
    value: float
    seed: int
    higher_is_better: bool
    wall_seconds: float = 0.0
    peak_mem_mb: float = 0.0

    @property
    def cell(self) -> tuple[str, str, str, int]:
        """(run, tokenizer, task, seed)."""
        return (self.run, self.tokenizer, self.task, self.seed)


@dataclass(frozen=True)
class Artifact:
    """Something a cell produced besides numbers. ``kind`` "codebook_weights": ``payload`` is
    JSON ``{"names": [...], "weights": [...]}``; kind "audio": ``payload`` is a path to a wav."""

    run: str
    tokenizer: str
    task: str
    seed: int
    kind: str
    name: str
    payload: str

    @property
    def cell(self) -> tuple[str, str, str, int]:
        """(run, tokenizer, task, seed)."""
        return (self.run, self.tokenizer, self.task, self.seed)


@dataclass(frozen=True)
class CellSummary:
    """One metric of one (run, tokenizer, tier, task) aggregated over seeds.

    ``std`` is the sample standard deviation (ddof=1; 0.0 when n=1); ``ci95`` is the half-width
    of the 95 % Student-t confidence interval of the mean (None when n=1).
    """

    run: str
    tokenizer: str
    bitrate_tier: str
    task: str
    metric: str
    higher_is_better: bool
    mean: float
    std: float
    n: int
    ci95: float | None
    seeds: tuple[int, ...]
    wall_seconds: float
    peak_mem_mb: float


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ResultsDB:
    """A results SQLite file. ``create=False`` opens an existing file only (for reports)."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: results database not found")
        if self.path.is_dir():
            raise ResultsDBError(f"{self.path}: is a directory, not a results database")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
        try:
            self._init_schema()
        except sqlite3.DatabaseError as err:
            self._conn.close()
            raise ResultsDBError(f"{self.path}: not a results database ({err})") from None

    def _init_schema(self) -> None:
        conn = self._conn
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            row = conn.execute("SELECT version FROM schema").fetchone()
            if row is None:
                conn.execute("INSERT INTO schema VALUES (?, ?)", (SCHEMA_VERSION, _now()))
            elif row[0] in (1, 2):  # 2 added cells.key and tasks, 3 primaries (made above)
                if row[0] == 1:
                    conn.execute("ALTER TABLE cells ADD COLUMN key TEXT NOT NULL DEFAULT ''")
                conn.execute("UPDATE schema SET version = ?", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise ResultsDBError(
                    f"{self.path}: results schema version {row[0]}, this audiotokens reads "
                    f"version {SCHEMA_VERSION}; write a new results file"
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # -- writing ----------------------------------------------------------------------------
    def add_cell(self, results: list[Result], artifacts: Sequence[Artifact] = (),
                 key: str = "") -> None:
        """Store one cell's results + artifacts atomically; an existing cell is replaced.

        All items must share one (run, tokenizer, task, seed); values must be finite. ``key``
        identifies the settings that made the cell (see :meth:`has_cell`).
        """
        if not results:
            raise ResultsDBError("add_cell needs at least one Result")
        cell = results[0].cell
        for item in [*results, *artifacts]:
            if item.cell != cell:
                raise ResultsDBError(f"one cell per add_cell: got {item.cell} and {cell}")
        for r in results:
            if not math.isfinite(float(r.value)):
                raise ResultsDBError(f"{r.tokenizer}/{r.task}/{r.metric}: value {r.value} "
                                     "is not finite")
        now = _now()
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            where = "run = ? AND tokenizer = ? AND task = ? AND seed = ?"
            for table in ("cells", "results", "artifacts"):
                conn.execute(f"DELETE FROM {table} WHERE {where}", cell)
            conn.execute("INSERT INTO cells (run, tokenizer, task, seed, created, key) "
                         "VALUES (?, ?, ?, ?, ?, ?)", (*cell, now, key))
            conn.executemany(
                f"INSERT INTO results ({_RESULT_COLS}, created) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.run, r.tokenizer, r.bitrate_tier, r.task, r.metric, float(r.value),
                  int(r.seed), int(bool(r.higher_is_better)), float(r.wall_seconds),
                  float(r.peak_mem_mb), now) for r in results],
            )
            conn.executemany(
                f"INSERT INTO artifacts ({_ARTIFACT_COLS}, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(a.run, a.tokenizer, a.task, int(a.seed), a.kind, a.name, a.payload, now)
                 for a in artifacts],
            )
            conn.execute("COMMIT")
        except sqlite3.IntegrityError as err:
            conn.execute("ROLLBACK")
            raise ResultsDBError(f"{self.path}: cell {cell} not stored ({err})") from None
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- reading ----------------------------------------------------------------------------
    def has_cell(self, run: str, tokenizer: str, task: str, seed: int,
                 key: str | None = None) -> bool:
        """True when this (run, tokenizer, task, seed) was stored (with ``key``, when given:
        a cell made with other settings does not count)."""
        row = self._conn.execute(
            "SELECT key FROM cells WHERE run = ? AND tokenizer = ? AND task = ? AND seed = ?",
            (run, tokenizer, task, int(seed)),
        ).fetchone()
        return row is not None and (key is None or row[0] == key)

    def set_board(self, run: str, task: str, board: str) -> None:
        """Record the leaderboard ("discriminative" / "generative") of ``task`` in ``run``."""
        self._conn.execute("INSERT OR REPLACE INTO tasks VALUES (?, ?, ?)", (run, task, board))

    def set_primary(self, run: str, task: str, metric: str, reason: str = "") -> None:
        """Record the primary metric ``task`` chose for its data in ``run`` (and why)."""
        self._conn.execute("INSERT OR REPLACE INTO primaries VALUES (?, ?, ?, ?)",
                           (run, task, metric, reason))

    def primaries(self, run: str) -> dict[str, str]:
        """task -> primary metric recorded for ``run`` (tasks that recorded none are absent)."""
        rows = self._conn.execute("SELECT task, metric FROM primaries WHERE run = ?", (run,))
        return dict(rows.fetchall())

    def primary_reasons(self, run: str) -> dict[str, str]:
        """task -> why its recorded primary metric was chosen (for the report)."""
        rows = self._conn.execute("SELECT task, reason FROM primaries WHERE run = ?", (run,))
        return dict(rows.fetchall())

    def set_family(self, run: str, tokenizer: str, family: str) -> None:
        """Record the family of ``tokenizer`` in ``run`` (its ``TokenizerInfo.kind``)."""
        self._conn.execute("INSERT OR REPLACE INTO families VALUES (?, ?, ?)",
                           (run, tokenizer, family))

    def families(self, run: str) -> dict[str, str]:
        """tokenizer -> family recorded for ``run``."""
        rows = self._conn.execute("SELECT tokenizer, family FROM families WHERE run = ?", (run,))
        return dict(rows.fetchall())

    def boards(self, run: str) -> dict[str, str]:
        """task -> leaderboard recorded for ``run``."""
        rows = self._conn.execute("SELECT task, board FROM tasks WHERE run = ?", (run,))
        return dict(rows.fetchall())

    def results(self, run: str | None = None) -> list[Result]:
        """All results (of one run), in the order they were recorded."""
        where, args = ("WHERE run = ?", (run,)) if run is not None else ("", ())
        rows = self._conn.execute(
            f"SELECT {_RESULT_COLS} FROM results {where} ORDER BY id", args
        ).fetchall()
        return [Result(*row[:7], bool(row[7]), *row[8:]) for row in rows]

    def artifacts(self, run: str | None = None, kind: str | None = None) -> list[Artifact]:
        """Artifacts, optionally of one run and/or one kind, in the order they were recorded."""
        clauses, args = [], []
        for column, value in (("run", run), ("kind", kind)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self._conn.execute(
            f"SELECT {_ARTIFACT_COLS} FROM artifacts {where} ORDER BY id", args
        ).fetchall()
        return [Artifact(*row) for row in rows]

    def runs(self) -> list[str]:
        """Run names, in the order their first cell was stored."""
        rows = self._conn.execute(
            "SELECT run FROM cells GROUP BY run ORDER BY MIN(created), MIN(rowid)"
        ).fetchall()
        return [r[0] for r in rows]

    def schema_version(self) -> int:
        """The file's schema version."""
        return int(self._conn.execute("SELECT version FROM schema").fetchone()[0])

    def close(self) -> None:
        """Close the connection (the object is unusable afterwards)."""
        self._conn.close()

    def __enter__(self) -> ResultsDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- aggregation over seeds ------------------------------------------------------------------
# Two-sided 95 % Student-t critical values t_{0.975, df}; between rows the smaller df is used
# (a slightly wider, conservative interval).
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120,
        17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064,
        25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000,
        120: 1.980}


def t_critical_95(df: int) -> float:
    """t_{0.975, df} (scipy when installed, else the table above; df >= 1)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    try:
        from scipy.stats import t as student_t
    except ImportError:
        return _T95[max(k for k in _T95 if k <= df)] if df <= 120 else 1.960
    return float(student_t.ppf(0.975, df))


def summarize(results: Iterable[Result]) -> list[CellSummary]:
    """Mean, std, n and 95 % CI over seeds for each (run, tokenizer, tier, task, metric).

    Groups keep the order in which they first appear in ``results``.
    """
    groups: dict[tuple[str, str, str, str, str], list[Result]] = {}
    for r in results:
        groups.setdefault((r.run, r.tokenizer, r.bitrate_tier, r.task, r.metric), []).append(r)
    out = []
    for (run, tok, tier, task, metric), rs in groups.items():
        directions = {r.higher_is_better for r in rs}
        if len(directions) > 1:
            raise ResultsDBError(f"{tok}/{task}/{metric}: seeds disagree on higher_is_better")
        values = [float(r.value) for r in rs]
        n = len(values)
        mean = math.fsum(values) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
        ci = t_critical_95(n - 1) * std / math.sqrt(n) if n > 1 else None
        out.append(CellSummary(
            run=run, tokenizer=tok, bitrate_tier=tier, task=task, metric=metric,
            higher_is_better=directions.pop(), mean=mean, std=std, n=n, ci95=ci,
            seeds=tuple(sorted(r.seed for r in rs)),
            wall_seconds=math.fsum(r.wall_seconds for r in rs) / n,
            peak_mem_mb=max(r.peak_mem_mb for r in rs),
        ))
    return out
