"""The seed's claims checked on hand-made results: holds, does not hold, inconclusive
(overlapping CIs, one seed) and not measured."""

from __future__ import annotations

from audiotokens.bench.db import Result
from audiotokens.bench.findings import compare_groups, seed_findings
from audiotokens.bench.ranking import rank_results

BOARDS = {"asr": "discriminative", "kws": "discriminative", "spkid-x": "discriminative"}
FAMILIES = {"sem": "semantic", "cod": "codec", "cont": "continuous"}


def seeds(tok: str, task: str, metric: str, values: list[float], hib: bool) -> list[Result]:
    tier = {"sem": "low", "cod": "medium", "cont": "continuous"}[tok]
    return [Result("r", tok, tier, task, metric, v, i, hib) for i, v in enumerate(values)]


def table() -> list[Result]:
    """asr (cer, lower): sem 0.30 clearly better than cod 0.50; cont 0.20 best.
    kws (accuracy): sem 0.90 clearly better than cod 0.60; cont 0.95.
    spkid-x (accuracy): cod 0.80 overlaps sem 0.78; cont 0.79 overlaps both."""
    return [
        *seeds("sem", "asr", "cer", [0.29, 0.30, 0.31], False),
        *seeds("cod", "asr", "cer", [0.49, 0.50, 0.51], False),
        *seeds("cont", "asr", "cer", [0.19, 0.20, 0.21], False),
        *seeds("sem", "kws", "accuracy", [0.89, 0.90, 0.91], True),
        *seeds("cod", "kws", "accuracy", [0.59, 0.60, 0.61], True),
        *seeds("cont", "kws", "accuracy", [0.94, 0.95, 0.96], True),
        *seeds("sem", "spkid-x", "accuracy", [0.70, 0.78, 0.86], True),
        *seeds("cod", "spkid-x", "accuracy", [0.72, 0.80, 0.88], True),
        *seeds("cont", "spkid-x", "accuracy", [0.71, 0.79, 0.87], True),
    ]


def test_verdicts_from_hand_made_results() -> None:
    ranking = rank_results(table(), boards=BOARDS)
    found = {f.claim.split(" ")[0]: f for f in seed_findings(ranking, FAMILIES)}
    assert found["Semantic"].verdict == "holds"  # better on asr and kws, tie on spkid
    assert [c.outcome for c in found["Semantic"].comparisons] == ["better", "better", "tie"]
    assert found["Codec"].verdict == "inconclusive"  # spkid only: CIs overlap
    assert found["Discrete"].verdict == "holds"  # continuous better on asr and kws
    for claim in ("1000-2000", "In-domain", "Initialising"):
        assert found[claim].verdict == "not measured" and "study" in found[claim].evidence


def test_does_not_hold_and_one_seed_and_missing_groups() -> None:
    ranking = rank_results(table(), boards=BOARDS)
    disc = list(ranking.boards["discriminative"].tasks)
    flipped = compare_groups("codec beats semantic", disc, {"cod"}, {"sem"}, ("codec", "sem"))
    assert flipped.verdict == "does not hold"  # worse on 2 of 3
    one = rank_results([r for r in table() if r.seed == 0], boards=BOARDS)
    single = compare_groups("x", list(one.boards["discriminative"].tasks), {"sem"}, {"cod"},
                            ("semantic", "codec"))
    assert single.verdict == "inconclusive" and single.evidence.startswith("one seed")
    none = compare_groups("x", disc, {"sem"}, {"absent"}, ("semantic", "absent"))
    assert none.verdict == "not measured"
