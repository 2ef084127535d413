"""`audiotokens fit ssl` and `audiotokens ssl layers` end to end on a tiny model, and their
one-line errors for bad input."""

from __future__ import annotations

import json
import shlex

import pytest
import torch
from safetensors import safe_open
from transformers import HubertModel

from audiotokens.cli import main

pytestmark = pytest.mark.usefixtures("single_thread")
SYNTH_SIZE = (0.5, 4)
TINY = ["-o", "hidden_size=32", "-o", "layers=2", "-o", "heads=2", "-o", "intermediate_size=64",
        "-o", "conv_dim=[16,32,32,32]", "-o", "pos_kernel=16", "-o", "pos_groups=4",
        "-o", "proj_dim=16", "-o", "batch_seconds=4", "-o", "max_crop_seconds=1",
        "-o", "kmeans_max_vectors=2000", "-o", "progress=false", "-o", "steps=2",
        "-o", "score_items=6"]


def run(capsys, *argv) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out + out.err


def test_fit_ssl_then_layers_view(tmp_path, capsys, synth_root, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    out = tmp_path / "run"
    code, text = run(capsys, "fit", "ssl", "-m", synth_root / "train.jsonl", "-m",
                     synth_root / "test.jsonl", "--out", out, "--k", "8", "--iterations", "2",
                     *TINY)
    assert code == 0, text
    assert "ssl pretraining" in text and "PNMI held-out" in text and "best layer: iter" in text
    summary = json.loads((out / "ssl.json").read_text())
    assert summary["k"] == 8 and summary["best_model"] in ("iter1", "iter2")
    assert 0 <= summary["best_layer"] <= 2 and "training items" in summary["best_layer_rule"]
    report = json.loads((out / "layers.json").read_text())
    sources = {(r["source"], r["split"]) for r in report["rows"]}
    assert {("mfcc", "held_out"), ("mel", "held_out"), ("iter2", "train")} <= sources
    best = max((r for r in report["rows"] if r["split"] == "train"
                and r["source"].startswith("iter")), key=lambda r: r["pnmi"])
    assert (best["source"], best["layer"]) == (summary["best_model"], summary["best_layer"])
    assert all(0.0 <= r["pnmi"] <= 1.0 for r in report["rows"])

    code, text = run(capsys, "ssl", "layers", out, "-m", synth_root / "all.jsonl",
                     "--max-items", "4", "--out", tmp_path / "l.json")
    assert code == 0, text
    assert "mfcc" in text and "iter2" in text and (tmp_path / "l.json").is_file()

    # export: float16 weights that load as float32, the rule's layer, a command that
    # re-runs into the same folder (so its settings are the run's: a mismatch would raise)
    exported = tmp_path / "exported"
    code, text = run(capsys, "ssl", "export", out, "--out", exported, "--data-command",
                     "audiotokens data synth --out data/synth")
    assert code == 0 and "wrote" in text, text
    record = json.loads((exported / "training.json").read_text())
    assert record["iteration"] == int(summary["best_model"][4:])
    assert record["chosen"]["layer"] == summary["best_layer"] and record["chosen"]["k"] == 8
    assert record["data"]["command"].startswith("audiotokens data synth")
    assert record["steps"] == 2 * record["iteration"] and record["cpu_seconds"] > 0
    with safe_open(exported / "model.safetensors", "pt") as f:
        assert {f.get_tensor(key).dtype for key in f.keys()} == {torch.float16}
    trained = HubertModel.from_pretrained(out / summary["best_model"]).eval()
    shipped = HubertModel.from_pretrained(exported).eval()
    assert next(shipped.parameters()).dtype == torch.float32
    wav = torch.randn(1, 8000)
    with torch.no_grad():
        torch.testing.assert_close(shipped(wav).last_hidden_state,
                                   trained(wav).last_hidden_state, atol=3e-2, rtol=3e-2)
    argv = shlex.split(record["command"])
    assert argv[:3] == ["audiotokens", "fit", "ssl"] and "hidden_size=32" in argv
    argv[argv.index("--out") + 1] = str(out)
    code, text = run(capsys, *argv[1:], "-o", "progress=false")
    assert code == 0 and "ssl pretraining" in text, text


def test_fit_ssl_bad_input_gives_one_line_errors(tmp_path, capsys, synth_root) -> None:
    train = synth_root / "train.jsonl"
    code, text = run(capsys, "fit", "ssl", "-m", tmp_path / "nope.jsonl", "--out", tmp_path)
    assert code == 2 and "nope.jsonl: manifest not found" in text
    assert "Traceback" not in text and len(text.strip().splitlines()) == 1
    code, text = run(capsys, "fit", "ssl", "-m", train, "--out", tmp_path / "r",
                     "--iterations", "0")
    assert code == 2 and "iterations must be in 1..10" in text and "Traceback" not in text
    code, text = run(capsys, "fit", "ssl", "-m", train, "--out", tmp_path / "r", "-o", "bogus=1")
    assert code == 2 and "unknown option 'bogus'" in text and "mask_prob" in text
    code, text = run(capsys, "fit", "ssl", "-m", train, "--out", tmp_path / "r", "--layers", "3")
    assert code == 2 and "does not take --layers" in text
    code, text = run(capsys, "fit", "mfcc-kmeans", "-m", train, "-m", train, "--out", tmp_path)
    assert code == 2 and "takes one manifest" in text
    code, text = run(capsys, "fit", "mfcc-kmeans", "-m", train, "--out", tmp_path,
                     "--iterations", "2")
    assert code == 2 and "only `fit ssl` takes --iterations" in text
    code, text = run(capsys, "ssl", "layers", tmp_path, "-m", train)
    assert code == 2 and "no ssl.json" in text and len(text.strip().splitlines()) == 1
    (tmp_path / "r2").mkdir()
    (tmp_path / "r2" / "settings.json").write_text(json.dumps({"k": 5}))
    code, text = run(capsys, "fit", "ssl", "-m", train, "--out", tmp_path / "r2", *TINY)
    assert code == 2 and "holds a run with different" in text
    assert len(text.strip().splitlines()) == 1
