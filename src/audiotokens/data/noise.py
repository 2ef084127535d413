"""Noisy speech for enhancement: reproducible noise, mixing at an SNR, noisy/clean corpora.

Noise kinds: ``white``, ``pink`` (1/f power), ``brown`` (1/f^2 power), all Gaussian noise
shaped in the frequency domain, and ``babble``: the sum of ``babble_talkers`` other
utterances of the same split (other speakers when speakers are known), each at equal RMS and
looped to the target's length. Every clean item gets one (kind, SNR) condition and one noise
draw, both chosen from a hash of ``(seed, item id)``, so a corpus is byte-identical for a seed
whatever the order or number of items. The SNR is the ratio of whole-clip RMS powers; a
mixture that would clip is scaled down as a whole (the clean reference is never touched).

:func:`make_noisy_corpus` writes ``<out>/wavs/<id>.wav`` plus ``<out>/noisy.jsonl``, whose
items point ``path`` at the mixture and ``clean_path`` at the original, and
``<out>/conditions.json`` (id -> kind, snr_db). :func:`paired_manifest` reads an existing
noisy/clean folder pair (VCTK-DEMAND layout: the same file names in both folders).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .folder import FolderScan
from .manifest import ManifestError, ManifestItem, read_manifest, write_manifest

__all__ = ["NOISE_KINDS", "NoiseConfig", "NoisyCorpus", "coloured_noise", "babble_noise",
           "mix_at_snr", "make_noisy_corpus", "paired_manifest", "NOISY_MANIFEST"]

NOISE_KINDS = ("white", "pink", "brown", "babble")
NOISY_MANIFEST = "noisy.jsonl"
_EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # noise power ~ 1 / f^exponent


@dataclass(frozen=True)
class NoiseConfig:
    """Which conditions to make: every item draws one kind and one SNR (dB) uniformly.
    ``train_copies``: mixtures made of each item whose split is "train" (each with its own
    draw; ids ``<id>~n<k>`` for the extra ones), so a model sees more noise than utterances;
    other items get one."""

    snrs_db: tuple[float, ...] = (0.0, 5.0, 10.0)
    kinds: tuple[str, ...] = ("white", "pink", "brown", "babble")
    babble_talkers: int = 3
    seed: int = 0
    train_copies: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "snrs_db", tuple(float(s) for s in self.snrs_db))
        object.__setattr__(self, "kinds", tuple(self.kinds))
        if not self.snrs_db or not self.kinds:
            raise ValueError("need at least one SNR and one noise kind")
        bad = [k for k in self.kinds if k not in NOISE_KINDS]
        if bad:
            raise ValueError(f"unknown noise kind(s) {bad}; choose from {NOISE_KINDS}")
        if self.babble_talkers < 1 or self.train_copies < 1:
            raise ValueError(f"babble_talkers and train_copies must be >= 1, got "
                             f"{self.babble_talkers} and {self.train_copies}")


def _rng(seed: int, key: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}\t{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _unit_rms(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return (x / rms).astype(np.float32) if rms > 0 else x.astype(np.float32)


def coloured_noise(kind: str, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """``white`` / ``pink`` / ``brown`` Gaussian noise, float32 [n_samples] at unit RMS."""
    if kind not in _EXPONENTS:
        raise ValueError(f"coloured noise kind must be one of {tuple(_EXPONENTS)}, got {kind!r}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    spectrum = np.fft.rfft(rng.standard_normal(n_samples))
    freqs = np.arange(len(spectrum), dtype=np.float64)
    freqs[0] = 1.0  # keep DC finite; the mean is removed below
    spectrum *= freqs ** (-_EXPONENTS[kind] / 2.0)
    noise = np.fft.irfft(spectrum, n=n_samples)
    return _unit_rms(noise - noise.mean())


def _fit_length(x: np.ndarray, n_samples: int, offset: int) -> np.ndarray:
    """``x`` looped from ``offset`` to exactly ``n_samples`` samples."""
    reps = -(-(n_samples + offset) // len(x))
    return np.tile(x, reps)[offset:offset + n_samples]


def babble_noise(talkers: list[np.ndarray], n_samples: int, rng: np.random.Generator
                 ) -> np.ndarray:
    """Sum of ``talkers`` (mono float arrays at the target's rate), each at unit RMS, looped
    from a random offset to ``n_samples``; float32 [n_samples] at unit RMS."""
    if not talkers:
        raise ValueError("babble needs at least one talker")
    mix = np.zeros(n_samples, dtype=np.float64)
    for x in talkers:
        if len(x) == 0:
            raise ValueError("babble talker has no samples")
        mix += _fit_length(_unit_rms(x), n_samples, int(rng.integers(len(x))))
    return _unit_rms(mix)


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``clean + g * noise`` with ``g`` set for ``snr_db`` (whole-clip RMS), scaled down as a
    whole when it would clip; float32 [N]. ``noise`` must have ``clean``'s length."""
    if clean.shape != noise.shape:
        raise ValueError(f"clean {clean.shape} and noise {noise.shape} differ in shape")
    p_clean = float(np.mean(np.square(clean, dtype=np.float64)))
    p_noise = float(np.mean(np.square(noise, dtype=np.float64)))
    if p_clean == 0.0:
        raise ValueError("clean signal is silent: SNR is undefined")
    gain = np.sqrt(p_clean / (max(p_noise, 1e-20) * 10.0 ** (snr_db / 10.0)))
    mix = clean.astype(np.float64) + gain * noise
    peak = float(np.max(np.abs(mix)))
    return (mix * (0.99 / peak if peak > 0.99 else 1.0)).astype(np.float32)


@dataclass
class NoisyCorpus:
    """What :func:`make_noisy_corpus` wrote: the manifest, its items, per-id conditions and
    the clean items it skipped (unreadable or silent; id -> one-line reason)."""

    manifest: Path
    items: list[ManifestItem]
    conditions: dict[str, dict[str, float | str]]
    skipped: dict[str, str] = field(default_factory=dict)
    reused: bool = False


def _babble_sources(item: ManifestItem, pool: list[ManifestItem], n: int,
                    rng: np.random.Generator) -> list[ManifestItem]:
    """Up to ``n`` other items of ``item``'s split (other speakers when known)."""
    same_split = [it for it in pool if it.id != item.id and it.split == item.split]
    others = [it for it in same_split if item.speaker is None or it.speaker != item.speaker]
    choices = others or same_split
    if not choices:
        return []
    picked = rng.choice(len(choices), size=min(n, len(choices)), replace=False)
    return [choices[int(i)] for i in sorted(picked)]


def _config_key(cfg: NoiseConfig, items: list[ManifestItem]) -> str:
    h = hashlib.sha256(json.dumps(asdict(cfg), sort_keys=True).encode())
    for it in sorted(items, key=lambda it: it.id):
        h.update(f"{it.id}\t{it.path}\n".encode())
    return h.hexdigest()


def make_noisy_corpus(items: list[ManifestItem], out: str | Path,
                      cfg: NoiseConfig = NoiseConfig()) -> NoisyCorpus:
    """Mix every clean item with noise (see the module docstring) into ``out``.

    A folder already made from the same items and config is reused as it is. Clean items
    that cannot be read or are silent are skipped and reported in ``skipped``.
    """
    from ..audio import AudioError

    out = Path(out)
    key = _config_key(cfg, items)
    stamp, manifest, cond_path = out / "noise_config.json", out / NOISY_MANIFEST, \
        out / "conditions.json"
    if manifest.is_file() and stamp.is_file() and \
            json.loads(stamp.read_text()).get("key") == key:
        conditions = json.loads(cond_path.read_text()) if cond_path.is_file() else {}
        skipped = json.loads(stamp.read_text()).get("skipped", {})
        return NoisyCorpus(manifest, read_manifest(manifest), conditions, skipped, reused=True)
    noisy, conditions, skipped = [], {}, {}
    items = sorted(items, key=lambda it: it.id)  # babble sources must not depend on order
    for item in items:
        copies = cfg.train_copies if item.split == "train" else 1
        for k in range(copies):
            mix_id = item.id if k == 0 else f"{item.id}~n{k}"
            try:
                made, condition = _mix_one(item, mix_id, items, cfg, out)
            except (AudioError, ValueError) as err:
                skipped[mix_id] = str(err).splitlines()[0]
                continue
            noisy.append(made)
            conditions[mix_id] = condition
    if not noisy:
        raise ManifestError(f"{out}: no clean item could be mixed "
                            f"({next(iter(skipped.values()), 'no items given')})")
    from ..tokenizers.persist import atomic_write_bytes

    write_manifest(noisy, manifest)
    atomic_write_bytes(cond_path, json.dumps(conditions, indent=1).encode())
    atomic_write_bytes(stamp, json.dumps({"key": key, "config": asdict(cfg),
                                          "skipped": skipped}, indent=1).encode())
    return NoisyCorpus(manifest, noisy, conditions, skipped)


def _mix_one(item: ManifestItem, mix_id: str, pool: list[ManifestItem], cfg: NoiseConfig,
             out: Path) -> tuple[ManifestItem, dict[str, float | str]]:
    """One mixture of ``item`` (its draw keyed by ``mix_id``), written under ``out/wavs``."""
    from ..audio import load_audio, save_audio

    rng = _rng(cfg.seed, mix_id)
    kind = cfg.kinds[int(rng.integers(len(cfg.kinds)))]
    snr = cfg.snrs_db[int(rng.integers(len(cfg.snrs_db)))]
    clean = load_audio(item.path)
    if kind == "babble":
        sources = _babble_sources(item, pool, cfg.babble_talkers, rng)
        if not sources:
            raise ValueError("no other item in its split to make babble from")
        talkers = [load_audio(s.path, clean.sample_rate).samples for s in sources]
        noise = babble_noise(talkers, len(clean.samples), rng)
    else:
        noise = coloured_noise(kind, len(clean.samples), rng)
    mixture = mix_at_snr(clean.samples, noise, snr)
    wav = save_audio(out / "wavs" / f"{_safe(mix_id)}.wav", mixture, clean.sample_rate)
    made = ManifestItem(id=mix_id, path=str(wav.resolve()), duration=item.duration,
                        text=item.text, speaker=item.speaker, label=item.label,
                        split=item.split, clean_path=str(Path(item.path).resolve()))
    return made, {"kind": kind, "snr_db": snr}


def _safe(text: str) -> str:
    """A file name for an id: the id itself when it is safe, else a cleaned id + its hash."""
    import re

    name = re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("._")[:120]
    return name if name == text else f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def paired_manifest(noisy_dir: str | Path, clean_dir: str | Path) -> FolderScan:
    """Items for files present under both folders by the same relative path (VCTK-DEMAND's
    ``noisy_testset_wav`` / ``clean_testset_wav``): ``path`` noisy, ``clean_path`` clean;
    the speaker is the file-name prefix before the first ``_`` (``p232_001`` -> ``p232``).
    A pair whose noisy or clean file is unreadable goes to ``skipped`` with its reason.

    Raises ManifestError when a folder is missing or no pair is usable.
    """
    from ..audio import AudioError, probe_audio
    from .folder import AUDIO_SUFFIXES, SkippedFile

    noisy_dir, clean_dir = Path(noisy_dir), Path(clean_dir)
    for d in (noisy_dir, clean_dir):
        if not d.is_dir():
            raise ManifestError(f"{d}: not a folder")
    scan = FolderScan(noisy_dir)
    for noisy in sorted(p for p in noisy_dir.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES):
        rel = noisy.relative_to(noisy_dir)
        clean = clean_dir / rel
        if not clean.is_file():
            continue
        try:
            duration = probe_audio(noisy).duration
            probe_audio(clean)
        except AudioError as err:
            scan.skipped.append(SkippedFile(err.path, err.reason))
            continue
        scan.items.append(ManifestItem(
            id=rel.with_suffix("").as_posix(), path=str(noisy.resolve()), duration=duration,
            speaker=noisy.stem.split("_")[0] if "_" in noisy.stem else None,
            clean_path=str(clean.resolve())))
    if not scan.items:
        reason = f" ({scan.skipped[0].path}: {scan.skipped[0].reason})" if scan.skipped else ""
        raise ManifestError(f"{noisy_dir}: no audio file has a usable twin of the same name "
                            f"under {clean_dir}{reason}")
    return scan
