"""Corpus adapters, folder scanning, splits and the `audiotokens data` manifest commands."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from audiotokens.cli import app
from audiotokens.data import (
    ManifestError,
    ManifestItem,
    assign_splits,
    folder_manifest,
    fsdd_manifest,
    hash_split,
    librispeech_manifest,
    ljspeech_manifest,
    read_manifest,
    scan_folder,
    summarize,
)

runner = CliRunner()


def _tone(seconds: float, sample_rate: int) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


# --- FSDD -----------------------------------------------------------------------------------

def test_fsdd_counts_labels_splits(fsdd_root: Path) -> None:
    items = fsdd_manifest(fsdd_root)
    assert len(items) == 3000
    assert len({it.speaker for it in items}) == 6
    assert sorted({it.label for it in items}) == [str(d) for d in range(10)]
    assert Counter(it.split for it in items) == {"train": 2400, "valid": 300, "test": 300}
    by_id = {it.id: it for it in items}
    it = by_id["7_george_3"]
    assert (it.label, it.text, it.speaker, it.split) == ("7", "seven", "george", "test")
    assert by_id["7_george_7"].split == "valid" and by_id["7_george_27"].split == "train"
    # durations match the header and the reference labels.csv
    ref = {}
    for line in (fsdd_root / "labels.csv").read_text().splitlines()[1:]:
        cols = line.split(",")
        ref[Path(cols[0]).stem] = float(cols[-1])
    assert max(abs(by_id[k].duration - v) for k, v in ref.items()) < 1e-3
    assert Path(it.path).is_file() and Path(it.path).is_absolute()
    # no speaker/take leaks: a (speaker, digit, take) lives in exactly one split
    assert len({it.id for it in items}) == 3000


def test_fsdd_wrong_layout(tmp_path: Path) -> None:
    (tmp_path / "recordings").mkdir()
    (tmp_path / "recordings" / "hello.wav").write_bytes(b"x")
    with pytest.raises(ManifestError, match="no FSDD recordings") as err:
        fsdd_manifest(tmp_path)
    assert str(tmp_path) in str(err.value)
    with pytest.raises(ManifestError, match="not a folder"):
        fsdd_manifest(tmp_path / "missing")


# --- LibriSpeech ----------------------------------------------------------------------------

def test_librispeech_shared_copy(librispeech_root: Path) -> None:
    items = librispeech_manifest(librispeech_root)
    assert len(items) == 100
    assert len({it.speaker for it in items}) == 10
    assert all(it.text is None for it in items)  # no *.trans.txt in the shared copy
    assert {it.split for it in items} == {"train", "valid", "test"}
    assert sum(it.duration for it in items) / 60 == pytest.approx(12.8, abs=0.1)
    assert all(it.id.startswith(it.speaker + "-") for it in items)
    assert items == librispeech_manifest(librispeech_root)  # deterministic


def test_librispeech_held_out_speakers(librispeech_root: Path) -> None:
    items = librispeech_manifest(librispeech_root, held_out_speakers=["1688", "367"])
    test_speakers = {it.speaker for it in items if it.split == "test"}
    train_speakers = {it.speaker for it in items if it.split == "train"}
    assert test_speakers == {"1688", "367"}
    assert not test_speakers & train_speakers
    with pytest.raises(ValueError, match="not in the corpus"):
        librispeech_manifest(librispeech_root, held_out_speakers=["9999"])


def test_librispeech_transcripts_and_official_split(tmp_path: Path) -> None:
    chapter = tmp_path / "LibriSpeech" / "dev-clean" / "84" / "121123"
    chapter.mkdir(parents=True)
    for utt in range(3):
        sf.write(str(chapter / f"84-121123-{utt:04d}.flac"), _tone(0.5 + utt, 16000), 16000)
    (chapter / "84-121123.trans.txt").write_text(
        "84-121123-0000 GO DO YOU HEAR\n84-121123-0001 BUT IN LESS THAN FIVE MINUTES\n")
    items = librispeech_manifest(tmp_path)
    assert [it.text for it in items] == ["GO DO YOU HEAR", "BUT IN LESS THAN FIVE MINUTES", None]
    assert [it.duration for it in items] == pytest.approx([0.5, 1.5, 2.5])
    assert {it.split for it in items} == {"valid"}
    assert {it.speaker for it in items} == {"84"}


# --- LJSpeech -------------------------------------------------------------------------------

def test_ljspeech_shared_copy(ljspeech_root: Path) -> None:
    items = ljspeech_manifest(ljspeech_root)
    assert len(items) == 32
    assert {it.speaker for it in items} == {"LJ"}
    assert all(it.text for it in items)
    assert {it.split for it in items} <= {"train", "valid", "test"}
    assert sum(it.duration for it in items) / 60 == pytest.approx(3.7, abs=0.1)
    by_id = {it.id: it for it in items}
    assert by_id["LJ001-0002"].text == "in being comparatively modern."


def test_ljspeech_upstream_layout(tmp_path: Path) -> None:
    (tmp_path / "wavs").mkdir()
    for utt in ("LJ001-0001", "LJ001-0002"):
        sf.write(str(tmp_path / "wavs" / f"{utt}.wav"), _tone(1.0, 22050), 22050)
    (tmp_path / "metadata.csv").write_text(
        "LJ001-0001|Printing, in 1455|Printing, in fourteen fifty-five\n", encoding="utf-8")
    items = ljspeech_manifest(tmp_path)
    assert [it.text for it in items] == ["Printing, in fourteen fifty-five", None]
    assert items[0].duration == pytest.approx(1.0)
    with pytest.raises(ManifestError, match="no LJSpeech layout"):
        ljspeech_manifest(tmp_path / "wavs")


# --- folder ---------------------------------------------------------------------------------

def _mixed_folder(root: Path) -> None:
    (root / "süb dir" / "深い").mkdir(parents=True)
    sf.write(str(root / "a.wav"), _tone(1.0, 16000), 16000)
    sf.write(str(root / "a.flac"), _tone(0.5, 8000), 8000)
    sf.write(str(root / "süb dir" / "héllo wörld.ogg"), _tone(2.0, 24000), 24000)
    sf.write(str(root / "süb dir" / "深い" / "音声 1.wav"), _tone(0.25, 22050), 22050)
    (root / "notes.txt").write_text("not audio, ignored")
    (root / "broken.wav").write_text("a text file renamed .wav")
    (root / "empty.mp3").write_bytes(b"")


def test_folder_mixed_names_and_formats(tmp_path: Path) -> None:
    _mixed_folder(tmp_path)
    scan = scan_folder(tmp_path)
    ids = [it.id for it in scan.items]
    assert ids == sorted(ids)
    assert set(ids) == {"a.wav", "a.flac", "süb dir/héllo wörld.ogg", "süb dir/深い/音声 1.wav"}
    dur = {it.id: it.duration for it in scan.items}
    assert dur["a.flac"] == pytest.approx(0.5) and dur["süb dir/深い/音声 1.wav"] == (
        pytest.approx(0.25, abs=1e-4))
    assert {Path(s.path).name for s in scan.skipped} == {"broken.wav", "empty.mp3"}
    assert all(s.reason for s in scan.skipped)
    top = scan_folder(tmp_path, recursive=False)
    assert {it.id for it in top.items} == {"a.wav", "a.flac"}
    with pytest.warns(UserWarning, match="skipped 2"):
        assert [it.id for it in folder_manifest(tmp_path)] == ids


def test_folder_errors(tmp_path: Path) -> None:
    (tmp_path / "only.txt").write_text("x")
    with pytest.raises(ManifestError, match="no readable audio"):
        folder_manifest(tmp_path)
    with pytest.raises(ManifestError, match="not a folder"):
        folder_manifest(tmp_path / "only.txt")


# --- splits and summary ---------------------------------------------------------------------

def test_hash_split_is_stable_and_proportional() -> None:
    ids = [f"utt{i}" for i in range(4000)]
    splits = Counter(hash_split(i, valid_fraction=0.1, test_fraction=0.2) for i in ids)
    assert splits["test"] / 4000 == pytest.approx(0.2, abs=0.03)
    assert splits["valid"] / 4000 == pytest.approx(0.1, abs=0.03)
    assert [hash_split(i) for i in ids[:50]] == [hash_split(i) for i in ids[:50]]
    assert hash_split("x", seed=0) == hash_split("x", seed=0)
    with pytest.raises(ValueError, match="sum to < 1"):
        hash_split("x", valid_fraction=0.6, test_fraction=0.5)


def test_assign_splits_by_speaker() -> None:
    items = [ManifestItem(id=f"{s}_{i}", path="x.wav", duration=1.0, speaker=s)
             for s in "abcd" for i in range(20)]
    out = assign_splits(items, held_out_speakers={"c"})
    assert {it.speaker for it in out if it.split == "test"} == {"c"}
    assert "c" not in {it.speaker for it in out if it.split != "test"}
    s = summarize(out)
    assert (s.n_items, s.n_speakers, s.seconds) == (80, 4, 80.0)
    assert s.splits["test"] == 20 and sum(s.splits.values()) == 80


# --- CLI ------------------------------------------------------------------------------------

def test_cli_fsdd(fsdd_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "m" / "fsdd.jsonl"
    result = runner.invoke(app, ["data", "fsdd", str(fsdd_root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "3000 items" in result.output and "6 speakers" in result.output
    items = read_manifest(out)
    assert len(items) == 3000 and Path(items[0].path).is_file()
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert not Path(first["path"]).is_absolute()  # relative to the manifest's folder


def test_cli_folder_reports_skipped(tmp_path: Path) -> None:
    root = tmp_path / "audio"
    root.mkdir()
    _mixed_folder(root)
    out = root / "manifest.jsonl"
    result = runner.invoke(app, ["data", "folder", str(root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 items" in result.output and "skipped 2" in result.output
    assert "broken.wav" in result.output
    assert len(read_manifest(out)) == 4
    skipped = (root / "manifest.jsonl.skipped.tsv").read_text(encoding="utf-8").splitlines()
    assert len(skipped) == 2 and all("\t" in line for line in skipped)


def test_cli_ljspeech_and_librispeech(ljspeech_root: Path, librispeech_root: Path,
                                      tmp_path: Path) -> None:
    out = tmp_path / "lj.jsonl"
    result = runner.invoke(app, ["data", "ljspeech", str(ljspeech_root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "32 items" in result.output and len(read_manifest(out)) == 32
    out = tmp_path / "ls.jsonl"
    result = runner.invoke(app, ["data", "librispeech", str(librispeech_root), "--out", str(out),
                                 "--held-out-speakers", "1688"])
    assert result.exit_code == 0, result.output
    assert {it.speaker for it in read_manifest(out, split="test")} == {"1688"}
    result = runner.invoke(app, ["data", "librispeech", str(librispeech_root), "--out", str(out),
                                 "--held-out-speakers", "nobody"])
    assert result.exit_code != 0


def test_cli_bad_root_is_one_line_error(tmp_path: Path) -> None:
    from audiotokens.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["data", "fsdd", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.jsonl")])
    assert exit_info.value.code == 2
