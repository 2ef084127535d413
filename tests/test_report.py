"""HTML report: structure, inline data only, notes instead of crashes, CLI, headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from audiotokens.audio import save_audio
from audiotokens.bench.cost import speech_like_signal
from audiotokens.bench.db import Artifact, Result, ResultsDB
from audiotokens.bench.report import render_report, write_report
from audiotokens.cli import main

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def r(tok, tier, task, metric, value, hib, seed=0) -> Result:
    return Result("r1", tok, tier, task, metric, value, seed, hib, 2.0, 50.0)


def real_wav(tmp_path: Path) -> Path:
    """A short real FSDD recording if ../shared/data has it, else the speech-like signal."""
    from conftest import SHARED_DATA

    src = SHARED_DATA / "fsdd" / "recordings" / "3_jackson_0.wav"
    dst = tmp_path / "sample.wav"
    if src.is_file():
        shutil.copy(src, dst)
        return dst
    return save_audio(dst, speech_like_signal(0.5, 8000), 8000)


def build_db(tmp_path: Path) -> Path:
    path = tmp_path / "results.db"
    weights = {"names": ["layer1", "layer7", "layer12"], "weights": [0.2, 0.5, 0.3]}
    with ResultsDB(path) as db:
        for seed, (wer, cer) in enumerate([(0.20, 0.07), (0.30, 0.09)]):  # seed 1: again below
            db.add_cell([r("A", "low", "asr", "wer", wer, False, seed),
                         r("A", "low", "asr", "cer", cer, False, seed)],
                        [Artifact("r1", "A", "asr", seed, "codebook_weights", "w",
                                  json.dumps(weights))])
        db.add_cell([r("B", "low", "asr", "wer", 0.25, False),
                     r("B", "low", "asr", "cer", 0.05, False)],
                    [Artifact("r1", "B", "asr", 0, "codebook_weights", "w",
                              json.dumps({"names": ["q0", "q1"], "weights": [0.9, 0.1]})),
                     Artifact("r1", "B", "asr", 0, "codebook_weights", "bad", "{not json")])
        db.add_cell([r("C", "high", "asr", "wer", 0.10, False),
                     r("C", "high", "asr", "cer", 0.06, False)])
        db.add_cell([r("D", "high", "asr", "wer", 0.40, False),
                     r("D", "high", "asr", "cer", 0.01, False)])
        db.add_cell([r("A", "low", "kws", "accuracy", 0.9, True)])
        db.add_cell([r("C", "high", "kws", "accuracy", 0.8, True)])
        db.add_cell([r("C", "high", "tts", "dnsmos", 3.5, True)],
                    [Artifact("r1", "C", "tts", 0, "audio", "digit three", str(real_wav(tmp_path))),
                     Artifact("r1", "C", "tts", 0, "audio", "lost", str(tmp_path / "gone.wav"))])
        for tok, tier, bps in [("A", "low", 1000.0), ("B", "low", 1500.0), ("C", "high", 6000.0),
                               ("D", "high", 24000.0)]:
            db.add_cell([r(tok, tier, "cost", "bitrate_bps", bps, False),
                         r(tok, tier, "cost", "encode_seconds_per_16s", bps / 1e4, False)])
        # a task with many reference metrics: a table wider than the page
        db.add_cell([r("C", "high", "tts", "dnsmos", 3.5, True, seed=1),
                     *(r("C", "high", "tts", f"metric_number_{k}@reference_{k}", 0.5, True, 1)
                       for k in range(16))])
        curve = {"stopped": "converged", "steps": 150, "best_step": 50, "patience": 2,
                 "eval_every": 50, "metric": "wer", "higher_is_better": False,
                 "curve": [{"step": 50.0, "loss": 2.0, "wer": 0.3},
                           {"step": 100.0, "loss": 1.0, "wer": 0.35},
                           {"step": 150.0, "loss": 0.5, "wer": 0.4}]}
        db.add_cell([r("A", "low", "asr", "wer", 0.30, False, 1),
                     r("A", "low", "asr", "cer", 0.09, False, 1)],
                    [Artifact("r1", "A", "asr", 1, "training", "training", json.dumps(curve))])
        for task, board in (("asr", "discriminative"), ("kws", "discriminative"),
                            ("tts", "generative")):
            db.set_board("r1", task, board)
        for tok, family in (("A", "semantic"), ("B", "semantic"), ("C", "codec"),
                            ("D", "codec")):
            db.set_family("r1", tok, family)
        db.add_cell([Result("r2", "Z", "low", "asr", "wer", 0.5, 0, False)])
        db.set_board("r2", "asr", "discriminative")
    return path


class Parsed(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.imgs: list[str] = []
        self.audio: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs) -> None:
        a = dict(attrs)
        if tag == "table":
            self.tables.append({"class": a.get("class", ""), "rows": []})
        elif tag == "tr":
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.imgs.append(a["src"])
        elif tag == "audio":
            self.audio.append(a["src"])

    def handle_data(self, data) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag) -> None:
        if tag in ("td", "th"):
            self.tables[-1]["rows"][-1].append("".join(self._cell).strip())
            self._cell = None


def parse(text: str) -> Parsed:
    p = Parsed()
    p.feed(text)
    return p


def test_report_structure_and_inline_data(tmp_path) -> None:
    from PIL import Image

    summary = write_report(build_db(tmp_path), tmp_path / "out" / "report.html", run="r1")
    text = summary.path.read_text()
    assert summary.runs == ("r1",) and summary.n_results == 38
    assert not re.search(r"https?://", text, re.IGNORECASE)
    page = parse(text)
    boards = [t for t in page.tables if t["class"].startswith("leaderboard")]
    assert [t["class"] for t in boards] == [
        "leaderboard board-discriminative scope-all", "leaderboard board-discriminative "
        "scope-high", "leaderboard board-discriminative scope-low",
        "leaderboard board-generative scope-all", "leaderboard board-generative scope-high",
        "leaderboard board-generative scope-low"]
    disc = boards[0]["rows"]
    assert disc[0] == ["#", "tokenizer", "tier", "mean rank", "tasks", "asr (wer ↓)",
                       "kws (accuracy ↑)"]
    # asr: A's 2-seed CI (0.25 ± 0.635) overlaps everyone: all share rank 1.
    # kws: A 1, C 2. A and C have both tasks; B and D lack kws: listed, not ranked.
    assert [row[:5] for row in disc[1:]] == [["1", "A", "low", "1", "2/2"],
                                             ["2", "C", "high", "1.5", "2/2"],
                                             ["–", "B", "low", "–", "1/2"],
                                             ["–", "D", "high", "–", "1/2"]]
    assert re.fullmatch(r"0\.25 ± 0\.6353 \(#1\)", disc[1][5])
    assert disc[2][6] == "0.8 (#2)" and disc[3][6] == "–"
    gen = boards[3]["rows"]  # tts: only C; A, B, D have no generative result
    assert [row[:5] for row in gen[1:]] == [["1", "C", "high", "1", "1/1"],
                                            ["–", "A", "low", "–", "0/1"],
                                            ["–", "B", "low", "–", "0/1"],
                                            ["–", "D", "high", "–", "0/1"]]
    findings = text.split("<h3>Findings</h3>")[1].split("</ul>")[0]
    assert "discriminative board: best <b>A</b> (low)" in findings
    assert "not ranked (a task missing): B, D." in findings
    assert "asr: C, A, B, D share the lead; their CIs overlap" in findings
    assert "kws: A leads (accuracy 0.9), but with one seed there is no CI" in findings
    assert "1 of 1 heads converged" in findings
    claims = next(t for t in page.tables if t["class"] == "claims")["rows"]
    assert len(claims) == 7 and claims[0] == ["claim", "verdict", "evidence"]
    # semantic (A, B) vs codec (C, D) on asr and kws: one seed for most entries -> no CI
    assert claims[1][0].startswith("Semantic tokens beat") and claims[1][1] == "inconclusive"
    assert [row[1] for row in claims[4:]] == ["not measured"] * 3
    asr = next(t for t in page.tables if t["class"] == "task task-asr")["rows"]
    assert asr[0] == ["tokenizer", "tier", "wer ↓ ★", "cer ↓", "head stopped"]
    assert asr[1][:3] == ["A", "low", "0.25 ± 0.6353 (n=2)"] and asr[1][4] == "converged 1/1"
    tts = next(t for t in page.tables if t["class"] == "task task-tts")["rows"]
    assert [row[0] for row in tts[1:]] == ["C", "A", "B", "D"]  # A, B, D shown, not dropped
    assert tts[2][2] == tts[3][2] == "not measured"
    assert '<div class="scroll"><table class="task task-tts"' in text
    assert any(t["class"] == "task task-cost" for t in page.tables)
    # scatter per task (3) + asr validation curves (1) + weights for asr (1) + cost bars (1)
    assert summary.n_images == len(page.imgs) == 6
    for src in page.imgs:
        assert src.startswith("data:image/png;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert image.format == "PNG" and image.size[0] > 100 and image.size[1] > 100
    assert summary.n_audio == len(page.audio) == 1
    audio = base64.b64decode(page.audio[0].split(",", 1)[1])
    assert page.audio[0].startswith("data:audio/wav;base64,") and audio[:4] == b"RIFF"
    assert any("gone.wav: file not found" in n for n in summary.notes)
    assert any("B/asr (seed 0) unreadable" in n for n in summary.notes)
    assert "gone.wav: file not found" in text


def test_all_runs_and_empty_db(tmp_path) -> None:
    with ResultsDB(build_db(tmp_path), create=False) as db:
        text = render_report(db)
        assert 'id="run-r1"' in text and 'id="run-r2"' in text
        with pytest.raises(ValueError, match="no run 'r9'; runs: r1, r2"):
            render_report(db, run="r9")
    with ResultsDB(tmp_path / "empty.db") as empty:
        text = render_report(empty)
    assert "holds no results yet" in text and "<table" not in text


def test_cli_report(tmp_path, capsys) -> None:
    db = build_db(tmp_path)
    out = tmp_path / "cli.html"
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(db), "--out", str(out), "--run", "r1", "--primary", "asr=cer"])
    assert exit_info.value.code == 0
    assert "wrote" in capsys.readouterr().out
    disc = next(t for t in parse(out.read_text()).tables
                if t["class"] == "leaderboard board-discriminative scope-all")["rows"]
    # asr ranked on cer: A's 2-seed CI (0.08 ± 0.127) overlaps every other entry
    assert disc[0][5] == "asr (cer ↓)"
    assert [(row[1], row[5]) for row in disc[1:]] == [
        ("A", "0.08 ± 0.1271 (#1)"), ("C", "0.06 (#1)"), ("B", "0.05 (#1)"), ("D", "0.01 (#1)")]
    for argv, message in [
        (["report", str(tmp_path / "none.db")], "none.db: results database not found"),
        (["report", str(db), "--run", "r9"], "no run 'r9'"),
        (["report", str(db), "--primary", "asr=mos"], "no metric 'mos'"),
        (["report", str(db), "--primary", "asr"], "expected TASK=METRIC"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main([*argv, "--out", str(tmp_path / "x.html")])
        assert exit_info.value.code == 2, argv
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


def test_report_renders_in_headless_chromium(tmp_path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    summary = write_report(build_db(tmp_path), tmp_path / "report.html", run="r1")
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
           "--window-size=1280,900", "--virtual-time-budget=5000", "--dump-dom",
           summary.path.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = parse(proc.stdout)
    disc = next(t for t in dom.tables
                if t["class"] == "leaderboard board-discriminative scope-all")["rows"]
    assert [row[1] for row in disc[1:]] == ["A", "C", "B", "D"]
    assert len(dom.imgs) == 6 and all(s.startswith("data:image/png") for s in dom.imgs)
    assert len(dom.audio) == 1
    # the page's script counts images that decoded (naturalWidth > 0) once loaded, and
    # whether the page fits the 1280 px window (the 18-column tts table scrolls in its box)
    assert re.search(r'data-images-loaded="6/6"', proc.stdout), proc.stdout[:300]
    width = re.search(r'data-width="(\d+)/(\d+)"', proc.stdout)
    assert width is not None, proc.stdout[:300]
    assert int(width.group(2)) == 1280 and int(width.group(1)) <= int(width.group(2))


def test_reference_metrics_get_their_own_table(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    with ResultsDB(path) as db:
        for tok, pesq in (("A", 1.4), ("B", 1.2)):
            db.add_cell([r(tok, "medium", "enhance", "pesq", pesq, True),
                         r(tok, "medium", "enhance", "stoi", 0.5, True),
                         r(tok, "medium", "enhance", "pesq@noisy", 1.9, True),
                         r(tok, "medium", "enhance", "pesq@clean_tokens", 2.5, True)])
    with ResultsDB(path) as db:
        page = render_report(db)
    titles = re.findall(r"<h4>([^<]+)</h4>", page)
    assert titles.index("enhance") + 1 == titles.index("enhance: references")
    main_table = page.split("<h4>enhance</h4>")[1].split("<h4>")[0]
    refs_table = page.split("<h4>enhance: references</h4>")[1].split("<h4>")[0]
    assert "pesq ↑ ★" in main_table and "stoi" in main_table and "@" not in main_table
    assert "pesq@noisy" in refs_table and "pesq@clean_tokens" in refs_table
    assert "1.9" in refs_table and "stoi" not in refs_table


def test_partly_scored_metrics_show_their_counts_and_reasons(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    scoring = {"metrics": {"pesq": {"n_scored": 4, "n_items": 6,
                                    "failures": ["u1: PESQ: no utterance detected",
                                                 "u2: shorter than one frame"]},
                           "stoi": {"n_scored": 6, "n_items": 6, "failures": []}},
               "unavailable": {"spk_sim": "speaker similarity (resemblyzer) not measured: "
                                          "resemblyzer is not installed"}}
    with ResultsDB(path) as db:
        db.add_cell([r("A", "medium", "resynth-synth", "pesq", 1.4, True),
                     r("A", "medium", "resynth-synth", "stoi", 0.5, True)],
                    [Artifact("r1", "A", "resynth-synth", 0, "scoring", "scoring",
                              json.dumps(scoring))])
        page = render_report(db)
    table = next(t for t in parse(page).tables if t["class"] == "task task-resynth-synth")
    assert table["rows"][1][2:] == ["1.4 (4/6 items)", "0.5"]
    assert "A / resynth-synth: items without a score: u1: PESQ: no utterance detected; " \
           "u2: shorter than one frame" in page
    assert "resemblyzer is not installed" in page


def test_the_recorded_primary_pesq_is_starred_and_explained(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    with ResultsDB(path) as db:  # recorded wide-band first, but the run chose narrow-band
        for tok, wb, nb in (("A", 1.4, 2.9), ("B", 1.6, 2.1)):
            db.add_cell([r(tok, "medium", "resynth-synth", "pesq_wb", wb, True),
                         r(tok, "medium", "resynth-synth", "pesq_nb", nb, True)])
        db.set_primary("r1", "resynth-synth", "pesq_nb",
                       "1 of 6 references below 16 kHz (lowest 8000 Hz): narrow-band PESQ")
        page = render_report(db)
    table = next(t for t in parse(page).tables if t["class"] == "task task-resynth-synth")
    assert "pesq_nb ↑ ★" in page and "pesq_wb ↑ ★" not in page
    assert [row[0] for row in table["rows"][1:]] == ["A", "B"]  # ranked on pesq_nb
    assert "resynth-synth: ranked on pesq_nb (1 of 6 references below 16 kHz" in page
    with ResultsDB(path) as db:
        declared = render_report(db, primary={"resynth-synth": "pesq_wb"})
    assert "pesq_wb ↑ ★" in declared and "ranked on pesq_nb" not in declared
