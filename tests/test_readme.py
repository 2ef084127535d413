"""The README's Python snippets run as written, in a folder holding the files they name (a
tiny corpus as ``data/synth/train.jsonl`` and a ``speech.wav``)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from audiotokens.audio import load_audio, save_audio
from audiotokens.testing import noisy_speechlike, write_test_corpus

README = Path(__file__).resolve().parents[1] / "README.md"
pytestmark = pytest.mark.usefixtures("single_thread")


def python_blocks(text: str) -> list[str]:
    """The bodies of the ```python fenced blocks of a markdown text, in order."""
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_python_blocks_are_found() -> None:
    blocks = python_blocks("a\n```python\nx = 1\n```\n```bash\nls\n```\n```python\ny = 2\n```\n")
    assert blocks == ["x = 1\n", "y = 2\n"]


def test_readme_python_snippets_run(tmp_path, monkeypatch, capsys) -> None:
    blocks = python_blocks(README.read_text())
    assert blocks, "README.md has no ```python block"
    # 12 items of 1 s: 600 mel frames, enough for the snippet's k=500
    manifest = write_test_corpus(tmp_path / "data" / "synth", 12, min_seconds=1.0,
                                 max_seconds=1.0)
    shutil.move(manifest, manifest.with_name("train.jsonl"))
    save_audio(tmp_path / "speech.wav", noisy_speechlike(1.5, 16000, seed=7), 16000)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__readme__"}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    printed = capsys.readouterr().out
    assert printed.split()[0] == "50.0"  # mel-kmeans: 50 frames/s
    tok, tokens = namespace["tok"], namespace["tokens"]
    assert tok.info.vocab_sizes == (500,) and tokens.codes.shape == (75, 1)
    assert (tmp_path / "runs" / "mel500" / "config.json").is_file()
    wav, audio = namespace["wav"], load_audio(tmp_path / "speech.wav")
    assert len(wav) == len(audio.samples)
    assert np.corrcoef(wav, audio.samples)[0, 1] > 0.99  # mu-law round trip
