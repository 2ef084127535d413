"""Leaderboards checked exactly against a hand-ranked results table: two boards, seeds with
overlapping and separated CIs, ties, missing cells and chance levels."""

from __future__ import annotations

import pytest

from audiotokens.bench.db import Result
from audiotokens.bench.ranking import interval_ranks, primary_metrics, rank_results

BOARDS = {"asr": "discriminative", "kws": "discriminative", "tts": "generative",
          "enh": "generative"}


def r(tok: str, tier: str, task: str, metric: str, value: float, hib: bool, seed: int = 0,
      run: str = "r1") -> Result:
    return Result(run, tok, tier, task, metric, value, seed, hib)


def seeds(tok: str, tier: str, task: str, metric: str, values: list[float], hib: bool
          ) -> list[Result]:
    return [r(tok, tier, task, metric, v, hib, seed=i) for i, v in enumerate(values)]


def hand_table() -> list[Result]:
    """asr (wer, lower): A 0.20 +- 0.0124 [3 seeds 0.19/0.20/0.21], B 0.21 +- 0.0124
    (overlaps A), C 0.40 +- 0 (separated); D has none.
    kws (accuracy, higher): A 0.9, B 0.5 (chance 0.5), C 0.9, D 0.7 (one seed each).
    tts (cer, lower): C 0.3, D 0.5; A and B have no decoder.
    enh (pesq, higher): C 2.0 (chance 1.5), D 1.4 (chance 1.5: below it)."""
    return [
        *seeds("A", "low", "asr", "wer", [0.19, 0.20, 0.21], False),
        *seeds("B", "low", "asr", "wer", [0.20, 0.21, 0.22], False),
        *seeds("C", "high", "asr", "wer", [0.40, 0.40, 0.40], False),
        r("A", "low", "asr", "cer", 0.09, False),
        r("C", "high", "asr", "cer", 0.03, False),
        r("A", "low", "kws", "accuracy", 0.9, True),
        r("B", "low", "kws", "accuracy", 0.5, True),
        r("B", "low", "kws", "accuracy@chance", 0.5, True),
        r("C", "high", "kws", "accuracy", 0.9, True),
        r("D", "high", "kws", "accuracy", 0.7, True),
        r("C", "high", "tts", "cer", 0.3, False),
        r("D", "high", "tts", "cer", 0.5, False),
        r("C", "high", "enh", "pesq", 2.0, True),
        r("C", "high", "enh", "pesq@chance", 1.5, True),
        r("D", "high", "enh", "pesq", 1.4, True),
        r("D", "high", "enh", "pesq@chance", 1.5, True),
        r("A", "low", "cost", "bitrate_bps", 1000.0, False),  # not a quality task
    ]


def rows(board) -> list[tuple]:
    return [(x.position, x.tokenizer, x.mean_rank, x.ranks, x.missing) for x in board.rows]


def test_interval_ranks_share_overlapping_and_chain() -> None:
    # a, b overlap -> share 1; c separated -> 3
    assert interval_ranks([(0.9, 1.1), (0.8, 1.0), (0.0, 0.1)], [1.0, 0.9, 0.05], True) == \
        [1, 1, 3]
    # a chain a~b~c (a and c alone would separate) shares one rank
    assert interval_ranks([(0.0, 1.0), (0.9, 2.0), (1.9, 3.0)], [0.5, 1.5, 2.5], True) == \
        [1, 1, 1]
    # zero-width intervals: ties only on equal values; lower is better here
    assert interval_ranks([(3, 3), (1, 1), (3, 3), (2, 2)], [3, 1, 3, 2], False) == \
        [3, 1, 3, 2]
    assert interval_ranks([], [], True) == []


def test_two_boards_rank_only_their_own_tasks() -> None:
    ranking = rank_results(hand_table(), boards=BOARDS)
    assert ranking.primary == {"asr": "wer", "kws": "accuracy", "tts": "cer", "enh": "pesq"}
    assert list(ranking.boards) == ["discriminative", "generative"]
    disc = ranking.boards["discriminative"]
    assert [t.task for t in disc.tasks] == ["asr", "kws"]
    # asr: A, B overlap -> 1, 1; C -> 3.  kws: A = C -> 1, D 3, B 4.
    # A and C have both tasks: A (1 + 1) / 2 = 1, C (3 + 1) / 2 = 2.  B lacks nothing
    # either: (1 + 4) / 2 = 2.5.  D lacks asr: listed with coverage, no position.
    assert rows(disc) == [
        (1, "A", 1.0, {"asr": 1, "kws": 1}, ()),
        (2, "C", 2.0, {"asr": 3, "kws": 1}, ()),
        (3, "B", 2.5, {"asr": 1, "kws": 4}, ()),
        (None, "D", None, {"kws": 3}, ("asr",)),
    ]
    assert disc.rows[-1].coverage == "1/2" and [x.tokenizer for x in disc.incomplete] == ["D"]
    asr = disc.tasks[0]
    a = asr.score(("A", "low"))
    assert a is not None and a.n == 3 and a.ci95 == pytest.approx(4.303 * 0.01 / 3 ** 0.5,
                                                                 rel=1e-3)
    gen = ranking.boards["generative"]
    # tts: C 1, D 2; enh: C 1, D 2.  A and B have no generative task: coverage 0/2.
    assert rows(gen) == [
        (1, "C", 1.0, {"enh": 1, "tts": 1}, ()),
        (2, "D", 2.0, {"enh": 2, "tts": 2}, ()),
        (None, "A", None, {}, ("enh", "tts")),
        (None, "B", None, {}, ("enh", "tts")),
    ]


