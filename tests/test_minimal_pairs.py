"""Spoken minimal pairs: espeak phonemes round trip, one-phone pseudo-words, the pairs folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audiotokens.data.espeak import Espeak
from audiotokens.data.minimal_pairs import (
    PAIRS_FILE,
    PHONE_CLASSES,
    PairConfig,
    pseudo_word,
    read_pairs,
    synthesize_pairs,
)


def test_phonemes_speak_exactly_like_the_text() -> None:
    with Espeak() as tts:
        phones = tts.phonemes("garden", "en-us")
    assert phones == ["g", "'A@", "d", "@", "n"]
    with Espeak() as tts:
        spoken = tts.synthesize("[[" + "".join(phones) + "]]", "en-us", phonemes=True)
    with Espeak() as tts:
        text = tts.synthesize("garden", "en-us")
    np.testing.assert_array_equal(spoken.samples, text.samples)


def test_pseudo_word_changes_one_phone_within_its_class() -> None:
    phones = ["b", "r", "'eI", "v"]
    other = pseudo_word(phones, np.random.default_rng(0), avoid=set())
    assert other is not None and len(other) == len(phones)
    changed = [(a, b) for a, b in zip(phones, other, strict=True) if a != b]
    assert len(changed) == 1
    (a, b), = changed
    assert a[0] != "'" or b[0] == "'"  # stress kept
    assert any(a.lstrip("'") in g and b.lstrip("'") in g for g in PHONE_CLASSES)


def test_pseudo_word_avoids_known_words_and_gives_up() -> None:
    phones = ["m", "'a", "t"]  # every class change of m, a, t
    every = {p for p in ("".join(x) for x in _all_changes(phones))}
    assert pseudo_word(phones, np.random.default_rng(0), avoid=every) is None
    keep = next(iter(sorted(every)))
    found = pseudo_word(phones, np.random.default_rng(0), avoid=every - {keep})
    assert found is not None and "".join(p.lstrip("'") for p in found) == keep


def _all_changes(phones: list[str]) -> list[list[str]]:
    out = []
    for i, p in enumerate(phones):
        core = p.lstrip("'")
        for group in PHONE_CLASSES:
            if core in group:
                out += [[*(q.lstrip("'") for q in phones[:i]), o,
                         *(q.lstrip("'") for q in phones[i + 1:])] for o in group if o != core]
    return out


def test_pairs_folder_is_made_once_and_read_back(tmp_path) -> None:
    config = PairConfig(words=("garden", "remembers", "cat"), n_speakers=1)
    made = synthesize_pairs(tmp_path, config)
    assert [p.text for p in made.pairs] == ["garden", "remembers"]  # "cat": 3 phonemes
    by_id = {it.id: it for it in made.items}
    for p in made.pairs:
        word, other = by_id[p.word], by_id[p.nonword]
        assert (word.label, other.label) == ("word", "nonword") and word.speaker == other.speaker
        assert len(p.phonemes.split()) == len(p.nonword_phonemes.split())
        assert p.phonemes != p.nonword_phonemes and word.duration > 0.2
    first = (tmp_path / PAIRS_FILE).read_text()
    again = synthesize_pairs(tmp_path, config)
    assert (tmp_path / PAIRS_FILE).read_text() == first and len(again.items) == 4
    with pytest.raises(FileExistsError, match="other settings"):
        synthesize_pairs(tmp_path, PairConfig(words=("garden",), n_speakers=1, seed=1))
    lines = first.splitlines()
    broken = json.loads(lines[0]) | {"nonword": "nobody"}
    (tmp_path / PAIRS_FILE).write_text(json.dumps(broken) + "\n")
    with pytest.raises(ValueError, match="missing from all.jsonl"):
        read_pairs(tmp_path)


def test_cli_minimal_pairs(tmp_path) -> None:
    from typer.testing import CliRunner

    from audiotokens.cli import app

    result = CliRunner().invoke(app, ["data", "minimal-pairs", "--out", str(tmp_path),
                                      "--speakers", "1", "--min-phones", "7"])
    assert result.exit_code == 0, result.output
    pairs = read_pairs(tmp_path)
    assert pairs.pairs and all(len(p.phonemes.split()) >= 7 for p in pairs.pairs)
    assert f"{len(pairs.pairs)} pairs" in result.output
