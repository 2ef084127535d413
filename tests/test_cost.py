"""Cost measurement: test signal, parameters, peak memory, decoder/no decoder, DB rows."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from audiotokens.bench.cost import (
    COST_TASK,
    count_parameters,
    measure_call,
    measure_cost,
    speech_like_signal,
)
from audiotokens.bench.db import ResultsDB
from audiotokens.tokenizers.base import Tokenizer, TokenizerInfo, Tokens


@dataclass
class EnergyConfig:
    hop: int = 80
    allocate_mb: int = 0
    allocate_with: str = "torch"


class EnergyTokenizer(Tokenizer):
    """Frame log-energy in 16 levels at sample_rate / hop frames/s; decodes to a tone whose
    loudness follows the tokens. Holds a small torch MLP (in a dict) and can allocate a
    torch tensor of ``allocate_mb`` during encode (invisible to tracemalloc)."""

    name = "energy"
    Config = EnergyConfig

    def __init__(self, config: EnergyConfig, name: str | None = None) -> None:
        super().__init__(config, name)
        self.parts = {"mlp": torch.nn.Sequential(torch.nn.Linear(10, 4), torch.nn.Linear(4, 2))}

    @property
    def info(self) -> TokenizerInfo:
        return TokenizerInfo(self.name, "codec", 8000, 8000 / self.config.hop, (16,),
                             has_decoder=True)

    def encode(self, samples: np.ndarray, sample_rate: int) -> Tokens:
        return Tokens(self.levels(samples, sample_rate)[:, None], self.info)

    def levels(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        assert sample_rate == 8000
        if self.config.allocate_mb:
            lib = torch if self.config.allocate_with == "torch" else np
            block = lib.ones(self.config.allocate_mb * 2**20 // 4, dtype=lib.float32)  # touched
            assert float(block[-1]) == 1.0
        n = len(samples) // self.config.hop
        frames = samples[: n * self.config.hop].reshape(n, self.config.hop)
        level = np.log10(np.mean(frames**2, axis=1) + 1e-8)  # -8 .. 0
        return np.clip(np.round((level + 8) * 2), 0, 15).astype(np.int64)

    def decode(self, tokens: Tokens) -> np.ndarray:
        amp = 10 ** (tokens.codes[:, 0] / 4.0 - 4.0)
        t = np.arange(len(amp) * self.config.hop) / 8000
        return (np.repeat(amp, self.config.hop) * np.sin(2 * np.pi * 200 * t)).astype(np.float32)


class NoDecoderTokenizer(EnergyTokenizer):
    name = "nodec"

    @property
    def info(self) -> TokenizerInfo:
        return TokenizerInfo(self.name, "semantic", 8000, 100.0, (16, 4))

    def encode(self, samples: np.ndarray, sample_rate: int) -> Tokens:
        ids = self.levels(samples, sample_rate)
        return Tokens(np.stack([ids, ids % 4], axis=1), self.info)


class DeclaredModules(EnergyTokenizer):
    def modules(self) -> list[torch.nn.Module]:
        return [self.parts["mlp"][0]]


def frame_rms(x: np.ndarray, size: int) -> np.ndarray:
    n = len(x) // size
    return np.sqrt(np.mean(x[: n * size].reshape(n, size) ** 2, axis=1))


def test_speech_like_signal_is_deterministic_voiced_and_phrased() -> None:
    x = speech_like_signal(4.0, 16000)
    assert x.shape == (64000,) and x.dtype == np.float32
    assert np.abs(x).max() == pytest.approx(0.9, abs=1e-6)
    np.testing.assert_array_equal(x, speech_like_signal(4.0, 16000))
    assert not np.array_equal(x, speech_like_signal(4.0, 16000, seed=1))
    rms = frame_rms(x, 800)  # 50 ms frames
    assert (rms < 0.05 * rms.max()).mean() > 0.05  # pauses / syllable boundaries
    # the loudest 40 ms frame is voiced: an autocorrelation peak at a speech pitch period
    centre = int(np.argmax(frame_rms(x, 640))) * 640
    frame = x[centre: centre + 640].astype(np.float64)
    ac = np.correlate(frame, frame, "full")[639:]
    lags = np.arange(16000 // 250, 16000 // 70)
    assert ac[lags].max() > 0.5 * ac[0]
    with pytest.raises(ValueError, match="positive"):
        speech_like_signal(0.0, 16000)


def test_count_parameters_scans_attributes_or_uses_modules() -> None:
    mlp_params = (10 * 4 + 4) + (4 * 2 + 2)
    assert count_parameters(EnergyTokenizer(EnergyConfig())) == mlp_params
    assert count_parameters(DeclaredModules(EnergyConfig())) == 10 * 4 + 4
    tok = EnergyTokenizer(EnergyConfig())
    tok.alias = [tok.parts["mlp"]]  # the same module twice counts once
    assert count_parameters(tok) == mlp_params


def test_measure_cost_with_decoder() -> None:
    tok = EnergyTokenizer(EnergyConfig(hop=80))
    cost = measure_cost(tok, seconds=4.0)
    assert cost.bitrate_bps == pytest.approx(100 * 4.0)
    assert cost.sample_rate == 8000 and cost.audio_seconds == 4.0 and cost.device == "cpu"
    assert cost.encode_seconds > 0 and cost.decode_seconds is not None
    assert cost.decode_seconds > 0 and cost.decode_peak_mb is not None
    assert cost.n_params == (10 * 4 + 4) + (4 * 2 + 2) and cost.tokenizer == "energy"
    assert math.isfinite(cost.encode_peak_mb) and cost.encode_peak_mb >= 0
    if sys.platform.startswith("linux"):
        assert cost.memory_method == "rss-peak"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="rss-peak needs Linux /proc")
@pytest.mark.parametrize("library", ["torch", "numpy"])
def test_peak_memory_sees_transient_allocations(library) -> None:
    small = measure_cost(EnergyTokenizer(EnergyConfig()), seconds=2.0)
    big = measure_cost(EnergyTokenizer(EnergyConfig(allocate_mb=96, allocate_with=library)),
                       seconds=2.0)
    assert big.memory_method == "rss-peak"
    assert big.encode_peak_mb >= 90.0
    assert small.encode_peak_mb < 40.0


def test_no_decoder_and_results_rows(tmp_path) -> None:
    cost = measure_cost(NoDecoderTokenizer(EnergyConfig()), seconds=2.0)
    assert cost.decode_seconds is None and cost.decode_peak_mb is None
    assert cost.bitrate_bps == pytest.approx(100 * (4 + 2))
    rows = cost.to_results("r1", "nodec-100", "low")
    assert [r.metric for r in rows] == ["bitrate_bps", "encode_seconds_per_16s",
                                        "encode_peak_mb", "n_params"]
    assert {(r.run, r.tokenizer, r.bitrate_tier, r.task, r.seed) for r in rows} == {
        ("r1", "nodec-100", "low", COST_TASK, 0)}
    assert not any(r.higher_is_better for r in rows)
    assert rows[0].value == cost.bitrate_bps and rows[1].value == cost.encode_seconds
    with ResultsDB(tmp_path / "results.db") as db:
        db.add_cell(rows)
        assert db.results() == rows
        assert db.has_cell("r1", "nodec-100", COST_TASK, 0)


def test_decoder_rows_included() -> None:
    rows = measure_cost(EnergyTokenizer(EnergyConfig()), seconds=2.0).to_results("r", "e", "t")
    assert [r.metric for r in rows] == ["bitrate_bps", "encode_seconds_per_16s",
                                        "decode_seconds_per_16s", "encode_peak_mb",
                                        "decode_peak_mb", "n_params"]
    assert rows[0].wall_seconds == pytest.approx(rows[1].value + rows[2].value)


def test_mulaw_tokenizer_cost() -> None:
    from audiotokens.tokenizers.registry import load_tokenizer

    tok = load_tokenizer("mulaw")
    cost = measure_cost(tok, seconds=2.0)
    assert cost.bitrate_bps == pytest.approx(tok.info.sample_rate * 8)
    assert cost.n_params == 0
    assert (cost.decode_seconds is not None) == tok.info.has_decoder


def test_measure_call_returns_output_time_and_peak() -> None:
    def work() -> float:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB float64, touched
        return float(block.sum())

    for trace in (False, True):
        call = measure_call(work, "cpu", trace_python=trace)
        assert call.output == 64 * 2**20 // 8
        assert call.seconds > 0
        if sys.platform.startswith("linux"):
            assert call.memory_method == "rss-peak" and call.peak_mb >= 60.0
