"""Resynthesis quality: PESQ (wide-band and narrow-band, never mixed), STOI, SI-SDR and
log-mel distance between a reference and an estimate of the same utterance.

Every function takes ``(reference, estimate, sample_rate)``: mono float arrays [N] and [M] at
the same ``sample_rate`` (Hz). Both are trimmed to the shorter length (codecs pad to whole
frames); no delay compensation is done. Degenerate input (empty, silent reference, too short
for the measure, NaN) raises one-line ``ValueError`` naming the measure and the problem.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from functools import partial

import numpy as np

from .audio import resample

__all__ = [
    "MetricSummary",
    "ScoreTally",
    "ResynthMetrics",
    "PesqChoice",
    "pesq_primary",
    "pesq_score",
    "stoi_score",
    "si_sdr",
    "mel_distance",
    "resynth_metrics",
    "METRIC_NAMES",
    "DNSMOS",
    "DNSMOSScores",
    "dnsmos_available",
]

METRIC_NAMES = ("pesq_wb", "pesq_nb", "stoi", "si_sdr", "mel_distance")
_LABELS = {"pesq_wb": "PESQ-WB", "pesq_nb": "PESQ-NB", "stoi": "STOI", "si_sdr": "SI-SDR",
           "mel_distance": "mel distance"}
PESQ_MODES = {"wb": 16000, "nb": 8000}  # P.862.2 wide-band at 16 kHz, P.862 narrow-band at 8
SILENCE_PEAK = 1e-4
PESQ_MIN_SECONDS = 0.25
SI_SDR_MAX_DB = 120.0


@dataclass(frozen=True)
class ResynthMetrics:
    """Scores of one estimate against its reference; NaN where a score could not be computed
    (``notes`` says why). Higher is better except ``mel_distance`` (lower is better).

    ``pesq_wb``: wide-band PESQ MOS-LQO (about 1.0..4.64), NaN for audio under 16 kHz;
    ``pesq_nb``: narrow-band PESQ (about 1.0..4.55) of both signals resampled to 8 kHz, for
    any rate >= 8 kHz (so clips of every corpus share one scale); the two are different
    scales and are never averaged together. ``stoi``: 0..1; ``si_sdr``: dB;
    ``mel_distance``: mean |log-mel difference| (nepers).
    """

    pesq_wb: float
    pesq_nb: float
    stoi: float
    si_sdr: float
    mel_distance: float
    notes: tuple[str, ...] = field(default=())

    def reason(self, name: str) -> str:
        """Why score ``name`` (one of METRIC_NAMES) is NaN ("" when it is defined)."""
        if not math.isnan(getattr(self, name)):
            return ""
        own = [n for n in self.notes if n.startswith(_LABELS[name] + ":")]
        general = [n for n in self.notes  # a note about the item, not about one measure
                   if not any(n.startswith(label + ":") for label in _LABELS.values())]
        return (own or general or ["undefined"])[0]

    def to_dict(self) -> dict[str, float | str]:
        """Flat JSON-ready dict (notes joined with '; ')."""
        d: dict[str, float | str] = {k: float(v) for k, v in asdict(self).items() if k != "notes"}
        d["notes"] = "; ".join(self.notes)
        return d


@dataclass(frozen=True)
class MetricSummary:
    """One metric over the items it was tried on: ``mean`` over the ``n_scored`` items it was
    defined for (NaN when none), out of ``n_items``; ``failures`` ("item: reason") say why
    the other ``n_items - n_scored`` items have no score."""

    name: str
    mean: float
    n_scored: int
    n_items: int
    failures: tuple[str, ...] = ()

    @property
    def n_failed(self) -> int:
        """Items tried but not scored."""
        return self.n_items - self.n_scored

    def line(self) -> str:
        """``"pesq_wb=1.234 (5/6 items; 1 failed: a: PESQ-WB: too short ...)"``; the count is left
        out when every item was scored."""
        head = f"{self.name}={self.mean:.3f}" if self.n_scored else f"{self.name}=undefined"
        if not self.n_failed:
            return head
        first = f": {self.failures[0]}" if self.failures else ""
        more = f" (+{len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
        return f"{head} ({self.n_scored}/{self.n_items} items; {self.n_failed} failed{first}" \
               f"{more})"


class ScoreTally:
    """Collects one value per item per metric; a NaN (or infinite) value is a failure whose
    reason is kept. :meth:`summaries` gives a :class:`MetricSummary` per metric."""

    def __init__(self) -> None:
        self._values: dict[str, list[float]] = {}
        self._failures: dict[str, list[str]] = {}
        self._tried: dict[str, int] = {}

    def add(self, metric: str, item_id: str, value: float, reason: str = "") -> None:
        """Record ``metric`` of ``item_id``; ``reason`` explains a non-finite ``value``."""
        self._tried[metric] = self._tried.get(metric, 0) + 1
        self._values.setdefault(metric, [])
        self._failures.setdefault(metric, [])
        if math.isfinite(value):
            self._values[metric].append(float(value))
        else:
            self._failures[metric].append(f"{item_id}: {reason or 'undefined'}")

    def summaries(self) -> dict[str, MetricSummary]:
        """Metric -> summary, in the order metrics were first added."""
        return {m: MetricSummary(m, float(np.mean(v)) if v else math.nan, len(v),
                                 self._tried[m], tuple(self._failures[m]))
                for m, v in self._values.items()}

    def means(self) -> dict[str, float]:
        """Metric -> mean, for the metrics scored on at least one item."""
        return {m: s.mean for m, s in self.summaries().items() if s.n_scored}


def _prepare(reference: np.ndarray, estimate: np.ndarray, sample_rate: int,
             measure: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate, cast to float64 and trim both signals to the shorter length."""
    if sample_rate <= 0:
        raise ValueError(f"{measure}: sample_rate must be positive, got {sample_rate}")
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    if ref.ndim != 1 or est.ndim != 1:
        raise ValueError(f"{measure}: expected mono [N] signals, got {ref.shape} and {est.shape}")
    n = min(len(ref), len(est))
    if n == 0:
        raise ValueError(f"{measure}: empty signal (lengths {len(ref)} and {len(est)})")
    ref, est = ref[:n], est[:n]
    if not (np.isfinite(ref).all() and np.isfinite(est).all()):
        raise ValueError(f"{measure}: signals contain NaN or infinite values")
    if np.max(np.abs(ref)) < SILENCE_PEAK:
        raise ValueError(f"{measure}: reference is silent (peak < {SILENCE_PEAK})")
    return ref, est


