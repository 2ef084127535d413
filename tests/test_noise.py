"""Noisy speech for enhancement: coloured noise, babble, SNR mixing, noisy corpora, pairs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiotokens.audio import load_audio, save_audio
from audiotokens.data import ManifestItem, read_manifest
from audiotokens.data.manifest import ManifestError
from audiotokens.data.noise import (
    NoiseConfig,
    babble_noise,
    coloured_noise,
    make_noisy_corpus,
    mix_at_snr,
    paired_manifest,
)
from audiotokens.testing import noisy_speechlike


def _slope(noise: np.ndarray) -> float:
    """Log-log slope of the power spectrum between 50 Hz and 4 kHz (at 16 kHz)."""
    power = np.abs(np.fft.rfft(noise)) ** 2
    freqs = np.fft.rfftfreq(len(noise), 1 / 16000)
    band = (freqs > 50) & (freqs < 4000)
    return float(np.polyfit(np.log(freqs[band]), np.log(power[band]), 1)[0])


@pytest.mark.parametrize(("kind", "slope"), [("white", 0.0), ("pink", -1.0), ("brown", -2.0)])
def test_coloured_noise_has_its_spectral_slope_and_unit_rms(kind: str, slope: float) -> None:
    x = coloured_noise(kind, 64000, np.random.default_rng(0))
    assert x.dtype == np.float32 and x.shape == (64000,)
    assert np.sqrt(np.mean(x.astype(np.float64) ** 2)) == pytest.approx(1.0, rel=1e-4)
    assert _slope(x) == pytest.approx(slope, abs=0.15)


def test_coloured_noise_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="white"):
        coloured_noise("purple", 100, np.random.default_rng(0))


@pytest.mark.parametrize("snr", [-5.0, 0.0, 10.0])
def test_mix_at_snr_hits_the_snr(snr: float) -> None:
    clean = 0.1 * noisy_speechlike(1.0, seed=1)
    noise = coloured_noise("pink", len(clean), np.random.default_rng(2))
    mix = mix_at_snr(clean, noise, snr)
    residual = mix.astype(np.float64) - clean
    measured = 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(residual ** 2))
    assert measured == pytest.approx(snr, abs=0.05)


def test_mix_scales_a_clipping_mixture_down_as_a_whole() -> None:
    clean = 0.9 * np.sin(np.linspace(0, 200, 8000)).astype(np.float32)
    mix = mix_at_snr(clean, coloured_noise("white", 8000, np.random.default_rng(0)), 0.0)
    assert np.max(np.abs(mix)) == pytest.approx(0.99, abs=1e-4)
    with pytest.raises(ValueError, match="silent"):
        mix_at_snr(np.zeros(10, np.float32), np.ones(10, np.float32), 0.0)
    with pytest.raises(ValueError, match="differ in shape"):
        mix_at_snr(clean, clean[:10], 0.0)


def test_babble_loops_talkers_to_length() -> None:
    talkers = [noisy_speechlike(0.3, seed=s) for s in (1, 2, 3)]
    b = babble_noise(talkers, 16000, np.random.default_rng(0))
    assert b.shape == (16000,) and np.isfinite(b).all()
    assert np.sqrt(np.mean(b.astype(np.float64) ** 2)) == pytest.approx(1.0, rel=1e-4)


def _clean_items(root: Path, n_speakers: int = 3, per_speaker: int = 2) -> list[ManifestItem]:
    items = []
    for s in range(n_speakers):
        for u in range(per_speaker):
            path = save_audio(root / f"s{s}_{u}.wav",
                              0.2 * noisy_speechlike(0.5 + 0.1 * u, seed=10 * s + u), 16000)
            items.append(ManifestItem(id=f"s{s}_{u}", path=str(path), duration=0.5 + 0.1 * u,
                                      speaker=f"s{s}", split="train" if s else "test"))
    return items


def test_noisy_corpus_is_reproducible_and_reused(tmp_path: Path) -> None:
    items = _clean_items(tmp_path / "clean")
    cfg = NoiseConfig(snrs_db=(0.0, 5.0), kinds=("pink", "babble"), babble_talkers=2, seed=3)
    a = make_noisy_corpus(items, tmp_path / "a", cfg)
    b = make_noisy_corpus(list(reversed(items)), tmp_path / "b", cfg)
    assert not a.reused and len(a.items) == len(items) and not a.skipped
    assert a.conditions == b.conditions
    for x, y in zip(a.items, b.items, strict=True):
        assert Path(x.path).read_bytes() == Path(y.path).read_bytes()
        assert x.clean_path == next(it.path for it in items if it.id == x.id)
        assert load_audio(x.path).duration == pytest.approx(load_audio(x.clean_path).duration)
    assert {c["kind"] for c in a.conditions.values()} <= {"pink", "babble"}
    assert read_manifest(a.manifest)[0].clean_path is not None
    assert json.loads((tmp_path / "a" / "conditions.json").read_text()) == a.conditions
    assert make_noisy_corpus(items, tmp_path / "a", cfg).reused
    other = make_noisy_corpus(items, tmp_path / "a", NoiseConfig(seed=4))
    assert not other.reused


def test_train_items_get_extra_mixtures(tmp_path: Path) -> None:
    items = _clean_items(tmp_path / "clean")
    one = make_noisy_corpus(items, tmp_path / "one", NoiseConfig(seed=1))
    three = make_noisy_corpus(items, tmp_path / "three", NoiseConfig(seed=1, train_copies=3))
    n_train = sum(it.split == "train" for it in items)
    assert len(three.items) == len(items) + 2 * n_train
    extra = [it for it in three.items if "~n" in it.id]
    assert {it.split for it in extra} == {"train"}
    assert {it.clean_path for it in extra} == {c.path for c in items if c.split == "train"}
    first = {it.id: it for it in three.items}
    for it in one.items:  # the first mixture of each item is the same as with one copy
        assert Path(it.path).read_bytes() == Path(first[it.id].path).read_bytes()
    copies = [first[f"{items[-1].id}~n{k}"] for k in (1, 2)]
    assert Path(copies[0].path).read_bytes() != Path(copies[1].path).read_bytes()


def test_noisy_corpus_skips_bad_clean_files(tmp_path: Path) -> None:
    items = _clean_items(tmp_path / "clean")
    bad = tmp_path / "clean" / "broken.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    items.append(ManifestItem(id="broken", path=str(bad), duration=1.0, speaker="s9",
                              split="train"))
    made = make_noisy_corpus(items, tmp_path / "noisy", NoiseConfig(kinds=("white",)))
    assert "broken" in made.skipped and "broken.wav" in made.skipped["broken"]
    assert len(made.items) == len(items) - 1
    with pytest.raises(ManifestError, match="no clean item could be mixed"):
        make_noisy_corpus(items[-1:], tmp_path / "none", NoiseConfig(kinds=("white",)))


def test_noise_config_validates() -> None:
    with pytest.raises(ValueError, match="babble"):
        NoiseConfig(kinds=("pink", "rain"))
    with pytest.raises(ValueError, match="at least one"):
        NoiseConfig(snrs_db=())


def test_paired_manifest_matches_files_by_name(tmp_path: Path) -> None:
    for folder in ("noisy", "clean"):
        for name in ("p232_001", "p232_002", "p257_001"):
            save_audio(tmp_path / folder / f"{name}.wav", 0.1 * noisy_speechlike(0.3), 16000)
    (tmp_path / "noisy" / "p999_001.wav").write_bytes(b"no twin")
    sf.write(tmp_path / "clean" / "lonely.wav", np.zeros(10, np.float32), 16000)
    (tmp_path / "noisy" / "p232_002.wav").write_bytes(b"RIFF....WAVE")  # broken noisy file
    scan = paired_manifest(tmp_path / "noisy", tmp_path / "clean")
    assert [it.id for it in scan.items] == ["p232_001", "p257_001"]
    assert [it.speaker for it in scan.items] == ["p232", "p257"]
    assert scan.items[0].clean_path.endswith("clean/p232_001.wav")
    assert [Path(s.path).name for s in scan.skipped] == ["p232_002.wav"]
    with pytest.raises(ManifestError, match="not a folder"):
        paired_manifest(tmp_path / "noisy", tmp_path / "missing")
    (tmp_path / "other").mkdir()
    with pytest.raises(ManifestError, match="no audio file has a usable twin"):
        paired_manifest(tmp_path / "noisy", tmp_path / "other")


def test_cli_noisy_and_pairs(tmp_path: Path, capsys) -> None:
    from typer.testing import CliRunner

    from audiotokens.cli import app, main
    from audiotokens.data import write_manifest

    items = _clean_items(tmp_path / "clean")
    clean = write_manifest(items, tmp_path / "clean.jsonl")
    runner = CliRunner()
    out = tmp_path / "noisy"
    result = runner.invoke(app, ["data", "noisy", str(clean), "--out", str(out), "--snr", "5",
                                 "--kinds", "brown,babble", "--talkers", "2",
                                 "--train-copies", "2"])
    assert result.exit_code == 0, result.output
    n_train = sum(it.split == "train" for it in items)
    assert f"mixed {len(items) + n_train} noisy items" in result.output
    conditions = json.loads((out / "conditions.json").read_text())
    assert {c["snr_db"] for c in conditions.values()} == {5.0}
    again = runner.invoke(app, ["data", "noisy", str(clean), "--out", str(out), "--snr", "5",
                                "--kinds", "brown,babble", "--talkers", "2",
                                "--train-copies", "2"])
    assert again.exit_code == 0 and "reused" in again.output
    from audiotokens.bench.tasks.corpora import find_corpora, load_corpus

    assert find_corpora(out) == {"noisy": out.resolve()}  # `bench --data` finds it
    assert len(load_corpus("noisy", out)) == len(items) + n_train
    bad = runner.invoke(app, ["data", "noisy", str(clean), "--out", str(out), "--kinds", "rain"])
    assert bad.exit_code == 2 and "rain" in bad.output

    wavs = out / "wavs"
    pairs_dir = tmp_path / "pairs"
    result = runner.invoke(app, ["data", "pairs", str(wavs), str(tmp_path / "clean"), "--out",
                                 str(pairs_dir)])
    assert result.exit_code == 0, result.output
    assert find_corpora(pairs_dir) == {"noisy": pairs_dir.resolve()}  # `bench --data` finds it
    pairs = pairs_dir / "noisy.jsonl"
    listed = read_manifest(pairs)
    assert len(listed) == len(items) and all(Path(it.clean_path).is_file() for it in listed)
    # (pairs by file name: the extra "~n1" mixtures have no clean twin of their name)
    assert not Path(json.loads(pairs.read_text().splitlines()[0])["clean_path"]).is_absolute()
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "pairs", str(tmp_path / "nowhere"), str(wavs), "--out", str(pairs_dir)])
    assert exit_info.value.code == 2
    assert "not a folder" in capsys.readouterr().err
    refused = runner.invoke(app, ["data", "pairs", str(wavs), str(tmp_path / "clean"), "--out",
                                  str(tmp_path / "pairs.jsonl")])
    assert refused.exit_code == 2 and "is a folder" in refused.output
