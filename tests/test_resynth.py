"""``audiotokens resynth`` on real speech with mu-law and Codec2, and its error paths."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import audiotokens as at
from audiotokens.audio import save_audio
from audiotokens.cli import main
from audiotokens.data.manifest import ManifestItem, read_manifest, write_manifest
from audiotokens.resynth import resynthesize


@pytest.fixture
def manifest(tmp_path, librispeech_root, fsdd_root) -> Path:
    flacs = sorted((librispeech_root / "audio_data").rglob("*.flac"))
    short = sorted(flacs, key=lambda p: sf.info(str(p)).frames)[:2]  # the two shortest
    paths = [*short, fsdd_root / "recordings" / "7_nicolas_2.wav"]
    items = [ManifestItem(id=f"spk/{p.stem}", path=str(p), duration=sf.info(str(p)).duration)
             for p in paths]
    return write_manifest(items, tmp_path / "m.jsonl")


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def test_resynth_cli_with_mulaw_writes_audio_and_tables(manifest, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert _run(["resynth", "mulaw", "--manifest", str(manifest), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mean" in printed and "128,000 bps" in printed
    wavs = sorted((out / "audio").glob("*.wav"))
    assert len(wavs) == 3 and all(sf.info(str(w)).samplerate == 16000 for w in wavs)
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [r["id"] for r in rows][-2:] == ["mean", "scored"] and len(rows) == 5
    assert rows[-1]["pesq_nb"] == "3/3" and rows[-1]["pesq_wb"] == "2/3"
    report = json.loads((out / "metrics.json").read_text())
    assert report["scored"]["pesq_nb"] == {"n_scored": 3, "n_items": 3, "failures": []}
    assert report["bitrate_bps"] == 128000 and len(report["items"]) == 3
    mean = report["mean"]
    assert mean["pesq_wb"] > 3.5 and mean["pesq_nb"] > 3.5
    assert mean["stoi"] > 0.95 and mean["si_sdr"] > 25
    fsdd_row = next(it for it in report["items"] if "nicolas" in it["id"])
    assert fsdd_row["metric_rate"] == 8000  # the 8 kHz file is scored at its own rate
    assert fsdd_row["pesq_wb"] is None and fsdd_row["pesq_nb"] > 3.0  # narrow-band only
    assert report["scored"]["pesq_wb"]["failures"] == [
        f"{fsdd_row['id']}: PESQ-WB: needs audio at >= 16000 Hz, got 8000 Hz"]
    wide = [it["pesq_wb"] for it in report["items"] if it["id"] != fsdd_row["id"]]
    assert mean["pesq_wb"] == pytest.approx(float(np.mean(wide)))  # not mixed with nb
    decoded = at.load_audio(wavs[0]).samples
    assert np.abs(decoded).max() > 0.01


def test_resynth_api_with_codec2_and_limit(manifest, tmp_path) -> None:
    from audiotokens.resynth import resynth_manifest

    tok = at.load_tokenizer("codec2", mode="3200")
    seen = []
    report = resynth_manifest(tok, manifest, tmp_path / "c2", limit=2, on_item=seen.append)
    assert len(report.items) == 2 and seen == report.items
    assert report.bitrate_bps == 3200 and report.sample_rate == 8000
    for item in report.items:
        assert item.metric_rate == 8000 and item.metrics.stoi > 0.5
        assert Path(item.out_path).is_file()


class _NoDecoder(at.Tokenizer):
    name = "nodecoder"

    @property
    def info(self) -> at.TokenizerInfo:
        return at.TokenizerInfo(self.name, "semantic", 16000, 50.0, (100,))

    def encode(self, samples, sample_rate):  # pragma: no cover - never reached
        raise AssertionError("resynth must refuse before encoding")


def test_tokenizer_without_decoder_is_a_one_line_error(manifest, tmp_path, monkeypatch,
                                                       capsys) -> None:
    with pytest.raises(at.NoDecoderError, match="has no decoder"):
        resynthesize(_NoDecoder(None), [], tmp_path / "x")
    monkeypatch.setattr("audiotokens.tokenizers.registry.load_tokenizer",
                        lambda name, **kw: _NoDecoder(None))
    code = _run(["resynth", "nodecoder", "--manifest", str(manifest), "--out",
                 str(tmp_path / "y")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "has no decoder" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "y").exists()


def test_resynth_cli_bad_inputs(tmp_path, manifest, capsys) -> None:
    assert _run(["resynth", "mulaw", "--manifest", str(tmp_path / "nope.jsonl"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "manifest not found" in capsys.readouterr().err
    assert _run(["resynth", "codec2", "--manifest", str(manifest), "--out",
                 str(tmp_path / "o"), "--option", "mode=999"]) == 2
    assert "700C" in capsys.readouterr().err


def test_a_score_failing_on_some_items_reports_count_and_reasons(manifest, tmp_path,
                                                                 capsys) -> None:
    items = read_manifest(manifest)
    clip = at.load_audio(items[0].path)
    short = save_audio(tmp_path / "short.wav", clip.samples[: clip.sample_rate // 10],
                          clip.sample_rate)  # 0.1 s: under PESQ's 0.25 s
    items.append(ManifestItem(id="short", path=str(short), duration=0.1))
    both = write_manifest(items, tmp_path / "with_short.jsonl")
    assert _run(["resynth", "mulaw", "--manifest", str(both), "--out", str(tmp_path / "o")]) == 0
    printed = capsys.readouterr().out
    assert "pesq_nb=" in printed
    assert "(3/4 items; 1 failed: short: PESQ-NB: too short" in printed
    report = json.loads((tmp_path / "o" / "metrics.json").read_text())
    nb = report["scored"]["pesq_nb"]
    assert nb["n_scored"] == 3 and nb["n_items"] == 4
    assert nb["failures"][0].startswith("short: PESQ-NB: too short")
    assert report["scored"]["stoi"]["n_items"] == 4
    full = [it["pesq_nb"] for it in report["items"] if it["id"] != "short"]
    assert report["mean"]["pesq_nb"] == pytest.approx(float(np.mean(full)))


class _Hop1600(at.Tokenizer):
    """One frame per 0.1 s (floor): audio shorter than that has no frame."""

    name = "hop1600"

    @property
    def info(self) -> at.TokenizerInfo:
        return at.TokenizerInfo(self.name, "codec", 16000, 10.0, (4,), has_decoder=True)

    def encode(self, samples, sample_rate):
        return at.Tokens(np.zeros((len(samples) // 1600, 1), dtype=np.int64), self.info)

    def decode(self, tokens):  # pragma: no cover - the short item must not be decoded
        if tokens.n_frames == 0:
            raise AssertionError("decoded made-up frames")
        return np.zeros(tokens.n_frames * 1600, dtype=np.float32)


def test_an_item_shorter_than_one_frame_is_reported_not_decoded(tmp_path) -> None:
    wav = save_audio(tmp_path / "tiny.wav", np.full(800, 0.1, dtype=np.float32), 16000)
    report = resynthesize(_Hop1600(None), [ManifestItem("tiny", str(wav), 0.05)],
                          tmp_path / "out")
    (item,) = report.items
    assert item.n_frames == 0 and item.out_path == ""
    assert "shorter than one frame" in item.metrics.notes[0]
    assert report.summaries["pesq_wb"].n_scored == 0
    assert report.summaries["pesq_wb"].n_items == 1
    assert "tiny: " in report.summaries["stoi"].failures[0]
