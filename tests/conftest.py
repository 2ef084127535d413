"""Shared fixtures: paths to the real speech in ../shared/data (skipped cleanly if absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_corpus(name: str) -> Path:
    """Path to ../shared/data/<name>, or skip the test with the reason."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real speech not available: {path} is missing")
    return path


@pytest.fixture
def fsdd_root() -> Path:
    return shared_corpus("fsdd")


@pytest.fixture
def librispeech_root() -> Path:
    return shared_corpus("librispeech_test_other_10spk")


@pytest.fixture
def ljspeech_root() -> Path:
    return shared_corpus("ljspeech_32")
