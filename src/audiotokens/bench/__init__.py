"""The benchmark (DASB-style): downstream heads and tasks, the runner, and the results side.

Results side: :mod:`.db` (SQLite results, aggregation over seeds), :mod:`.ranking`
(leaderboards), :mod:`.cost` (bitrate / time / memory / parameters), :mod:`.report` (HTML).
Only the light, stdlib-only results API is re-exported here; import heavier modules directly.
"""

from .db import Artifact, CellSummary, Result, ResultsDB, ResultsDBError, summarize
from .ranking import Leaderboard, LeaderboardRow, Ranking, rank_results

__all__ = [
    "Artifact",
    "CellSummary",
    "Leaderboard",
    "LeaderboardRow",
    "Ranking",
    "Result",
    "ResultsDB",
    "ResultsDBError",
    "rank_results",
    "summarize",
]