def test_chance_levels_mark_results() -> None:
    ranking = rank_results(hand_table(), boards=BOARDS)
    kws = ranking.boards["discriminative"].tasks[1]
    marks = {s.tokenizer: (s.chance, s.at_chance) for s in kws.scores}
    assert marks == {"A": (None, False), "B": (0.5, True), "C": (None, False),
                     "D": (None, False)}
    enh = ranking.boards["generative"].tasks[0]
    assert enh.task == "enh"
    assert {s.tokenizer: s.at_chance for s in enh.scores} == {"C": False, "D": True}


def test_ci_reaching_chance_is_at_chance() -> None:
    rows_ = [*seeds("A", "low", "kws", "accuracy", [0.55, 0.60, 0.65], True),
             *seeds("A", "low", "kws", "accuracy@chance", [0.5, 0.5, 0.5], True),
             *seeds("B", "low", "kws", "accuracy", [0.70, 0.71, 0.72], True),
             *seeds("B", "low", "kws", "accuracy@chance", [0.5, 0.5, 0.5], True)]
    kws = rank_results(rows_, boards=BOARDS).boards["discriminative"].tasks[0]
    # A: 0.60 +- 4.303 * 0.05 / sqrt(3) = +-0.124 -> reaches 0.5; B: +-0.0248 -> clear
    assert {s.tokenizer: s.at_chance for s in kws.scores} == {"A": True, "B": False}
    assert [(s.tokenizer, s.rank) for s in kws.scores] == [("B", 1), ("A", 1)]  # overlap


def test_per_tier_boards() -> None:
    ranking = rank_results(hand_table(), boards=BOARDS)
    assert list(ranking.tiers["discriminative"]) == ["high", "low"]
    low = ranking.tiers["discriminative"]["low"]
    # asr A, B overlap -> 1, 1; kws A 1, B 2
    assert rows(low) == [(1, "A", 1.0, {"asr": 1, "kws": 1}, ()),
                         (2, "B", 1.5, {"asr": 1, "kws": 2}, ())]
    high = ranking.tiers["discriminative"]["high"]
    assert rows(high) == [(1, "C", 1.0, {"asr": 1, "kws": 1}, ()),
                          (None, "D", None, {"kws": 2}, ("asr",))]


def test_equal_mean_ranks_share_a_position() -> None:
    table = [r("A", "low", "asr", "wer", 0.1, False), r("B", "low", "asr", "wer", 0.2, False),
             r("A", "low", "kws", "accuracy", 0.5, True),
             r("B", "low", "kws", "accuracy", 0.6, True)]
    board = rank_results(table, boards=BOARDS).boards["discriminative"]
    assert [(x.position, x.tokenizer, x.mean_rank) for x in board.rows] == [
        (1, "A", 1.5), (1, "B", 1.5)]


def test_declared_primary_metric_changes_the_ranking() -> None:
    ranking = rank_results(hand_table(), primary={"asr": "cer"}, boards=BOARDS)
    asr = ranking.boards["discriminative"].tasks[0]
    assert asr.metric == "cer"
    assert [(s.tokenizer, s.rank) for s in asr.scores] == [("C", 1), ("A", 2)]


def test_errors_and_edge_cases() -> None:
    with pytest.raises(ValueError, match=r"no metric 'mos'; recorded: \['wer', 'cer'\]"):
        rank_results(hand_table(), primary={"asr": "mos"}, boards=BOARDS)
    with pytest.raises(ValueError, match="span runs"):
        rank_results([*hand_table(), r("A", "low", "asr", "wer", 0.1, False, run="r2")],
                     boards=BOARDS)
    with pytest.raises(ValueError, match="higher_is_better"):
        rank_results([r("A", "low", "asr", "wer", 0.1, False),
                      r("B", "low", "asr", "wer", 0.2, True)], boards=BOARDS)
    with pytest.raises(ValueError, match="task 'odd': unknown board"):
        rank_results([r("A", "low", "odd", "x", 0.1, False)])
    only_cost = rank_results([r("A", "low", "cost", "bitrate_bps", 5.0, False)])
    assert only_cost.boards == {}
    assert primary_metrics(hand_table(), exclude_tasks=()) == {
        "asr": "wer", "kws": "accuracy", "tts": "cer", "enh": "pesq", "cost": "bitrate_bps"}
    # registry tasks need no board mapping
    named = rank_results([r("A", "low", "asr-synth", "cer", 0.1, False),
                          r("A", "low", "resynth-synth", "pesq", 2.0, True)])
    assert list(named.boards) == ["discriminative", "generative"]