def pesq_score(reference: np.ndarray, estimate: np.ndarray, sample_rate: int,
               mode: str) -> float:
    """PESQ MOS-LQO in ``mode`` "wb" (ITU-T P.862.2 at 16 kHz) or "nb" (P.862 at 8 kHz).

    Both signals are resampled to the mode's rate; a mode needs ``sample_rate`` >= that rate
    (wide-band PESQ of 8 kHz audio would score a band the audio never had). Needs at least
    0.25 s and some detectable speech.
    """
    if mode not in PESQ_MODES:
        raise ValueError(f"PESQ mode must be one of {tuple(PESQ_MODES)}, got {mode!r}")
    label, rate = f"PESQ-{mode.upper()}", PESQ_MODES[mode]
    ref, est = _prepare(reference, estimate, sample_rate, label)
    if sample_rate < rate:
        raise ValueError(f"{label}: needs audio at >= {rate} Hz, got {sample_rate} Hz")
    ref = resample(ref.astype(np.float32), sample_rate, rate)
    est = resample(est.astype(np.float32), sample_rate, rate)
    if len(ref) < PESQ_MIN_SECONDS * rate:
        raise ValueError(f"{label}: too short ({len(ref) / rate:.3f} s < {PESQ_MIN_SECONDS} s)")
    from pesq import PesqError, pesq

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return float(pesq(rate, ref, est, mode, on_error=PesqError.RAISE_EXCEPTION))
    except PesqError as err:
        raise ValueError(f"{label}: {_pesq_reason(err)}") from None


@dataclass(frozen=True)
class PesqChoice:
    """The PESQ column that ranks a set of references: ``metric`` "pesq_wb" when every
    reference is at >= 16 kHz, else "pesq_nb" (defined for all of them); ``reason`` says
    which rates decided it."""

    metric: str
    reason: str


def pesq_primary(sample_rates: list[int]) -> PesqChoice:
    """Choose the primary PESQ column for references at ``sample_rates`` (Hz, one each)."""
    if not sample_rates:
        raise ValueError("pesq_primary needs the sample rate of at least one reference")
    narrow = sum(1 for r in sample_rates if r < PESQ_MODES["wb"])
    n = len(sample_rates)
    if not narrow:
        return PesqChoice("pesq_wb", f"all {n} references at >= 16 kHz: wide-band PESQ")
    return PesqChoice("pesq_nb", f"{narrow} of {n} references below 16 kHz "
                                 f"(lowest {min(sample_rates)} Hz): narrow-band PESQ at 8 kHz")


def _pesq_reason(err: BaseException) -> str:
    text = str(err.args[0] if err.args else err)
    if text.startswith("b'") and text.endswith("'"):
        text = text[2:-1]
    return f"{type(err).__name__}: {text}"


