"""Comma-separated number options: parsed the same everywhere, refused in one line."""

from __future__ import annotations

import pytest
import typer

from audiotokens.cli import main
from audiotokens.cli.parsing import comma_numbers


def test_comma_numbers_parses_and_refuses() -> None:
    assert comma_numbers("1, 3,5,", "--k") == (1, 3, 5)
    assert comma_numbers("0,2.5", "--snr", float) == (0.0, 2.5)
    with pytest.raises(typer.BadParameter, match=r"comma-separated layer numbers like 3,7,12, "
                                                 r"got '3,x'"):
        comma_numbers("3,x", "--layers", what="layer numbers", example="3,7,12")


@pytest.mark.parametrize("argv", [
    ["fit", "mel-kmeans", "-m", "m.jsonl", "--out", "o", "--layers", "0,a"],
    ["data", "noisy", "m.jsonl", "--out", "o", "--snr", "5,loud"],
    ["study", "layers", "--k", "50,many"],
])
def test_bad_numbers_are_one_line_errors(argv, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.jsonl").write_text("")
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert "expected comma-separated" in err and "Traceback" not in err
