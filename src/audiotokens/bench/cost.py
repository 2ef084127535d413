"""What a tokenizer costs: bitrate, encode/decode time and peak memory per 16 s, parameters.

Measured on a deterministic speech-like signal (:func:`speech_like_signal`), so numbers are
comparable across tokenizers and runs. Each of encode and decode runs twice: a first call
measures peak memory (cold: includes one-time allocations such as workspace buffers, which is
what a user pays once), a second call is timed (warm).

Peak memory, honestly (``CostReport.memory_method`` says which applied). On CPU the peak is
``max(resident-set growth, tracemalloc peak)`` over the call, after ``gc.collect()`` and glibc
``malloc_trim(0)`` so freed heap pages do not hide new allocations:
- ``"rss-peak"`` (Linux): the process's peak RSS is reset to the current RSS
  (``/proc/self/clear_refs`` = 5) before the call; growth = ``VmHWM - VmRSS_before``. It sees
  numpy, torch CPU and native-library allocations alike, but only memory newly made resident.
- ``"maxrss-delta"`` (elsewhere): growth of ``ru_maxrss``, which only shows when the call
  exceeds the process's lifetime peak (often 0).
- tracemalloc sees Python and numpy allocations exactly (numpy reports to it), not torch's.
Both are lower bounds of the true peak, so the larger is reported.
- ``"cuda-allocated"`` (tokenizer on a CUDA device): ``torch.cuda.max_memory_allocated``
  minus the memory allocated before the call (tensors only; not the allocator's cache or the
  CUDA context). Host memory is then not counted.

Parameters: ``n_params`` counts the distinct torch parameters the tokenizer holds. A tokenizer
can declare them with an optional ``modules() -> list[torch.nn.Module]`` method; without it its
attributes (and lists/dicts/project objects inside them, a few levels deep) are scanned.
"""

from __future__ import annotations

import ctypes
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .db import Result

__all__ = ["CallCost", "CostReport", "measure_call", "measure_cost", "speech_like_signal",
           "count_parameters", "peak_rss_bytes", "COST_TASK", "REFERENCE_SECONDS"]

COST_TASK = "cost"
REFERENCE_SECONDS = 16.0
_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


@dataclass(frozen=True)
class CostReport:
    """Costs of one tokenizer. Times are seconds per 16 s of audio (``REFERENCE_SECONDS``);
    peaks are MiB for one call on ``audio_seconds`` of audio (not rescaled);
    ``decode_*`` is None when the tokenizer has no decoder."""

    tokenizer: str
    device: str
    sample_rate: int
    audio_seconds: float
    bitrate_bps: float
    encode_seconds: float
    decode_seconds: float | None
    encode_peak_mb: float
    decode_peak_mb: float | None
    n_params: int
    memory_method: str

    def to_results(self, run: str, tokenizer_label: str, tier: str, seed: int = 0) -> list[Result]:
        """Rows for the results DB, task ``"cost"``; every metric is lower-is-better."""
        wall = self.encode_seconds + (self.decode_seconds or 0.0)
        peak = max(self.encode_peak_mb, self.decode_peak_mb or 0.0)
        metrics: list[tuple[str, float | None]] = [
            ("bitrate_bps", self.bitrate_bps),
            ("encode_seconds_per_16s", self.encode_seconds),
            ("decode_seconds_per_16s", self.decode_seconds),
            ("encode_peak_mb", self.encode_peak_mb),
            ("decode_peak_mb", self.decode_peak_mb),
            ("n_params", float(self.n_params)),
        ]
        return [Result(run, tokenizer_label, tier, COST_TASK, name, float(value), seed,
                       higher_is_better=False, wall_seconds=wall, peak_mem_mb=peak)
                for name, value in metrics if value is not None]