def stoi_score(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    """Short-time objective intelligibility (Taal et al. 2011), 0..1; pystoi resamples to
    10 kHz and drops silent frames. Needs about 0.4 s of non-silent speech."""
    ref, est = _prepare(reference, estimate, sample_rate, "STOI")
    from pystoi import stoi

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        score = float(stoi(ref, est, sample_rate, extended=False))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        raise ValueError("STOI: too short (needs ~0.4 s of non-silent speech)")
    return score


def si_sdr(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (both signals made zero-mean).

    Capped at ``SI_SDR_MAX_DB`` (120 dB) for an exact copy. ``sample_rate`` is only used for
    validation (SI-SDR is rate-independent).
    """
    ref, est = _prepare(reference, estimate, sample_rate, "SI-SDR")
    ref = ref - ref.mean()
    est = est - est.mean()
    alpha = float(np.dot(est, ref) / np.dot(ref, ref))
    target = alpha * ref
    noise = est - target
    target_energy = float(np.dot(target, target))
    floor = target_energy * 10.0 ** (-SI_SDR_MAX_DB / 10.0)
    if target_energy == 0.0:
        return -SI_SDR_MAX_DB
    return float(10.0 * math.log10(target_energy / max(float(np.dot(noise, noise)), floor)))


def mel_distance(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    """Mean absolute difference of natural-log mel spectrograms (``audiotokens.dsp`` defaults:
    16 kHz, 80 mels, 25 ms / 20 ms); both signals are resampled to 16 kHz first."""
    import torch

    from .dsp import MelConfig, log_mel

    ref, est = _prepare(reference, estimate, sample_rate, "mel distance")
    cfg = MelConfig()
    ref = resample(ref.astype(np.float32), sample_rate, cfg.sample_rate)
    est = resample(est.astype(np.float32), sample_rate, cfg.sample_rate)
    if len(ref) < cfg.hop_length:
        raise ValueError(f"mel distance: too short ({len(ref)} samples < one {cfg.hop_length}-"
                         "sample frame at 16 kHz)")
    both = torch.from_numpy(np.stack([ref, est]))
    mels = log_mel(both, cfg)
    return float((mels[0] - mels[1]).abs().mean())


def resynth_metrics(reference: np.ndarray, estimate: np.ndarray,
                    sample_rate: int) -> ResynthMetrics:
    """All five scores; a score that cannot be computed is NaN with the reason in ``notes``
    (``pesq_wb`` of audio under 16 kHz among them)."""
    values: dict[str, float] = {}
    notes: list[str] = []
    funcs = {"pesq_wb": partial(pesq_score, mode="wb"), "pesq_nb": partial(pesq_score, mode="nb"),
             "stoi": stoi_score, "si_sdr": si_sdr, "mel_distance": mel_distance}
    for name, func in funcs.items():
        try:
            values[name] = func(reference, estimate, sample_rate)
        except ValueError as err:
            values[name] = math.nan
            notes.append(str(err))
    return ResynthMetrics(**values, notes=tuple(dict.fromkeys(notes)))


def dnsmos_available() -> bool:
    """True when speechmos (DNSMOS models) and its onnxruntime / librosa are installed."""
    from .extras import missing

    return missing("dnsmos") is None


@dataclass(frozen=True)
class DNSMOSScores:
    """DNSMOS P.835 MOS estimates, about 1..5: ``ovrl`` overall, ``sig`` speech signal,
    ``bak`` background (higher = less noise)."""

    ovrl: float
    sig: float
    bak: float


class DNSMOS:
    """Non-intrusive quality (Microsoft DNS challenge's DNSMOS P.835) from speechmos's packaged
    ONNX models, run in this object's own sessions (no module-level model cache).

    ``threads``: onnxruntime intra-op threads per session, without spin-waiting (the
    benchmark's worker processes pass 1: a pool of one per core, spinning, burns CPU another
    worker needs); None keeps onnxruntime's default (every core). The scores agree to float
    summation order (~1e-8).

    Cost: DNSMOS doubles a clip until it passes 9.01 s and scores every 9-s window at a 1-s
    hop, so a 2-s clip (16 s, 7 windows x 2 models) takes about 4 CPU-s on one core.
    """

    def __init__(self, threads: int | None = None) -> None:
        import os

        import onnxruntime as ort
        from speechmos import dnsmos

        if threads is not None and threads < 1:
            raise ValueError(f"DNSMOS threads must be >= 1 or None, got {threads}")
        models = os.path.join(os.path.dirname(os.path.abspath(dnsmos.__file__)),
                              "dnsmos_models")
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._model = dnsmos.DNSMOS.__new__(dnsmos.DNSMOS)  # its own __init__ takes no options
        self._model.onnx_sess, self._model.p808_onnx_sess = (
            ort.InferenceSession(os.path.join(models, name), options,
                                 providers=["CPUExecutionProvider"])
            for name in ("sig_bak_ovr.onnx", "model_v8.onnx"))

    def score(self, samples: np.ndarray, sample_rate: int) -> DNSMOSScores:
        """Mono float [N] at ``sample_rate`` (resampled to 16 kHz, clipped to [-1, 1]; clips
        under 9 s are looped to 9 s as DNSMOS does) -> :class:`DNSMOSScores`. ValueError for
        empty, silent or non-finite input."""
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim != 1 or len(x) == 0:
            raise ValueError(f"DNSMOS: expected a non-empty mono [N] signal, got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("DNSMOS: signal contains NaN or infinite values")
        if float(np.max(np.abs(x))) < SILENCE_PEAK:
            raise ValueError(f"DNSMOS: signal is silent (peak < {SILENCE_PEAK})")
        x = np.clip(resample(x, sample_rate, 16000), -1.0, 1.0)
        out = self._model(x, 16000, False)
        return DNSMOSScores(float(out["ovrl_mos"]), float(out["sig_mos"]),
                            float(out["bak_mos"]))
