"""The rest of the public surface: wav2vec2 / data2vec tokenizers (tiny random-init models
saved locally), `audiotokens list`, `python -m audiotokens`, `bench --full` argument parsing
and the attention combine of a head trained end to end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import audiotokens as at
from audiotokens.cli import main
from audiotokens.data import ManifestItem, read_manifest
from audiotokens.testing import save_tiny_ssl, write_test_corpus
from audiotokens.tokenizers.registry import REGISTRY

pytestmark = pytest.mark.usefixtures("single_thread")
SRC = Path(__file__).resolve().parents[1] / "src"


def run(capsys, *argv: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out + out.err


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_test_corpus(tmp_path_factory.mktemp("corpus"), 6, min_seconds=0.6,
                             max_seconds=1.2)


@pytest.mark.parametrize("kind", ["wav2vec2", "data2vec"])
def test_wav2vec2_and_data2vec_fit_encode_save_load(kind, corpus, tmp_path) -> None:
    model = save_tiny_ssl(kind, tmp_path / kind, layer_norm=True)
    tok = at.load_tokenizer(kind, model=str(model), layers=[1, 3], k=8)
    tok.fit(corpus)
    info = tok.info
    assert info.frame_rate == 50.0 and info.vocab_sizes == (8, 8)
    assert info.codebook_names == ("layer1", "layer3") and info.source == f"{kind}:{model}"
    items = read_manifest(corpus)
    audio = [at.load_audio(it.path, 16000).samples for it in items]
    singles = [tok.encode(x, 16000) for x in audio]
    for x, t in zip(audio, singles, strict=True):
        assert t.codes.shape == ((len(x) - 400) // 320 + 1, 2)  # CNN: 25 ms window, 20 ms hop
        t.validate()
    assert len(np.unique(np.concatenate([t.codes[:, 0] for t in singles]))) > 2
    # layer-norm models take an attention mask; data2vec's stacked positional convolutions
    # (2 x kernel 5 here) still let the padding reach a padded item's last 2 frames
    edge = 2 if kind == "data2vec" else 0
    batch = tok.encode_batch(audio, 16000)
    for t, b in zip(singles, batch.items(), strict=True):
        assert b.codes.shape == t.codes.shape
        keep = len(t.codes) - edge
        np.testing.assert_array_equal(t.codes[:keep], b.codes[:keep])
    loaded = at.load_tokenizer(tok.save(tmp_path / "saved"))
    np.testing.assert_array_equal(loaded.encode(audio[0], 16000).codes, singles[0].codes)


def test_list_shows_every_registered_tokenizer(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out = run(capsys, "list")
    assert code == 0
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in out.splitlines() if line.count("│") >= 3}
    names = REGISTRY.names()
    assert {n: rows.get(n) for n in names} == {n: REGISTRY.get(n).summary for n in names}


def _python_m(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "audiotokens", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_python_m_audiotokens_runs_the_cli(tmp_path, capsys) -> None:
    code, out = run(capsys, "--help")
    assert code == 0
    for command in ("fit", "encode", "bench", "list", "info", "resynth", "report", "data"):
        assert re.search(rf"│ {command}\s", out), command
    # one subprocess (they are slow here): the module entry point and its error handling
    bad = _python_m("fit", "no-such", "-m", str(tmp_path / "none.jsonl"), "--out",
                    str(tmp_path / "t"))
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "manifest not found" in bad.stderr and "Traceback" not in bad.stderr


class _Captured(Exception):
    pass


def _bench_config(monkeypatch, capsys, *argv: str):
    """The BenchConfig that `audiotokens bench ARGV` builds (nothing is run)."""
    from audiotokens.bench import runner

    seen = []

    def fake(cfg, *args, **kwargs):
        seen.append(cfg)
        raise _Captured

    monkeypatch.setattr(runner, "run_benchmark", fake)
    with pytest.raises(_Captured):
        main(["bench", *argv])
    capsys.readouterr()
    return seen[0]


def test_bench_full_arguments(monkeypatch, capsys, tmp_path) -> None:
    from audiotokens.bench.runner import FULL_TRAIN, QUICK_TRAIN, default_train
    from audiotokens.bench.tasks import make_task

    cfg = _bench_config(monkeypatch, capsys, "--full", "--out", str(tmp_path), "--seeds", "2",
                        "-t", "mel-kmeans,hubert:model=m:layers=[3,7]", "-t", "mulaw",
                        "--tasks", "asr-synth,prosody-proxy", "--max-items", "5")
    assert cfg.full and cfg.seeds == 2 and cfg.max_items == 5 and cfg.out == tmp_path
    assert cfg.tokenizers == ("mel-kmeans", "hubert:model=m:layers=[3,7]", "mulaw")
    assert cfg.tasks == ("asr-synth", "prosody-proxy")
    assert cfg.train is None  # the runner picks the full settings per task
    assert default_train(make_task("prosody-proxy"), cfg.full) == FULL_TRAIN

    steps = _bench_config(monkeypatch, capsys, "--full", "--steps", "40", "--out", str(tmp_path))
    assert steps.full and steps.train.max_steps == 40
    assert steps.train.eval_every == min(FULL_TRAIN.eval_every, 40)
    assert steps.train.batch_size == FULL_TRAIN.batch_size
    quick = _bench_config(monkeypatch, capsys, "--steps", "40", "--out", str(tmp_path))
    assert not quick.full and quick.train.batch_size == QUICK_TRAIN.batch_size
    if FULL_TRAIN.patience != QUICK_TRAIN.patience:
        assert steps.train.patience == FULL_TRAIN.patience

    code, out = run(capsys, "bench", "--full", "--tasks", "no-such", "--out", str(tmp_path))
    assert code == 2 and "unknown task(s) ['no-such']" in out


def test_attention_combine_learns_which_codebook_carries_the_label() -> None:
    """Codebook 1 carries the class (ids 4c..4c+3), codebook 0 is noise: a head trained with
    combine="attention" classifies held-out speakers and weights codebook 1 most."""
    import torch

    from audiotokens.bench.features import InputSpec
    from audiotokens.bench.tasks import make_task
    from audiotokens.bench.tasks.loop import TrainConfig, train_and_evaluate

    rng = np.random.default_rng(0)
    items, arrays = [], {}
    for spk in range(6):
        for n in range(12):
            label = n % 3
            item = ManifestItem(f"s{spk}-{n}", f"s{spk}-{n}.wav", 1.0, speaker=f"s{spk}",
                                label=str(label))
            t = int(rng.integers(20, 40))
            arrays[item.id] = np.stack([rng.integers(0, 12, t),
                                        4 * label + rng.integers(0, 4, t)], axis=1)
            items.append(item)
    task = make_task("emotion")
    data = task.prepare(items)
    spec = InputSpec("tokens", 50.0, (12, 12), ("noise", "label"))
    torch.manual_seed(0)
    cfg = TrainConfig(max_steps=120, eval_every=40, batch_size=16, dim=16, hidden=16,
                      combine="attention", lr=5e-3)
    result = train_and_evaluate(task, data, arrays, spec, cfg)
    assert result.metrics["accuracy"] >= 0.9, result.metrics  # chance: 1/3
    weights = result.codebook_weights
    assert weights is not None and len(weights) == 2
    assert sum(weights) == pytest.approx(1.0, abs=1e-5)
    assert weights[1] > 0.6 > weights[0], weights