def speech_like_signal(seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """A deterministic speech-like test signal: float32 [round(seconds * sample_rate)].

    Syllables of 150-350 ms: a glottal harmonic series (f0 ~90-180 Hz with declination and
    per-syllable jitter) shaped by vowel formants (F1-F3), hann syllable envelopes, fricative
    noise onsets and short pauses. Peak 0.9. Same (seconds, sample_rate, seed) -> same samples.
    """
    if seconds <= 0 or sample_rate <= 0:
        raise ValueError(f"seconds and sample_rate must be positive, got {seconds}, {sample_rate}")
    rng = np.random.default_rng(seed)
    n = max(1, round(seconds * sample_rate))
    vowels = np.array([[730, 1090, 2440], [270, 2290, 3010], [530, 1840, 2480],
                       [570, 840, 2410], [300, 870, 2240], [660, 1720, 2410]], dtype=np.float64)
    env = np.zeros(n)
    noise_env = np.zeros(n)
    formants = np.zeros((n, 3))
    f0 = np.zeros(n)
    pos, count = 0, 0
    while pos < n:
        length = int(rng.uniform(0.15, 0.35) * sample_rate)
        end = min(n, pos + length)
        span = end - pos
        env[pos:end] = np.hanning(span + 2)[1:-1] if span > 0 else 0.0
        formants[pos:end] = vowels[rng.integers(len(vowels))]
        f0[pos:end] = (150.0 - 40.0 * pos / n) * rng.uniform(0.85, 1.2)
        if rng.random() < 0.4:  # a fricative onset
            burst = min(span, int(rng.uniform(0.04, 0.08) * sample_rate))
            noise_env[pos:pos + burst] = np.hanning(burst + 2)[1:-1] if burst > 0 else 0.0
        pos = end
        count += 1
        if count % 6 == 0:  # a pause between phrases
            pos += int(rng.uniform(0.1, 0.3) * sample_rate)
    kernel = np.hanning(max(3, int(0.03 * sample_rate)))
    kernel /= kernel.sum()
    f0 = np.convolve(np.where(f0 > 0, f0, 120.0), kernel, mode="same")
    formants = np.stack([np.convolve(np.where(formants[:, i] > 0, formants[:, i], vowels[0, i]),
                                     kernel, mode="same") for i in range(3)], axis=1)
    rotor = np.exp(1j * (2 * np.pi * np.cumsum(f0) / sample_rate)).astype(np.complex64)
    harmonic = rotor.copy()  # rotor ** k, advanced one harmonic per loop step
    hop = max(1, sample_rate // 500)  # formant gains change slowly: evaluate every 2 ms
    f0_c, formants_c = f0[::hop, None], formants[::hop]
    voiced = np.zeros(n, dtype=np.float32)
    top = min(5000.0, 0.45 * sample_rate)
    bandwidths = np.array([90.0, 120.0, 180.0])
    for k in range(1, int(top / f0.min()) + 1):
        freq = k * f0_c
        gain = np.exp(-0.5 * ((freq - formants_c) / bandwidths) ** 2) @ [1.0, 0.6, 0.3]
        amp = np.where(freq[:, 0] < top, (gain + 0.02) / k, 0.0).astype(np.float32)
        voiced += np.repeat(amp, hop)[:n] * harmonic.imag
        harmonic *= rotor
    noise = np.diff(rng.standard_normal(n + 1))  # first difference: a high-tilted hiss
    signal = env * voiced / max(np.abs(voiced).max(), 1e-9) + 0.3 * noise_env * noise / 2.0
    signal += 1e-3 * rng.standard_normal(n)
    return (0.9 * signal / max(np.abs(signal).max(), 1e-9)).astype(np.float32)


def count_parameters(tokenizer: Any) -> int:
    """Distinct torch parameters held by ``tokenizer`` (its ``modules()`` or an attribute scan)."""
    if "torch" not in sys.modules:
        return 0  # nothing imported torch, so nothing holds torch parameters
    import torch

    if callable(getattr(tokenizer, "modules", None)):
        modules = list(tokenizer.modules())
    else:
        modules = []
        _scan(vars(tokenizer), modules, set(), depth=0, nn=torch.nn)
    params = {id(p): p.numel() for m in modules for p in m.parameters()}
    return int(sum(params.values()))


def _scan(value: Any, found: list[Any], seen: set[int], depth: int, nn: Any) -> None:
    """Collect nn.Modules inside ``value``: dicts, lists, tuples and audiotokens objects."""
    if id(value) in seen or depth > 4:
        return
    seen.add(id(value))
    if isinstance(value, nn.Module):
        found.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _scan(item, found, seen, depth + 1, nn)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _scan(item, found, seen, depth + 1, nn)
    elif type(value).__module__.startswith("audiotokens") and hasattr(value, "__dict__"):
        _scan(vars(value), found, seen, depth + 1, nn)


@dataclass(frozen=True)
class CallCost:
    """One measured call: its ``output``, wall ``seconds``, ``peak_mb`` (MiB) and the
    ``memory_method`` used (see the module docstring)."""

    output: Any
    seconds: float
    peak_mb: float
    memory_method: str


def _read_status_kib(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"{_STATUS} has no {field}")


def _rss_reset_works() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        _read_status_kib("VmHWM")
    except OSError:
        return False
    return True


def _memory_method(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            return "cuda-allocated"
    return "rss-peak" if _rss_reset_works() else "maxrss-delta"


def _maxrss_bytes() -> int:
    """The process's lifetime peak RSS in bytes (0 where ``resource`` is missing: Windows)."""
    try:
        import resource
    except ImportError:
        return 0
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, else KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def peak_rss_bytes() -> int:
    """This process's peak resident memory in bytes: VmHWM where /proc has it (Linux; unlike
    ``ru_maxrss`` it is not inherited from the parent across fork + exec), else
    ``ru_maxrss``."""
    try:
        return _read_status_kib("VmHWM") * 1024
    except OSError:
        return _maxrss_bytes()


def _release_free_memory() -> None:
    """Collect garbage and hand free heap pages back to the OS (glibc ``malloc_trim``), so a
    later allocation shows up as new resident memory instead of reusing resident pages."""
    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass  # not glibc (e.g. musl): RSS growth stays a lower bound


def _run(fn: Callable[[], Any], method: str, device: str, memory: bool = True,
         trace: bool = False) -> CallCost:
    """Call ``fn`` once: its output, wall seconds and (when ``memory``) peak MiB by ``method``.

    ``trace`` adds tracemalloc (exact for numpy, slows Python-heavy code: not for timing).
    """
    cuda = method == "cuda-allocated"
    if cuda:
        import torch

        dev = torch.device(device)
    base = traced_base = 0
    was_tracing = tracemalloc.is_tracing()
    if memory and cuda:
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
    elif memory:
        _release_free_memory()
        if trace:
            if not was_tracing:
                tracemalloc.start()
            tracemalloc.reset_peak()
            traced_base = tracemalloc.get_traced_memory()[0]
        if method == "rss-peak":
            _CLEAR_REFS.write_text("5")
            base = _read_status_kib("VmRSS") * 1024
        else:
            base = _maxrss_bytes()
    start = time.perf_counter()
    try:
        output = fn()
        if cuda:
            torch.cuda.synchronize(dev)
        seconds = time.perf_counter() - start
    finally:
        traced_peak = 0
        if memory and trace and not cuda:
            traced_peak = tracemalloc.get_traced_memory()[1] - traced_base
            if not was_tracing:
                tracemalloc.stop()
    if not memory:
        return CallCost(output, seconds, 0.0, method)
    if cuda:
        peak = torch.cuda.max_memory_allocated(dev)
    else:
        peak = _read_status_kib("VmHWM") * 1024 if method == "rss-peak" else _maxrss_bytes()
    return CallCost(output, seconds, max(0, peak - base, traced_peak) / 2**20, method)


def measure_call(fn: Callable[[], Any], device: str = "cpu",
                 trace_python: bool = False) -> CallCost:
    """Run ``fn()`` once, timing it and measuring its peak memory as described above.

    For work that is not a tokenizer call (e.g. training a downstream head): ``device`` picks
    the memory method (CUDA allocator on "cuda*", else RSS); ``trace_python`` also runs
    tracemalloc, which is exact for numpy but slows Python-heavy code and so the timing.
    """
    return _run(fn, _memory_method(device), device, memory=True, trace=trace_python)


def measure_cost(tokenizer: Any, seconds: float = REFERENCE_SECONDS,
                 sample_rate: int | None = None) -> CostReport:
    """Measure a :class:`~audiotokens.tokenizers.base.Tokenizer` on ``seconds`` of test signal.

    ``sample_rate`` is the rate the signal is fed at (default: the tokenizer's own, so no
    resampling is timed). Times are scaled to seconds per 16 s of audio.
    """
    from ..tokenizers.base import NoDecoderError

    info = tokenizer.info
    rate = int(sample_rate or info.sample_rate)
    samples = speech_like_signal(seconds, rate)
    device = str(getattr(tokenizer, "device", "cpu"))
    method = _memory_method(device)
    scale = REFERENCE_SECONDS / seconds
    first = _run(lambda: tokenizer.encode(samples, rate), method, device, trace=True)
    timed = _run(lambda: tokenizer.encode(samples, rate), method, device, memory=False)
    decode_seconds = decode_peak = None
    if info.has_decoder:
        try:
            dec_first = _run(lambda: tokenizer.decode(first.output), method, device, trace=True)
            dec_timed = _run(lambda: tokenizer.decode(first.output), method, device, memory=False)
        except NoDecoderError:
            pass
        else:
            decode_seconds, decode_peak = dec_timed.seconds * scale, dec_first.peak_mb
    return CostReport(
        tokenizer=tokenizer.name, device=device, sample_rate=rate, audio_seconds=float(seconds),
        bitrate_bps=float(info.bitrate_bps), encode_seconds=timed.seconds * scale,
        decode_seconds=decode_seconds, encode_peak_mb=first.peak_mb, decode_peak_mb=decode_peak,
        n_params=count_parameters(tokenizer), memory_method=method,
    )
