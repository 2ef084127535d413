"""Leaderboards checked exactly against a hand-ranked results table."""

from __future__ import annotations

import pytest

from audiotokens.bench.db import Result
from audiotokens.bench.ranking import average_ranks, primary_metrics, rank_results


def r(tok: str, tier: str, task: str, metric: str, value: float, hib: bool, seed: int = 0,
      run: str = "r1") -> Result:
    return Result(run, tok, tier, task, metric, value, seed, hib)


def hand_table() -> list[Result]:
    """A, B tier low; C, D tier high. asr: wer (lower better, first recorded) then cer;
    kws: accuracy (higher better; D has none); tts: dnsmos (only C and D have a decoder)."""
    return [
        r("A", "low", "asr", "wer", 0.20, False, seed=0),
        r("A", "low", "asr", "cer", 0.07, False, seed=0),
        r("A", "low", "asr", "wer", 0.30, False, seed=1),  # A's mean wer 0.25
        r("A", "low", "asr", "cer", 0.09, False, seed=1),  # A's mean cer 0.08
        r("B", "low", "asr", "wer", 0.25, False),  # ties A
        r("B", "low", "asr", "cer", 0.09, False),
        r("C", "high", "asr", "wer", 0.10, False),
        r("C", "high", "asr", "cer", 0.05, False),
        r("D", "high", "asr", "wer", 0.40, False),
        r("D", "high", "asr", "cer", 0.03, False),
        r("A", "low", "kws", "accuracy", 0.9, True),
        r("B", "low", "kws", "accuracy", 0.8, True),
        r("C", "high", "kws", "accuracy", 0.9, True),  # ties A
        r("C", "high", "tts", "dnsmos", 3.5, True),
        r("D", "high", "tts", "dnsmos", 3.0, True),
        r("A", "low", "cost", "bitrate_bps", 1000.0, False),  # not a quality task
        r("D", "high", "cost", "bitrate_bps", 1.0, False),
    ]


def rows(board) -> list[tuple]:
    return [(x.position, x.tokenizer, x.bitrate_tier, x.mean_rank, x.ranks, x.missing)
            for x in board.rows]


def test_average_ranks_with_ties() -> None:
    assert average_ranks([3, 1, 3, 2], higher_is_better=True) == [1.5, 4, 1.5, 3]
    assert average_ranks([3, 1, 3, 2], higher_is_better=False) == [3.5, 1, 3.5, 2]
    assert average_ranks([5, 5, 5], higher_is_better=True) == [2, 2, 2]
    assert average_ranks([], higher_is_better=True) == []


def test_overall_leaderboard_matches_hand_ranking() -> None:
    ranking = rank_results(hand_table())
    assert ranking.primary == {"asr": "wer", "kws": "accuracy", "tts": "dnsmos"}
    # asr (wer, lower): C 1, A = B tie for 2-3 -> 2.5, D 4
    # kws (acc, higher): A = C tie for 1-2 -> 1.5, B 3; D missing
    # tts (dnsmos, higher): C 1, D 2; A, B missing
    assert rows(ranking.overall) == [
        (1, "C", "high", pytest.approx(3.5 / 3), {"asr": 1.0, "kws": 1.5, "tts": 1.0}, ()),
        (2, "A", "low", 2.0, {"asr": 2.5, "kws": 1.5}, ("tts",)),
        (3, "B", "low", 2.75, {"asr": 2.5, "kws": 3.0}, ("tts",)),
        (4, "D", "high", 3.0, {"asr": 4.0, "tts": 2.0}, ("kws",)),
    ]
    asr = ranking.overall.tasks[0]
    assert (asr.task, asr.metric, asr.higher_is_better) == ("asr", "wer", False)
    assert [(s.tokenizer, s.value, s.rank) for s in asr.scores] == [
        ("C", 0.10, 1.0), ("A", 0.25, 2.5), ("B", 0.25, 2.5), ("D", 0.40, 4.0)]
    assert [t.task for t in ranking.overall.tasks] == ["asr", "kws", "tts"]


def test_per_tier_leaderboards_match_hand_ranking() -> None:
    ranking = rank_results(hand_table())
    assert list(ranking.tiers) == ["high", "low"]
    low = ranking.tiers["low"]
    # low: asr A = B -> 1.5 each; kws A 1, B 2; nobody in the tier has tts
    assert [t.task for t in low.tasks] == ["asr", "kws"]
    assert rows(low) == [
        (1, "A", "low", 1.25, {"asr": 1.5, "kws": 1.0}, ("tts",)),
        (2, "B", "low", 1.75, {"asr": 1.5, "kws": 2.0}, ("tts",)),
    ]
    assert rows(ranking.tiers["high"]) == [
        (1, "C", "high", 1.0, {"asr": 1.0, "kws": 1.0, "tts": 1.0}, ()),
        (2, "D", "high", 2.0, {"asr": 2.0, "tts": 2.0}, ("kws",)),
    ]


def test_declared_primary_metric_changes_the_ranking() -> None:
    ranking = rank_results(hand_table(), primary={"asr": "cer"})
    # cer (lower): D 0.03 -> 1, C 0.05 -> 2, A 0.08 -> 3, B 0.09 -> 4
    assert ranking.primary["asr"] == "cer"
    assert {x.tokenizer: x.ranks["asr"] for x in ranking.overall.rows} == {
        "D": 1.0, "C": 2.0, "A": 3.0, "B": 4.0}
    # means: C (2 + 1.5 + 1) / 3 = 1.5, D (1 + 2) / 2 = 1.5, A 2.25, B 3.5
    # C and D tie on mean rank: C is missing fewer tasks, so C first
    assert [(x.tokenizer, x.mean_rank) for x in ranking.overall.rows] == [
        ("C", 1.5), ("D", 1.5), ("A", 2.25), ("B", 3.5)]


def test_errors_and_edge_cases() -> None:
    with pytest.raises(ValueError, match=r"no metric 'mos'; recorded: \['wer', 'cer'\]"):
        rank_results(hand_table(), primary={"asr": "mos"})
    with pytest.raises(ValueError, match="span runs"):
        rank_results([*hand_table(), r("A", "low", "asr", "wer", 0.1, False, run="r2")])
    with pytest.raises(ValueError, match="higher_is_better"):
        rank_results([r("A", "low", "asr", "wer", 0.1, False), r("B", "low", "asr", "wer",
                                                                  0.2, True)])
    only_cost = rank_results([r("A", "low", "cost", "bitrate_bps", 5.0, False)])
    assert only_cost.overall.tasks == () and only_cost.overall.rows == ()
    assert primary_metrics(hand_table(), exclude_tasks=()) == {
        "asr": "wer", "kws": "accuracy", "tts": "dnsmos", "cost": "bitrate_bps"}
    # an entry with only a secondary metric of a task is missing that task
    board = rank_results([r("A", "low", "asr", "wer", 0.1, False),
                          r("B", "low", "asr", "cer", 0.1, False)]).overall
    assert rows(board) == [(1, "A", "low", 1.0, {"asr": 1.0}, ()),
                           (2, "B", "low", None, {}, ("asr",))]
