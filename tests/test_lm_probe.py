"""The LM probe on hand-made token stores: the bits accounting (a repeating stream costs ~0
bits, a uniform one ~log2 V per token; bits per second = bits per token x tokens per second),
training lowers the loss, layouts agree on bits per second, minimal pairs, results DB,
ranking and report."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from audiotokens.bench.db import ResultsDB
from audiotokens.bench.lm_probe import (
    LANGUAGE_BOARD,
    LM_TASK,
    PROBE_TRAIN,
    SWUGGY_TASK,
    ProbeConfig,
    entry_label,
    pair_frames,
    probe_store,
)
from audiotokens.bench.ranking import rank_results
from audiotokens.data.manifest import ManifestItem, write_manifest
from audiotokens.data.minimal_pairs import MinimalPair, PairSet
from audiotokens.llm.stream import StreamConfig
from audiotokens.store import StoreError, TokenStore
from audiotokens.testing import EnergyConfig, EnergyTokenizer
from audiotokens.tokenizers.base import TokenizerInfo, Tokens

pytestmark = pytest.mark.usefixtures("single_thread")

FRAME_RATE = 50.0
TRAIN = replace(PROBE_TRAIN, max_steps=80, eval_every=20, patience=2, batch_size=8, dim=16,
                hidden=32, lr=1e-2)
CROP = 32


class TwoBooks(EnergyTokenizer):
    """Hand-made tokens of two codebooks (8 ids each) at 50 frames/s."""

    @property
    def info(self) -> TokenizerInfo:
        return TokenizerInfo(self.name, "codec", 16000, FRAME_RATE, (8, 8))


def energy(k: int) -> EnergyTokenizer:
    return EnergyTokenizer(EnergyConfig(k=k, hop_length=320))  # 50 frames/s


def make_store(folder, tok, frames: dict[str, np.ndarray], splits: dict[str, str]
               ) -> tuple[TokenStore, list[ManifestItem]]:
    """A store of ``frames`` and its manifest (durations = frames / frame rate)."""
    store = TokenStore.create(folder, tok)
    store.write_shard([(i, Tokens(f, tok.info)) for i, f in frames.items()])
    items = [ManifestItem(id=i, path=f"{i}.wav", duration=len(f) / FRAME_RATE,
                          split=splits[i]) for i, f in frames.items()]
    return store, items


def split_of(n: int) -> list[str]:
    return ["valid" if i % 5 == 3 else "test" if i % 5 == 4 else "train" for i in range(n)]


def probe(tmp_path, tok, frames, stream=StreamConfig(), train=TRAIN, name="s", **kw):
    splits = dict(zip(frames, split_of(len(frames)), strict=True))
    store, items = make_store(tmp_path / name, tok, frames, splits)
    db = ResultsDB(tmp_path / "results.db")
    cfg = ProbeConfig(stream, train, seeds=kw.pop("seeds", 1), run="t", crop_steps=CROP,
                      layers=1, **kw)
    return probe_store(store, items, db, cfg), db, store, items


def test_a_repeating_stream_costs_almost_nothing(tmp_path) -> None:
    cycle = np.arange(8)
    frames = {f"u{i}": np.resize(cycle, 24 + 2 * i)[:, None] for i in range(12)}
    summary, db, _, _ = probe(tmp_path, energy(16), frames)
    m = summary.outcomes[0].metrics
    assert m["bits_per_token"] < 0.15, m
    assert m["tokens_per_second"] == pytest.approx(FRAME_RATE)
    assert m["bits_per_second"] == pytest.approx(m["bits_per_token"] * FRAME_RATE)
    assert m["nll_per_token"] == pytest.approx(m["bits_per_token"] * math.log(2))
    stored = {r.metric: r.value for r in db.results("t") if r.task == LM_TASK}
    assert stored["bits_per_second@chance"] == pytest.approx(4 * FRAME_RATE)  # log2(16)


def test_a_uniform_stream_costs_log2_v_per_token(tmp_path) -> None:
    rng = np.random.default_rng(0)
    frames = {f"u{i}": rng.integers(0, 16, (64, 1)) for i in range(12)}
    summary, db, _, _ = probe(tmp_path, energy(16), frames)
    m = summary.outcomes[0].metrics
    assert 3.9 < m["bits_per_token"] < 4.3, m
    curve = [a for a in db.artifacts("t", "training")][0]
    assert '"stopped"' in curve.payload


def test_training_beats_the_uniform_code_and_layouts_agree_per_second(tmp_path) -> None:
    """Codebook 1 copies codebook 0 (uniform over 8): about 3 bits per frame whether the
    stream is flattened (2 tokens a frame, the second free) or delayed (one step a frame)."""
    rng = np.random.default_rng(1)
    frames = {}
    for i in range(16):
        first = rng.integers(0, 8, 60)
        frames[f"u{i}"] = np.stack([first, first], 1)
    flat, db, _, _ = probe(tmp_path, TwoBooks(EnergyConfig()), frames, name="flat")
    delay, _, _, _ = probe(tmp_path, TwoBooks(EnergyConfig()), frames,
                           StreamConfig(layout="delay"), name="delay")
    per_frame = 3 * FRAME_RATE
    for m in (flat.outcomes[0].metrics, delay.outcomes[0].metrics):
        assert per_frame * 0.95 < m["bits_per_second"] < per_frame * 1.2, m
    assert flat.outcomes[0].metrics["tokens_per_second"] == pytest.approx(2 * FRAME_RATE)
    chance = {r.tokenizer: r.value for r in db.results("t")
              if r.metric == "bits_per_second@chance"}
    assert chance[flat.label] == pytest.approx(2 * FRAME_RATE * 4)  # log2(8 + 8) per token
    assert flat.label == "energy" and delay.label == "energy (delay)"


def pair_set(tmp_path, frames: dict[str, np.ndarray], tok) -> tuple[PairSet, TokenStore]:
    items = [ManifestItem(id=i, path=f"{i}.wav", duration=len(f) / FRAME_RATE, split="test")
             for i, f in frames.items()]
    n = len(frames) // 2
    pairs = [MinimalPair(f"p{k}", f"p{k}_word", f"p{k}_nonword", "spk", "w", "", "")
             for k in range(n)]
    store = TokenStore.create(tmp_path / "pair-tokens", tok)
    store.write_shard([(i, Tokens(f, tok.info)) for i, f in frames.items()])
    return PairSet(tmp_path / "pairs", items, pairs), store


def test_minimal_pairs_cells_ranking_and_resume(tmp_path) -> None:
    cycle = np.arange(8)
    frames = {f"u{i}": np.resize(cycle, 32)[:, None] for i in range(10)}
    splits = dict(zip(frames, split_of(10), strict=True))
    tok = energy(16)
    store, items = make_store(tmp_path / "s", tok, frames, splits)
    pairs_frames = {}
    for k in range(6):  # the word continues the cycle; the nonword breaks it once
        word = np.resize(cycle, 16)
        other = word.copy()
        other[5 + k] = (other[5 + k] + 3) % 8
        pairs_frames[f"p{k}_word"], pairs_frames[f"p{k}_nonword"] = word[:, None], other[:, None]
    pairs, pair_store = pair_set(tmp_path, pairs_frames, tok)
    got = pair_frames(pairs, store, tokens=pair_store.folder)
    db = ResultsDB(tmp_path / "results.db")
    cfg = ProbeConfig(StreamConfig(), replace(TRAIN, max_steps=40), seeds=2, run="t",
                      crop_steps=CROP, layers=1)
    summary = probe_store(store, items, db, cfg, pairs, got)
    assert [o.status for o in summary.outcomes] == ["done", "done"]
    acc = [r.value for r in db.results("t") if r.task == SWUGGY_TASK and r.metric == "accuracy"]
    assert acc == [1.0, 1.0]
    assert db.boards("t") == {LM_TASK: LANGUAGE_BOARD, SWUGGY_TASK: LANGUAGE_BOARD}
    ranking = rank_results(db.results("t"), boards=db.boards("t"))
    board = ranking.boards[LANGUAGE_BOARD]
    assert [t.task for t in board.tasks] == [LM_TASK, SWUGGY_TASK]
    assert board.rows[0].tokenizer == "energy" and board.rows[0].position == 1
    again = probe_store(store, items, db, cfg, pairs, got)
    assert [o.status for o in again.outcomes] == ["skipped", "skipped"]

    from audiotokens.bench.report import render_report

    html = render_report(db, "t")
    assert "language: all tiers" in html and "lm-swuggy" in html
    assert "energy: flatten (1 codebook(s), 50 tokens/s)" in html


def test_pairs_of_another_tokenizer_and_missing_splits_are_refused(tmp_path) -> None:
    frames = {f"u{i}": np.zeros((10, 1), np.int64) for i in range(5)}
    store, items = make_store(tmp_path / "s", energy(16), frames,
                              dict(zip(frames, split_of(5), strict=True)))
    pairs, other = pair_set(tmp_path, {"p0_word": np.zeros((4, 1), np.int64),
                                       "p0_nonword": np.ones((4, 1), np.int64)}, energy(8))
    with pytest.raises(StoreError, match="not of the probed store's tokenizer"):
        pair_frames(pairs, store, tokens=other.folder)
    no_valid = [replace(it, split="train" if it.split == "valid" else it.split) for it in items]
    with pytest.raises(StoreError, match="no valid items"):
        probe_store(store, no_valid, ResultsDB(tmp_path / "r.db"), ProbeConfig(seeds=1))


def test_entry_label_names_non_plain_streams() -> None:
    class Named:
        name = "mel-kmeans"

    assert entry_label(Named(), StreamConfig()) == "mel-kmeans"
    assert entry_label(Named(), StreamConfig(dedup=True)) == "mel-kmeans (flatten+dedup)"


def test_cli_probe_writes_the_language_board(tmp_path) -> None:
    from typer.testing import CliRunner

    from audiotokens.cli import app

    cycle = np.arange(8)
    frames = {f"u{i}": np.resize(cycle, 24)[:, None] for i in range(5)}
    store, items = make_store(tmp_path / "s", energy(16), frames,
                              dict(zip(frames, split_of(5), strict=True)))
    manifest = write_manifest(items, tmp_path / "all.jsonl")
    db = tmp_path / "out" / "results.db"
    args = ["llm", "probe", str(store.folder), "-m", str(manifest), "--db", str(db),
            "--seeds", "1", "--max-steps", "20", "--dedup"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "language leaderboard" in result.output and "energy (flatten+dedup)" in result.output
    missing = [*args[:4], str(tmp_path / "none.jsonl"), *args[5:]]
    bad = CliRunner().invoke(app, missing)
    assert bad.exit_code != 0 and "none.jsonl: manifest not found" in str(bad.exception)
