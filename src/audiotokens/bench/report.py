"""One self-contained HTML report from a results database.

Everything is inline (CSS, PNG plots as data URIs, audio as ``data:audio/...`` URIs): the file
makes no network request and can be mailed or archived as is. Per run it shows the leaderboard
(overall and per bitrate tier, see :mod:`.ranking`), one table per task (mean ± 95 % CI when
several seeds), bitrate-vs-quality plots, codebook-weight bars, costs and audio players.

Audio artifacts hold a path; a relative path is looked up from the working directory, then
from the database's folder. A missing or unreadable file becomes a note in the page.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .cost import COST_TASK
from .db import Artifact, CellSummary, Result, ResultsDB, summarize
from .findings import Finding
from .html_page import Page as _Page
from .html_page import escape as _e
from .html_page import fmt as _fmt
from .html_page import table as _table
from .ranking import Leaderboard, RankedScore, Ranking, rank_results
from .report_grid import grid_section
from .study_grid import latest_layer_study

__all__ = ["ReportSummary", "render_report", "write_report", "MAX_AUDIO_BYTES"]

MAX_AUDIO_BYTES = 20 * 2**20
_AUDIO_MIME = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg",
               ".mp3": "audio/mpeg"}
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;padding:0 1rem;color:#222}
h1{font-size:1.6rem}h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;margin-top:2.5rem}
table{border-collapse:collapse;margin:.6rem 0 1.4rem;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}
th{background:#f3f3f3}td.name,th.name{text-align:left}
tr:nth-child(even) td{background:#fafafa}
.note{color:#8a5a00;background:#fff6e0;padding:.3rem .6rem;border-left:3px solid #e0a000}
.muted{color:#777}figure{margin:.8rem 0}figcaption{font-size:.85rem;color:#555}
img{max-width:100%}
.scroll{overflow-x:auto;max-width:100%}
.chance{color:#8a5a00;font-size:.8em;white-space:nowrap}
ul.findings li{margin:.2rem 0}
"""
_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images-loaded", ok + "/" + imgs.length);
  document.body.setAttribute("data-width", document.documentElement.scrollWidth + "/" +
                             window.innerWidth);
});
"""


@dataclass(frozen=True)
class ReportSummary:
    """What :func:`write_report` wrote: the file, the runs, and counts of its parts."""

    path: Path
    runs: tuple[str, ...]
    n_results: int
    n_images: int
    n_audio: int
    notes: tuple[str, ...]


def _score(s: RankedScore | None) -> str:
    """A leaderboard cell: mean (± CI) and rank, flagged when at chance."""
    if s is None:
        return '<span class="muted">–</span>'
    ci = "" if s.ci95 is None else f" ± {_fmt(s.ci95)}"
    flag = ' <span class="chance">at chance</span>' if s.at_chance else ""
    return f"{_fmt(s.value)}{ci} (#{s.rank}){flag}"


def _leaderboard(page: _Page, board: Leaderboard, title: str) -> None:
    page.add(f"<h4>{_e(title)}</h4>")
    header = ["#", "tokenizer", "tier", "mean rank", "tasks",
              *(f"{_e(t.task)} ({_e(t.metric)} {'↑' if t.higher_is_better else '↓'})"
                for t in board.tasks)]
    rows = [["–" if r.position is None else str(r.position), _e(r.tokenizer),
             _e(r.bitrate_tier), _fmt(r.mean_rank), _e(r.coverage),
             *(_score(t.score((r.tokenizer, r.bitrate_tier))) for t in board.tasks)]
            for r in board.rows]
    _table(page, f"leaderboard board-{_e(board.board)} scope-{_e(board.scope)}", header, rows,
           name_cols=3)


def _cell(s: CellSummary | None) -> str:
    """One table cell: the mean (± 95 % CI over seeds), or "–" when there is no value."""
    if s is None:
        return "–"
    if s.ci95 is None:
        return _fmt(s.mean)
    return f'{_fmt(s.mean)} ± {_fmt(s.ci95)} <span class="muted">(n={s.n})</span>'


def _findings(page: _Page, ranking: Ranking, training: list[Artifact]) -> None:
    """What the run found, in plain words: the best entry per board, which per-task leads
    the CIs separate, which results are at chance, and heads that hit the step budget."""
    lines = []
    for name, board in ranking.boards.items():
        best = [r for r in board.ranked if r.position == 1]
        if best:
            who = " and ".join(f"<b>{_e(r.tokenizer)}</b> ({_e(r.bitrate_tier)})" for r in best)
            unranked = ", ".join(_e(r.tokenizer) for r in board.incomplete) or "none"
            lines.append(f"{_e(name)} board: best {who}, mean rank {_fmt(best[0].mean_rank)} "
                         f"over {len(board.tasks)} task(s); not ranked (a task missing): "
                         f"{unranked}.")
        else:
            lines.append(f"{_e(name)} board: no entry has all {len(board.tasks)} tasks, so "
                         "none is ranked; see the per-task ranks.")
        for t in board.tasks:
            top = [s for s in t.scores if s.rank == 1]
            if len(t.scores) < 2:
                continue
            names = ", ".join(_e(s.tokenizer) for s in top)
            if len(top) == 1 and min(s.n for s in t.scores) < 2:
                lines.append(f"{_e(t.task)}: {names} leads ({_e(t.metric)} "
                             f"{_fmt(top[0].value)}), but with one seed there is no CI to say "
                             "whether the lead is real.")
            elif len(top) == 1:
                lines.append(f"{_e(t.task)}: {names} leads, and its 95 % CI separates it from "
                             f"every other entry ({_e(t.metric)} {_fmt(top[0].value)}).")
            else:
                lines.append(f"{_e(t.task)}: {names} share the lead; their CIs overlap, so "
                             "the data do not tell them apart.")
    chance = [f"{_e(s.tokenizer)} on {_e(t.task)}" for b in ranking.boards.values()
              for t in b.tasks for s in t.scores if s.at_chance]
    lines.append(f"at chance (CI reaches the trivial predictor): {', '.join(chance)}." if chance
                 else "no result is at chance.")
    stops = [json.loads(a.payload).get("stopped") for a in training]
    budget = sum(x == "budget" for x in stops)
    if stops:
        lines.append(f"{len(stops) - budget} of {len(stops)} heads converged (validation "
                     f"metric stopped improving); {budget} stopped at the step budget.")
    page.add("<h3>Findings</h3><ul class=\"findings\">"
             + "".join(f"<li>{x}</li>" for x in lines) + "</ul>")


def _claims(page: _Page, ranking: Ranking, families: Mapping[str, str],
            study: tuple[str, Ranking] | None = None,
            measured: Sequence[Finding] = ()) -> None:
    """The seed's claims with their verdicts, computed from this run (see :mod:`.findings`);
    the number-of-clusters claim from ``study``, a layer x k study of the same DB, when this
    run is none; the clustering-data and init claims from ``measured`` (the DB's studies)."""
    from .findings import seed_findings

    page.add("<h3>The seed's claims, checked on this run</h3>")
    if not families:
        page.add('<p class="muted">no tokenizer families recorded: claims not checked.</p>')
        return
    rows = [[_e(f.claim), f"<b>{_e(f.verdict)}</b>", _e(f.evidence)]
            for f in seed_findings(ranking, families, study, measured)]
    _table(page, "claims", ["claim", "verdict", "evidence"], rows, name_cols=3)
    n = min((s.n for b in ranking.boards.values() for t in b.tasks for s in t.scores),
            default=0)
    page.add(f'<p class="muted">Scale of the evidence: this run\'s corpora and heads (see the '
             f"task tables), at least {n} seed(s) per cell. A claim "
             "<em>holds</em> when the first group's best entry is better beyond the 95 % CIs "
             "on more than half the tasks compared, <em>does not hold</em> when it is worse on "
             "at least half, else it is <em>inconclusive</em>.</p>")


def _language_note(page: _Page, streams: list[Artifact]) -> None:
    """What the language board measures, and the token stream behind each entry."""
    seen: dict[str, str] = {}
    for a in streams:
        try:
            d = json.loads(a.payload)
            seen.setdefault(a.tokenizer, f"{d['stream']} ({d['codebooks']} codebook(s), "
                            f"{_fmt(d.get('tokens_per_second'))} tokens/s)")
        except (ValueError, KeyError, TypeError):
            continue
    listed = "; ".join(f"{_e(k)}: {_e(v)}" for k, v in seen.items())
    page.add('<p class="muted">language board (<code>audiotokens llm probe</code>): '
             "<em>lm-bits</em> is the test split's total NLL under a tiny LSTM LM, in bits "
             "per second of audio (comparable across frame rates, layouts, dedup and BPE; "
             "with dedup the run lengths are not coded). Low bits/s alone is not quality (a "
             "stream that carries nothing costs nothing): read it with <em>lm-swuggy</em>, "
             "the share of spoken word / one-phone pseudo-word pairs whose word gets the "
             "higher total log-probability (chance 0.5)."
             + (f" Streams: {listed}." if listed else "") + "</p>")


def _board_of(ranking: Ranking, task: str) -> Leaderboard | None:
    return next((b for b in ranking.boards.values() if any(t.task == task for t in b.tasks)),
                None)


def _payloads(artifacts: list[Artifact]) -> dict[tuple[str, str], list[dict]]:
    """(tokenizer, task) -> the parsed JSON artifacts (``training``, ``scoring``) of its
    seeds."""
    out: dict[tuple[str, str], list[dict]] = {}
    for a in artifacts:
        try:
            out.setdefault((a.tokenizer, a.task), []).append(json.loads(a.payload))
        except ValueError:
            continue
    return out


def _stop_text(runs: list[dict]) -> str:
    """"converged 3/3" or "budget 1/3, converged 2/3" (heads of one tokenizer and task)."""
    if not runs:
        return '<span class="muted">–</span>'
    counts: dict[str, int] = {}
    for run in runs:
        counts[str(run.get("stopped"))] = counts.get(str(run.get("stopped")), 0) + 1
    return ", ".join(f"{_e(k)} {v}/{len(runs)}" for k, v in sorted(counts.items()))


def _partial(scoring: dict[tuple[str, str], list[dict]], tok: str, task: str, metric: str
             ) -> str:
    """" (4/6 items)" when some seeds' items had no score for ``metric``, else ""."""
    counts = [p["metrics"][metric] for p in scoring.get((tok, task), [])
              if metric in p.get("metrics", {})]
    scored, tried = sum(c["n_scored"] for c in counts), sum(c["n_items"] for c in counts)
    return f' <span class="chance">({scored}/{tried} items)</span>' if scored < tried else ""


def _scoring_notes(page: _Page, scoring: dict[tuple[str, str], list[dict]], task: str) -> None:
    """Why items had no score, and metrics an uninstalled extra would add (per tokenizer)."""
    for (tok, name), payloads in scoring.items():
        if name != task:
            continue
        reasons = sorted({f for p in payloads for m in p.get("metrics", {}).values()
                          for f in m.get("failures", [])})
        if reasons:
            more = f" (+{len(reasons) - 5} more)" if len(reasons) > 5 else ""
            page.note(f"{tok} / {task}: items without a score: {'; '.join(reasons[:5])}{more}")
        for message in sorted({m for p in payloads for m in p.get("unavailable", {}).values()}):
            page.note(f"{tok} / {task}: {message}")


def _task_tables(page: _Page, results: list[Result], ranking: Ranking,
                 training: list[Artifact], scoring_artifacts: list[Artifact],
                 recorded: Mapping[str, tuple[str, str]]) -> None:
    """One table per task (★ its primary metric; ``recorded``: task -> (the primary metric
    it chose for its data, why), printed under the table when that metric is ranked)."""
    summaries = summarize(results)
    stops = _payloads(training)
    scoring = _payloads(scoring_artifacts)
    for task in [*ranking.primary, *([COST_TASK] if any(r.task == COST_TASK for r in results)
                                     else [])]:
        rows_of = [s for s in summaries if s.task == task]
        metrics = list(dict.fromkeys(s.metric for s in rows_of))
        entries = list(dict.fromkeys((s.tokenizer, s.bitrate_tier) for s in rows_of))
        board = _board_of(ranking, task)
        order = {(s.tokenizer, s.bitrate_tier): s.rank for t in (board.tasks if board else ())
                 if t.task == task for s in t.scores}
        entries.sort(key=lambda e: (order.get(e, float("inf")), e))
        by_key = {(s.tokenizer, s.bitrate_tier, s.metric): s for s in rows_of}
        trained = any(e[0] == tok and t == task for e in entries for tok, t in stops)
        # "<metric>@<reference>" values (enhancement, TTS, chance levels) get their own table
        groups = [(task, [m for m in metrics if "@" not in m]),
                  (f"{task}: references", [m for m in metrics if "@" in m])]
        for title, names in groups:
            if not names:
                continue
            header = ["tokenizer", "tier"]
            for m in names:
                s0 = next(s for s in rows_of if s.metric == m)
                star = " ★" if ranking.primary.get(task) == m else ""
                header.append(f"{_e(m)} {'↑' if s0.higher_is_better else '↓'}{star}")
            extra = trained and title == task
            rows = [[_e(e[0]), _e(e[1]), *(_cell(by_key.get((*e, m))) +
                                           _partial(scoring, e[0], task, m) for m in names),
                     *([_stop_text(stops.get((e[0], task), []))] if extra else [])]
                    for e in entries]
            for r in board.rows if board else ():  # entries without the task: shown
                if task in r.missing:
                    rows.append([_e(r.tokenizer), _e(r.bitrate_tier),
                                 *(['<span class="muted">not measured</span>'] * len(names)),
                                 *(["–"] if extra else [])])
            page.add(f"<h4>{_e(title)}</h4>")
            _table(page, f"task task-{_e(task)}", [*header, *(["head stopped"] if extra
                                                             else [])], rows, name_cols=2)
        metric, why = recorded.get(task, ("", ""))
        if why and ranking.primary.get(task) == metric:
            page.note(f"{task}: ranked on {metric} ({why})")
        _scoring_notes(page, scoring, task)
        _curves(page, task, {k[0]: v for k, v in stops.items() if k[1] == task})
    page.add('<p class="muted">★ primary metric (ranked); ↑ higher is better, ↓ lower is '
             "better; ± is the 95 % Student-t confidence half-width over seeds; "
             "<em>@chance</em>: a trivial predictor (majority class, blank transcript, copying "
             "the input); <em>head stopped</em>: <em>converged</em> when the validation metric "
             "stopped improving for the patience, <em>budget</em> when the step cap came "
             "first; <em>not measured</em>: no result for that tokenizer (e.g. no decoder for "
             "a generative task).</p>")


def _curves(page: _Page, task: str, runs: dict[str, list[dict]]) -> None:
    """The validation curves of ``task``'s heads (one line per tokenizer and seed)."""
    from .report_plots import validation_curves

    series = {}
    for tok, payloads in runs.items():
        lines = []
        for p in payloads:
            metric = p.get("metric", "")
            points = [(float(c["step"]), float(c[metric])) for c in p.get("curve", [])
                      if metric in c and "step" in c]
            if points:
                lines.append(points)
        if lines:
            series[tok] = lines
    if series:
        first = next(iter(runs.values()))[0]
        page.image(validation_curves(task, str(first.get("metric")),
                                     bool(first.get("higher_is_better", True)), series),
                   f"validation curves for {task}")


def _scatter(page: _Page, results: list[Result], ranking: Ranking) -> None:
    from .report_plots import ScatterPoint, bitrate_scatter

    bitrate = {(s.tokenizer, s.bitrate_tier): s.mean for s in summarize(
        r for r in results if r.task == COST_TASK and r.metric == "bitrate_bps")}
    if not bitrate:
        page.note("no bitrate recorded (task 'cost', metric 'bitrate_bps'): no scatter plots")
        return
    for t in (t for b in ranking.boards.values() for t in b.tasks):
        points = [ScatterPoint(s.tokenizer, s.bitrate_tier, bitrate[key], s.value)
                  for s in t.scores if (key := (s.tokenizer, s.bitrate_tier)) in bitrate]
        if points:
            page.image(bitrate_scatter(t.task, t.metric, t.higher_is_better, points),
                       f"bitrate vs {t.metric} for {t.task}")


def _weights(page: _Page, artifacts: list[Artifact]) -> None:
    from .report_plots import weight_bars

    by_task: dict[str, dict[str, list[tuple[list[str], list[float]]]]] = {}
    for a in artifacts:
        try:
            data = json.loads(a.payload)
            names, weights = [str(n) for n in data["names"]], [float(w) for w in data["weights"]]
            if len(names) != len(weights) or not names:
                raise ValueError("names and weights differ in length or are empty")
        except (ValueError, KeyError, TypeError) as err:
            page.note(f"codebook weights of {a.tokenizer}/{a.task} (seed {a.seed}) unreadable: "
                      f"{err}")
            continue
        by_task.setdefault(a.task, {}).setdefault(a.tokenizer, []).append((names, weights))
    if not by_task:
        page.add('<p class="muted">no codebook weights recorded.</p>')
    for task, per_tok in by_task.items():
        series = {}
        for tok, runs in per_tok.items():  # mean over seeds with the same codebook names
            names = runs[0][0]
            same = [w for n, w in runs if n == names]
            series[tok] = (names, [sum(col) / len(same) for col in zip(*same, strict=True)])
        page.image(weight_bars(task, series), f"codebook weights for {task}")


def _cost(page: _Page, results: list[Result]) -> None:
    from .report_plots import cost_bars

    rows = [s for s in summarize(r for r in results if r.task == COST_TASK)]
    if not rows:
        page.add('<p class="muted">no cost measured.</p>')
        return
    metrics: dict[str, dict[str, float]] = {}
    for s in rows:
        metrics.setdefault(s.metric, {})[f"{s.tokenizer} [{s.bitrate_tier}]"] = s.mean
    page.image(cost_bars(metrics), "cost per tokenizer")


def _audio(page: _Page, artifacts: list[Artifact], db_dir: Path) -> None:
    if not artifacts:
        page.add('<p class="muted">no audio samples recorded.</p>')
    for a in artifacts:
        caption = f"{a.tokenizer} · {a.task} · {a.name} (seed {a.seed})"
        path = Path(a.payload)
        if not path.is_absolute() and not path.is_file():
            path = db_dir / path
        mime = _AUDIO_MIME.get(path.suffix.lower())
        try:
            if mime is None:
                raise ValueError(f"unsupported audio type '{path.suffix}' "
                                 f"(one of {', '.join(_AUDIO_MIME)})")
            if path.stat().st_size > MAX_AUDIO_BYTES:
                raise ValueError(f"larger than {MAX_AUDIO_BYTES // 2**20} MiB")
            data = path.read_bytes()
        except (OSError, ValueError) as err:
            reason = "file not found" if isinstance(err, FileNotFoundError) else str(err)
            page.note(f"audio {caption}: {a.payload}: {reason}")
            continue
        uri = f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
        page.n_audio += 1
        page.add(f'<figure class="audio"><figcaption>{_e(caption)}</figcaption>'
                 f'<audio controls preload="metadata" src="{uri}"></audio></figure>')


def _run_section(page: _Page, db: ResultsDB, run: str, primary: Mapping[str, str] | None,
                 study: tuple[str, Ranking] | None = None,
                 measured: Sequence[Finding] = ()) -> int:
    results = db.results(run)
    artifacts = db.artifacts(run)
    # the primary metric a task recorded for its data (pesq_wb / pesq_nb), unless declared
    ranking = rank_results(results, {**db.primaries(run), **(primary or {})},
                           boards=db.boards(run))
    training = [a for a in artifacts if a.kind == "training"]
    page.add(f'<section class="run" id="run-{_e(run)}"><h2>Run {_e(run)}</h2>')
    _findings(page, ranking, training)
    _claims(page, ranking, db.families(run), study, measured)
    grid_section(page, ranking)
    page.add("<h3>Leaderboards</h3>")
    if ranking.boards:
        page.add('<p class="muted">One board per kind of task (as in DASB), each ranked only on '
                 "its own tasks. On a task, entries whose 95 % CIs overlap share a rank; an "
                 "entry that lacks a task of its board (no decoder, unsupported, failed) is "
                 "listed with its coverage and not ranked.</p>")
        for name, board in ranking.boards.items():
            _leaderboard(page, board, f"{name}: all tiers")
            for tier, tier_board in ranking.tiers[name].items():
                _leaderboard(page, tier_board, f"{name}: tier {tier}")
        if "language" in ranking.boards:
            _language_note(page, [a for a in artifacts if a.kind == "lm_stream"])
    else:
        page.add('<p class="muted">no quality tasks recorded yet.</p>')
    page.add("<h3>Tasks</h3>")
    _task_tables(page, results, ranking, training,
                 [a for a in artifacts if a.kind == "scoring"],
                 {t: (m, db.primary_reasons(run)[t]) for t, m in db.primaries(run).items()})
    page.add("<h3>Bitrate vs quality</h3>")
    _scatter(page, results, ranking)
    page.add("<h3>Codebook weights</h3>")
    _weights(page, [a for a in artifacts if a.kind == "codebook_weights"])
    page.add("<h3>Cost</h3>")
    _cost(page, results)
    page.add("<h3>Audio samples</h3>")
    _audio(page, [a for a in artifacts if a.kind == "audio"], db.path.parent)
    page.add("</section>")
    return len(results)


def _render(db: ResultsDB, run: str | None,
            primary: Mapping[str, str] | None) -> tuple[str, ReportSummary]:
    runs = db.runs()
    if run is not None:
        if run not in runs:
            raise ValueError(f"{db.path}: no run '{run}'; runs: {', '.join(runs) or 'none'}")
        runs = [run]
    page = _Page()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page.add(f"<h1>audiotokens benchmark report</h1><p class=\"muted\">{_e(db.path.name)} · "
             f"{len(runs)} run(s) · generated {stamp}</p>")
    if not runs:
        page.note(f"{db.path}: the database holds no results yet")
    study = latest_layer_study(db)
    measured = _study_findings(db)
    n_results = sum(_run_section(page, db, r, primary, study, measured) for r in runs)
    doc = ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
           '<meta name="viewport" content="width=device-width, initial-scale=1">'
           f"<title>audiotokens report: {_e(db.path.name)}</title><style>{_CSS}</style></head>"
           f'<body data-images-loaded="pending">{"".join(page.parts)}'
           f"<script>{_SCRIPT}</script></body></html>\n")
    summary = ReportSummary(Path(), tuple(runs), n_results, page.n_images, page.n_audio,
                            tuple(page.notes))
    return doc, summary


