"""The espeak-ng driver and the synthetic corpus: alignments, held-out speakers, determinism."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from audiotokens.audio import load_audio
from audiotokens.data import PROSODY_LABELS, SynthConfig, read_manifest, synthesize_corpus
from audiotokens.data.espeak import Espeak, EspeakError
from audiotokens.data.synth import make_speakers
from audiotokens.data.synth_text import WORDS, random_sentence

pytest.importorskip("espeakng_loader")

SMALL = SynthConfig(minutes=0.4, seed=3, n_speakers=6, valid_speakers=1, test_speakers=1)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    return synthesize_corpus(tmp_path_factory.mktemp("synth") / "c", SMALL)


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(folder).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def test_espeak_utterance_and_phones() -> None:
    with Espeak() as tts:
        utt = tts.synthesize("the quick brown fox", "en-us+m3", rate=170, pitch=50)
        slow = tts.synthesize("the quick brown fox", "en-us+m3", rate=100, pitch=50)
    assert utt.sample_rate == 22050 and utt.samples.dtype == np.int16
    assert slow.duration > 1.3 * utt.duration  # the rate setting is applied
    phones = [p for p, _, _ in utt.phones]
    assert phones[:2] == ["ð", "ə"] and "k" in phones and "f" in phones
    assert all("ˈ" not in p and "ˌ" not in p for p in phones)


def test_espeak_fresh_session_is_bit_identical() -> None:
    def speak() -> bytes:
        with Espeak() as tts:
            tts.synthesize("hello there", "en-gb-x-rp+f4")
            return tts.synthesize("hello again", "en+m1", pitch=40).samples.tobytes()

    assert speak() == speak()


def test_espeak_errors() -> None:
    tts = Espeak()
    with pytest.raises(EspeakError, match="context manager"):
        tts.synthesize("hi", "en")
    with tts:
        with pytest.raises(EspeakError, match="no voice"):
            tts.synthesize("hi", "xx-nonexistent")
        with pytest.raises(ValueError, match="rate must be in 80..450"):
            tts.synthesize("hi", "en", rate=10)


def test_espeak_sessions_are_serialised() -> None:
    """Two threads each open sessions; the lock keeps their outputs identical to a solo run."""
    def speak(out: list[bytes]) -> None:
        for _ in range(3):
            with Espeak() as tts:
                out.append(tts.synthesize("one two three", "en-us+f1").samples.tobytes())

    results: list[list[bytes]] = [[], []]
    threads = [threading.Thread(target=speak, args=(r,)) for r in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({b for r in results for b in r}) == 1


def test_corpus_layout_and_size(corpus) -> None:
    out = corpus.out_dir
    assert corpus.seconds >= SMALL.minutes * 60
    assert corpus.seconds < SMALL.minutes * 60 + 10  # stops right after reaching the target
    for name in ("train", "valid", "test", "all"):
        assert corpus.manifests[name] == out / f"{name}.jsonl"
    everything = read_manifest(out / "all.jsonl")
    assert len(everything) == corpus.n_items == len(list((out / "wavs").glob("*.wav")))
    assert sum(len(read_manifest(out / f"{s}.jsonl")) for s in ("train", "valid", "test")) == (
        corpus.n_items)
    item = everything[0]
    audio = load_audio(item.path)
    assert audio.sample_rate == SMALL.sample_rate
    assert audio.duration == pytest.approx(item.duration, abs=1e-3)
    assert np.max(np.abs(audio.samples)) > 0.05
    assert all(it.text and it.label in PROSODY_LABELS for it in everything)
    assert all(set(it.text.split()) <= set(WORDS) | _SENTENCE_WORDS for it in everything)


_SENTENCE_WORDS = {w for s in (random_sentence(np.random.default_rng(i)) for i in range(2000))
                   for w in s.split()}


def test_alignments_ordered_inside_and_covering(corpus) -> None:
    for it in corpus.items:
        assert it.alignment, it.id
        starts = [s for _, s, _ in it.alignment]
        assert starts == sorted(starts)
        for (_, _, e), (_, s_next, _) in zip(it.alignment, it.alignment[1:], strict=False):
            assert e <= s_next + 1e-6  # phones do not overlap
        assert all(0 <= s <= e <= it.duration for _, s, e in it.alignment)
        covered = sum(e - s for _, s, e in it.alignment)
        assert covered >= 0.6 * it.duration, (it.id, covered, it.duration)


def test_held_out_speakers(corpus) -> None:
    speakers = {s: {it.speaker for it in corpus.items if it.split == s}
                for s in ("train", "valid", "test")}
    assert len(speakers["test"]) == 1 and len(speakers["valid"]) == 1
    assert not speakers["test"] & speakers["train"]
    assert not speakers["valid"] & speakers["train"]
    assert speakers == {s: set(names) for s, names in corpus.speakers.items()}
    assert len({it.speaker for it in corpus.items}) == SMALL.n_speakers


def test_prosody_labels_follow_settings(corpus) -> None:
    labels = {it.label for it in corpus.items}
    assert len(labels) >= 4  # a varied mix even in 24 s of speech
    # slow speech is slower: seconds per phone is larger for "slow-*" than for "fast-*"
    def per_phone(prefix: str) -> float:
        chosen = [it for it in corpus.items if it.label.startswith(prefix)]
        return sum(it.duration for it in chosen) / sum(len(it.alignment) for it in chosen)

    assert per_phone("slow") > 1.2 * per_phone("fast")


def test_same_seed_same_bytes_other_seed_differs(corpus, tmp_path: Path) -> None:
    again = synthesize_corpus(tmp_path / "again", SMALL)
    assert _digest(again.out_dir) == _digest(corpus.out_dir)
    other = synthesize_corpus(tmp_path / "other", SynthConfig(minutes=0.1, seed=4, n_speakers=6,
                                                              valid_speakers=1, test_speakers=1))
    first = sorted((other.out_dir / "wavs").iterdir())[0].read_bytes()
    assert all(first != p.read_bytes() for p in (corpus.out_dir / "wavs").iterdir())


def test_refuses_to_mix_corpora(corpus, tmp_path: Path) -> None:
    out = tmp_path / "c"
    tiny = SynthConfig(minutes=0.05, seed=1, n_speakers=3, valid_speakers=1, test_speakers=1)
    synthesize_corpus(out, tiny)
    with pytest.raises(FileExistsError, match="already holds a corpus"):
        synthesize_corpus(out, tiny)
    result = synthesize_corpus(out, tiny, overwrite=True)
    assert len(list((out / "wavs").glob("*.wav"))) == result.n_items


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="minutes"):
        SynthConfig(minutes=0)
    with pytest.raises(ValueError, match="allowed"):
        SynthConfig(voices=("klingon",))
    with pytest.raises(ValueError, match="leave at least one"):
        SynthConfig(n_speakers=3, valid_speakers=1, test_speakers=2)
    speakers = make_speakers(SynthConfig(n_speakers=8))
    assert len({s.voice for s in speakers}) == 8  # the first speakers all differ in voice
    assert len({s.name for s in make_speakers(SynthConfig(n_speakers=144))}) == 144


def test_cli_synth(tmp_path: Path) -> None:
    from audiotokens.cli import app

    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["data", "synth", "--out", str(out), "--minutes", "0.1",
                                      "--seed", "2", "--speakers", "5"])
    assert result.exit_code == 0, result.output
    assert "synthesized" in result.output and "test speakers (2)" in result.output
    assert len(read_manifest(out / "all.jsonl")) > 0
    bad = CliRunner().invoke(app, ["data", "synth", "--out", str(out), "--minutes", "-1"])
    assert bad.exit_code != 0 and "minutes" in bad.output
