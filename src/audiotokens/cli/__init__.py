"""The ``audiotokens`` command. Thin: each sub-module registers its commands; heavy imports
happen inside commands so ``audiotokens --help`` answers instantly."""

from __future__ import annotations

import sys

import typer

from . import analyze as _analyze
from . import bench as _bench
from . import data as _data
from . import info as _info
from . import llm as _llm
from . import report as _report
from . import resynth as _resynth
from . import ssl as _ssl
from . import study as _study
from . import tokens as _tokens

__all__ = ["app", "main"]

app = typer.Typer(
    name="audiotokens",
    help="Turn audio into discrete tokens for LLMs, and measure how good the tokens are.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for _module in (_info, _data, _report, _tokens, _resynth, _bench, _analyze, _llm, _ssl,
                _study):
    _module.register(app)


def _user_errors() -> tuple[type[BaseException], ...]:
    from ..analysis.phones import AnalysisError
    from ..audio import AudioError
    from ..bench.db import ResultsDBError
    from ..bench.runner import BenchError
    from ..data.manifest import ManifestError
    from ..encode import EncodeError
    from ..ssl import SSLError
    from ..tokenizers.base import TokenizerError

    return (AnalysisError, AudioError, BenchError, EncodeError, ManifestError, ResultsDBError,
            SSLError, TokenizerError, FileNotFoundError, NotADirectoryError, FileExistsError)


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app; known user errors print one line and exit with status 2."""
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit:  # typer's normal exit: no need to import the error types (torch)
        raise
    except _user_errors() as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        sys.exit(2)