def _study_findings(db: ResultsDB) -> list[Finding]:
    """The findings of the latest clustering-data and init studies in ``db`` (none when it
    has no such study)."""
    from .study_data import data_finding, domain_pairs, latest_data_study
    from .study_init import compare_init_runs, init_finding, latest_init_study

    found = []
    data = latest_data_study(db)
    if data is not None:
        found.append(data_finding(domain_pairs(db, data[1])[1], f"data study {data[0]}"))
    init = latest_init_study(db)
    if init is not None:
        found.append(init_finding(compare_init_runs(db, init[1]), f"init study {init[0]}"))
    return found


def render_report(db: ResultsDB, run: str | None = None,
                  primary: Mapping[str, str] | None = None) -> str:
    """The report as one HTML string (all runs, or only ``run``)."""
    return _render(db, run, primary)[0]


def write_report(db: ResultsDB | str | Path, out: str | Path, run: str | None = None,
                 primary: Mapping[str, str] | None = None) -> ReportSummary:
    """Write the HTML report for ``db`` (an open DB or a path to one) to ``out`` atomically."""
    from ..tokenizers.persist import atomic_write_bytes

    owned = not isinstance(db, ResultsDB)
    handle = ResultsDB(db, create=False) if owned else db
    try:
        doc, summary = _render(handle, run, primary)
    finally:
        if owned:
            handle.close()
    path = Path(out)
    atomic_write_bytes(path, doc.encode("utf-8"))
    path.chmod(0o644)  # the temp file was private (0600); a report is meant to be shared
    return ReportSummary(path, summary.runs, summary.n_results, summary.n_images,
                         summary.n_audio, summary.notes)
