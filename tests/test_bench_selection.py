"""Default task selection follows what a corpus holds; a task asked for by name that the
corpus cannot serve is a one-line user error."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiotokens.bench.runner import BenchConfig, BenchError, run_benchmark
from audiotokens.bench.tasks.loop import TrainConfig
from audiotokens.testing import ENERGY_ENTRY
from audiotokens.tokenizers.registry import Registry

TINY = TrainConfig(max_steps=2, eval_every=2, batch_size=4, dim=16)


def test_default_tasks_skip_asr_on_a_corpus_without_transcripts(
    librispeech_root: Path, tmp_path: Path
) -> None:
    cfg = BenchConfig(out=tmp_path, data=librispeech_root, tokenizers=("energy",), train=TINY,
                      cost=False, report=False, verbose=False, max_items=12, seeds=1,
                      vocoders=False)
    summary = run_benchmark(cfg, Registry([ENERGY_ENTRY]))
    tasks = {c.task for c in summary.cells}
    assert "asr-librispeech" not in tasks  # LibriSpeech copy here has no *.trans.txt
    assert "spkid-librispeech" in tasks


def test_asking_for_an_unservable_task_is_a_user_error(
    librispeech_root: Path, tmp_path: Path
) -> None:
    cfg = BenchConfig(out=tmp_path, data=librispeech_root, tokenizers=("energy",),
                      tasks=("asr-librispeech",), train=TINY, verbose=False, seeds=1,
                      vocoders=False)
    with pytest.raises(BenchError, match="asr-librispeech.*transcript"):
        run_benchmark(cfg, Registry([ENERGY_ENTRY]))
