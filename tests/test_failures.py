"""Scores that fail on some items are reported with their item counts and reasons, items
shorter than one frame are reported instead of getting made-up tokens, and metrics that need
a missing extra say which extra to install."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import audiotokens as at
from audiotokens import extras
from audiotokens.audio import save_audio
from audiotokens.bench.cells import CellContext, encoded_only, run_head_cell
from audiotokens.bench.db import ResultsDB
from audiotokens.bench.features import ContinuousMel, TokenizerSource, encode_items
from audiotokens.bench.tasks import make_task
from audiotokens.bench.tasks.enhance import EnhanceTask
from audiotokens.bench.tasks.generative import ResynthTask
from audiotokens.bench.tasks.loop import TrainConfig
from audiotokens.data import ManifestItem, write_manifest
from audiotokens.encode import encode_manifest
from audiotokens.metrics import MetricSummary, ScoreTally, resynth_metrics
from audiotokens.testing import noisy_speechlike, write_test_corpus
from audiotokens.tokenizers.base import TokenizerError

pytestmark = pytest.mark.usefixtures("single_thread")


def test_tally_means_only_scored_items_and_keeps_reasons() -> None:
    tally = ScoreTally()
    tally.add("pesq", "a", 2.0)
    tally.add("pesq", "b", math.nan, "PESQ: too short (0.100 s < 0.25 s)")
    tally.add("pesq", "c", 4.0)
    tally.add("stoi", "a", 0.9)
    tally.add("dnsmos", "a", math.nan)
    s = tally.summaries()
    assert s["pesq"] == MetricSummary("pesq", 3.0, 2, 3, ("b: PESQ: too short (0.100 s < 0.25 s)",))
    assert s["pesq"].n_failed == 1 and s["stoi"].n_failed == 0
    assert s["pesq"].line() == "pesq=3.000 (2/3 items; 1 failed: b: PESQ: too short (0.100 s " \
                               "< 0.25 s))"
    assert s["stoi"].line() == "stoi=0.900"
    assert s["dnsmos"].line() == "dnsmos=undefined (0/1 items; 1 failed: a: undefined)"
    assert tally.means() == {"pesq": 3.0, "stoi": 0.9}  # no mean made up for dnsmos


def test_resynth_metrics_name_the_reason_per_score() -> None:
    x = noisy_speechlike(0.1, 16000, seed=1)
    m = resynth_metrics(x, x, 16000)
    assert math.isnan(m.pesq_wb) and m.reason("pesq_wb").startswith("PESQ-WB: too short")
    assert m.reason("pesq_nb").startswith("PESQ-NB: too short")
    assert m.reason("si_sdr") == "" and m.si_sdr == 120.0


@pytest.fixture
def no_extras(monkeypatch):
    for name, extra in list(extras.EXTRAS.items()):
        monkeypatch.setitem(extras.EXTRAS, name,
                            extras.Extra(extra.feature, extra.extra, ("no_such_module_x",)))


def test_missing_extras_name_what_to_install(no_extras) -> None:
    assert extras.missing("dnsmos") == ("DNSMOS (speechmos) not measured: no_such_module_x is "
                                        "not installed (pip install 'audiotokens[dnsmos]')")
    assert "audiotokens[speaker]" in ResynthTask("resynth-synth", "synthetic").unavailable()[
        "spk_sim"]
    assert set(EnhanceTask().unavailable()) == {"dnsmos"}
    assert set(make_task("tts").unavailable()) == {"dnsmos", "spk_sim"}
    with pytest.raises(TokenizerError, match=r"pip install 'audiotokens\[codecs\]'"):
        _ = at.load_tokenizer("codec2").info
    with pytest.raises(ValueError, match="known: spk_sim"):
        extras.missing("nope")


def test_installed_extras_are_not_reported() -> None:
    pytest.importorskip("pycodec2")
    assert extras.missing("codec2") is None


def test_resynth_task_reports_items_a_score_failed_on(tmp_path) -> None:
    long_ = save_audio(tmp_path / "long.wav", noisy_speechlike(2.0, 16000, seed=3), 16000)
    short = save_audio(tmp_path / "short.wav", noisy_speechlike(0.1, 16000, seed=4), 16000)
    items = [ManifestItem("long", str(long_), 2.0), ManifestItem("short", str(short), 0.1)]
    task = ResynthTask("resynth-synth", "synthetic", n_samples=0)
    out = task.run(at.load_tokenizer("mulaw"), items, tmp_path / "o", run="r", label="mulaw",
                   tier="high")
    pesq = out.summaries["pesq_wb"]
    assert (pesq.n_scored, pesq.n_items) == (1, 2)
    assert pesq.failures[0].startswith("short: PESQ-WB: too short")
    alone = task.run(at.load_tokenizer("mulaw"), items[:1], tmp_path / "o1", run="r",
                     label="mulaw", tier="high")
    assert out.metrics["pesq_wb"] == pytest.approx(alone.metrics["pesq_wb"])  # mean of 1 item
    assert pesq.line().startswith(f"pesq_wb={pesq.mean:.3f} (1/2 items; 1 failed: short: PESQ")
    assert out.summaries["si_sdr"].n_scored == 2  # defined for the short item too


@pytest.fixture(scope="module")
def mel(tmp_path_factory) -> at.Tokenizer:
    tok = at.load_tokenizer("mel-kmeans", k=4)
    tok.fit(write_test_corpus(tmp_path_factory.mktemp("c"), 3))
    return tok


def _tiny_item(folder: Path) -> ManifestItem:
    path = save_audio(folder / "tiny.wav", noisy_speechlike(0.01, 16000, seed=5), 16000)
    return ManifestItem("tiny", str(path), 0.01)


def test_encode_items_reports_items_shorter_than_one_frame(mel, tmp_path) -> None:
    ok = save_audio(tmp_path / "ok.wav", noisy_speechlike(0.5, 16000, seed=6), 16000)
    items = [ManifestItem("ok", str(ok), 0.5), _tiny_item(tmp_path)]
    source = TokenizerSource(mel)
    enc = encode_items(source, items, tmp_path / "cache")
    assert set(enc.arrays) == {"ok"} and set(enc.skipped) == {"tiny"}
    assert "shorter than one frame" in enc.skipped["tiny"] and "tiny.wav" in enc.skipped["tiny"]
    cached = encode_items(source, items, tmp_path / "cache")
    assert cached.n_encoded == 0 and cached.skipped == enc.skipped and set(cached.arrays) == {"ok"}


def test_encode_manifest_lists_items_shorter_than_one_frame_as_failed(mel, tmp_path) -> None:
    manifest = write_manifest([_tiny_item(tmp_path)], tmp_path / "m.jsonl")
    summary = encode_manifest(mel, manifest, tmp_path / "store", progress=False)
    assert summary.encoded == 0 and [i for i, _ in summary.failed] == ["tiny"]
    assert "shorter than one frame" in summary.failed[0][1]


def _emotion_items(n_speakers: int = 6, per_speaker: int = 4) -> list[ManifestItem]:
    return [ManifestItem(f"s{s}-{i}", f"s{s}-{i}.wav", 1.0, speaker=f"s{s}", label=str(i % 2))
            for s in range(n_speakers) for i in range(per_speaker)]


def test_encoded_only_drops_items_without_arrays_with_reasons() -> None:
    data = make_task("emotion").prepare(_emotion_items())
    gone = data.test[0].id
    arrays = {it.id: np.zeros((3, 2)) for it in data.items if it.id != gone}
    kept, dropped = encoded_only(data, arrays, {gone: "too short"})
    assert dropped == {gone: "too short"} and gone not in {it.id for it in kept.items}
    assert len(kept.test) == len(data.test) - 1 and gone not in kept.targets
    same, none = encoded_only(data, {**arrays, gone: np.zeros((3, 2))})
    assert same is data and none == {}


def test_head_cell_counts_test_items_left_out(tmp_path) -> None:
    task = make_task("emotion")
    data = make_task("emotion").prepare(_emotion_items())
    rng = np.random.default_rng(0)
    arrays = {it.id: rng.normal(size=(10, 80)).astype(np.float32) + data.targets[it.id]
              for it in data.items}
    gone = data.test[0].id
    del arrays[gone]
    with ResultsDB(tmp_path / "r.db") as db:
        ctx = CellContext("run", "continuous-mel", "-", db, tmp_path, "cpu", False,
                          _Quiet())
        out = run_head_cell(ctx, task, data, ContinuousMel(), arrays,
                            TrainConfig(max_steps=4, eval_every=2, batch_size=4, dim=8,
                                        hidden=8), skipped={gone: "0.010 s is too short"})
    acc = out.summaries["accuracy"]
    assert (acc.n_scored, acc.n_items) == (len(data.test) - 1, len(data.test))
    assert acc.failures == (f"{gone}: 0.010 s is too short",)
    assert any("1 failed" in line for line in ctx.console.lines)


class _Quiet:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def print(self, text: str, *args, **kwargs) -> None:
        self.lines.append(text)
