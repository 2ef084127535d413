"""`analyze_store` on a hand-made store; `audiotokens analyze` end to end on synthetic speech."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from audiotokens.analysis.analyze import AnalyzeConfig, analyze_store
from audiotokens.analysis.leakage import ProbeConfig
from audiotokens.analysis.phones import SILENCE, AnalysisError
from audiotokens.cli import main
from audiotokens.data.manifest import ManifestItem, write_manifest
from audiotokens.store import TokenStore
from audiotokens.testing import EnergyConfig, EnergyTokenizer
from audiotokens.tokenizers.base import Tokens

SYNTH_SIZE = (1.0, 4)  # minutes, speakers of the module's synthetic corpus


pytestmark = pytest.mark.usefixtures("single_thread")


def _tiny_store(tmp_path):
    """4 ids (0..3) at 10 frames/s. Item a: phone 'a' x4, tokens 0 0 0 1; item b: phone 'b'
    x4, tokens 1 1 1 1; item c: no alignment, tokens 2 2; item x: not in the manifest."""
    tok = EnergyTokenizer(EnergyConfig(k=4, hop_length=1600))
    store = TokenStore.create(tmp_path / "store", tok)
    codes = {"a": [0, 0, 0, 1], "b": [1, 1, 1, 1], "c": [2, 2], "x": [3, 3, 3]}
    store.write_shard([(k, Tokens(np.array(v)[:, None], tok.info)) for k, v in codes.items()])
    items = [ManifestItem("a", "a.wav", 0.4, speaker="s1", alignment=[("a", 0.0, 0.4)]),
             ManifestItem("b", "b.wav", 0.4, speaker="s1", alignment=[("b", 0.0, 0.4)]),
             ManifestItem("c", "c.wav", 0.2, speaker="s1"),
             ManifestItem("y", "y.wav", 0.2)]
    manifest = write_manifest(items, tmp_path / "m.jsonl")
    return store.folder, manifest


def test_analyze_matches_hand_computed_numbers(tmp_path):
    store, manifest = _tiny_store(tmp_path)
    a = analyze_store(store, manifest)
    assert (a.n_items, a.n_frames, a.n_aligned, a.n_unaligned) == (3, 10, 2, 1)
    assert (a.n_not_in_manifest, a.n_not_in_store) == (1, 1)
    assert a.inventory.phones == (SILENCE, "a", "b")
    (cb,) = a.codebooks
    # usage over all 10 frames of a, b, c: token counts 3, 5, 2, 0
    assert cb.usage.counts.tolist() == [3, 5, 2, 0] and cb.usage.usage == pytest.approx(0.75)
    entropy = -sum(p * math.log2(p) for p in (0.3, 0.5, 0.2))
    assert cb.usage.entropy_bits == pytest.approx(entropy)
    assert cb.usage.perplexity == pytest.approx(2**entropy)
    # phones over the 8 aligned frames: counts [[3, 1], [0, 4]] (test_analysis_phones)
    assert cb.phones.counts[1:, :2].tolist() == [[3, 1], [0, 4]]
    assert cb.phones.pnmi == pytest.approx(0.548795, abs=1e-6)
    assert cb.phones.phone_purity == pytest.approx(7 / 8)
    assert cb.phones.cluster_purity == pytest.approx(7 / 8)
    by_token = {t.token: t for t in cb.token_map.tokens}
    assert by_token[1].phones == (("b", pytest.approx(0.8)), ("a", pytest.approx(0.2)))
    by_phone = {p.phone: p for p in cb.token_map.phones}
    assert by_phone["a"].tokens == ((0, 1.0, 0.75),)
    assert by_phone["b"].tokens == ((1, pytest.approx(0.8), 1.0),)
    # one speaker only: no probe, and a message saying why
    assert a.leakage is None and ">= 2 speakers" in a.leakage_message


def test_analyze_without_alignments_skips_phone_metrics(tmp_path):
    store, _ = _tiny_store(tmp_path)
    manifest = write_manifest([ManifestItem("a", "a.wav", 0.4)], tmp_path / "plain.jsonl")
    a = analyze_store(store, manifest)
    assert a.inventory is None and a.codebooks[0].phones is None
    assert "none of the 1 items has an alignment" in a.phone_message
    assert a.codebooks[0].usage.n_frames == 4


def test_manifest_without_matching_ids_is_refused(tmp_path):
    store, _ = _tiny_store(tmp_path)
    other = write_manifest([ManifestItem("zz", "z.wav", 1.0)], tmp_path / "other.jsonl")
    with pytest.raises(AnalysisError, match="none of the 4 ids in store"):
        analyze_store(store, other)


def run(capsys, *argv) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out + out.err


def test_cli_errors_are_one_line(tmp_path, capsys):
    store, manifest = _tiny_store(tmp_path)
    code, out = run(capsys, "analyze", tmp_path / "nope", "-m", manifest)
    assert code == 2 and "nope: token store folder not found" in out
    assert len(out.strip().splitlines()) == 1
    (tmp_path / "empty").mkdir()
    code, out = run(capsys, "analyze", tmp_path / "empty", "-m", manifest)
    assert code == 2 and "not a token store" in out
    other = write_manifest([ManifestItem("zz", "z.wav", 1.0)], tmp_path / "other.jsonl")
    code, out = run(capsys, "analyze", store, "-m", other)
    assert code == 2 and "none of the 4 ids" in out and len(out.strip().splitlines()) == 1
    code, out = run(capsys, "analyze", store, "-m", tmp_path / "missing.jsonl")
    assert code == 2 and "manifest not found" in out


def test_cli_end_to_end_on_synthetic_speech(tmp_path, capsys, monkeypatch, synth_root):
    monkeypatch.setenv("COLUMNS", "200")
    manifest = synth_root / "all.jsonl"
    assert run(capsys, "fit", "mel-kmeans", "-m", manifest, "--out", tmp_path / "tok",
               "--k", "16", "--seed", "0")[0] == 0
    assert run(capsys, "encode", tmp_path / "tok", "-m", manifest, "--out", tmp_path / "st",
               "--no-progress")[0] == 0
    code, out = run(capsys, "analyze", tmp_path / "st", "-m", manifest, "--out",
                    tmp_path / "an", "--permutations", "5")
    assert code == 0, out
    assert "PNMI" in out and "speaker leakage" in out and "tokens per phone" in out
    report = json.loads((tmp_path / "an" / "analysis.json").read_text())
    (cb,) = report["codebooks"]
    assert cb["vocab_size"] == 16 and 0 < cb["usage"] <= 1
    assert 0 < cb["phones"]["pnmi"] < 1 and 0 < cb["phones"]["phone_purity"] <= 1
    assert 0 < cb["phones"]["pnmi_shuffled"] < cb["phones"]["pnmi"]
    assert report["items"]["aligned"] == report["items"]["analysed"] > 0
    leak = report["speaker_leakage"]
    assert leak["n_speakers"] == 4 and leak["n_permutations"] == 5
    assert 0 <= leak["chance"] <= 1 and 0 <= leak["accuracy"] <= 1
    with open(tmp_path / "an" / "token_phones.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {int(r["token"]) for r in rows} <= set(range(16)) and rows[0]["rank"] == "1"
    phones = (tmp_path / "an" / "phone_tokens.csv").read_text().splitlines()
    assert phones[0].startswith("codebook,phone,phone_frames,token") and len(phones) > 1
    png = (tmp_path / "an" / "token_phone_map_layer0.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_analyze_config_is_validated():
    with pytest.raises(ValueError, match="top_phones"):
        AnalyzeConfig(top_phones=0)
    with pytest.raises(ValueError, match="test_fraction"):
        ProbeConfig(test_fraction=1.0)
