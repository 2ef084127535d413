"""Option values the commands share: comma-separated numbers, refused in one line."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import typer

__all__ = ["comma_numbers"]

N = TypeVar("N", int, float)


def comma_numbers(text: str, option: str, convert: Callable[[str], N] = int,
                  what: str = "numbers", example: str = "") -> tuple[N, ...]:
    """``"1, 3,5"`` -> ``(1, 3, 5)`` (empty parts skipped); a part ``convert`` refuses is a
    :class:`typer.BadParameter` for ``option`` naming ``what`` is expected."""
    try:
        return tuple(convert(x) for x in text.split(",") if x.strip())
    except ValueError:
        like = f" like {example}" if example else ""
        raise typer.BadParameter(f"expected comma-separated {what}{like}, got {text!r}",
                                 param_hint=option) from None
