"""Speech enhancement on tokens: noisy tokens in, clean tokens out, decoded to audio.

The corpus is a noisy one (``noisy.jsonl``: ``path`` the mixture, ``clean_path`` the clean
original; see :mod:`audiotokens.data.noise`). A :class:`~audiotokens.bench.heads.TokenEnhancer`
learns, per frame and codebook, the clean token from the noisy tokens (cross-entropy on random
crops). The training loop early-stops on **token accuracy** on the validation split. The test
items' predicted tokens are then decoded with the tokenizer's own decoder and scored against
the clean recording: PESQ (the primary metric, recorded first: ``pesq_wb`` when every clean
reference is at >= 16 kHz, else ``pesq_nb``, as for resynthesis; the other PESQ column is
recorded too, never averaged with it), STOI, SI-SDR, mel distance and, when speechmos is
installed, DNSMOS (overall MOS). Three references put the numbers in
context, recorded as ``<metric>@<reference>``:

- ``noisy``: the noisy input itself (what doing nothing scores);
- ``noisy_tokens``: the noisy tokens decoded unchanged (doing nothing in token space);
- ``clean_tokens``: the clean recording's own tokens decoded (the tokenizer's ceiling).

Token accuracy is recorded too, with ``token_accuracy@noisy`` (how many noisy tokens already
equal the clean ones). A tokenizer without a decoder is reported as "no-decoder" by the runner.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...data.manifest import ManifestItem
from ...metrics import ScoreTally
from ..db import Artifact, Result
from ..features import InputSpec
from ..scorecache import ScoreCache
from .base import IGNORE_INDEX, TaskData
from .frames import DNSMOS_METRIC, TOKEN_ACCURACY, Bound, TokenTargetTask
from .generative import RESYNTH_METRICS, ResynthOutcome, primary_first
from .splits import split_items

__all__ = ["EnhanceTask", "clean_id", "REFERENCES", "TOKEN_ACCURACY"]


def clean_id(item: ManifestItem) -> str:
    """The id of ``item``'s clean recording among the encoded items (one per clean file,
    however many mixtures share it)."""
    return f"clean:{item.clean_path}"
REFERENCES = ("noisy", "noisy_tokens", "clean_tokens")


class EnhanceTask(TokenTargetTask):
    """Token-to-token enhancement (see the module docstring; settings in
    :class:`~.frames.TokenTargetTask`)."""

    name, corpus = "enhance", "noisy"
    copy_input = True

    @property
    def audio_metrics(self) -> tuple:
        """The metrics scored on decoded audio, wide-band PESQ first (:meth:`score` puts
        narrow-band PESQ first when a clean reference is below 16 kHz)."""
        return RESYNTH_METRICS + ((DNSMOS_METRIC,) if self.with_dnsmos else ())

    def chance(self, data: TaskData, metrics: dict[str, float]) -> dict[str, float]:
        """Copying the input: the audio metrics of the noisy tokens decoded unchanged."""
        return {m.name: metrics[f"{m.name}@noisy_tokens"] for m in self.audio_metrics
                if f"{m.name}@noisy_tokens" in metrics}

    def prepare(self, items: list[ManifestItem]) -> TaskData:
        """Items with a ``clean_path``, split by the corpus, else by held-out speakers (>= 4
        speakers), else by utterance. Targets are bound per tokenizer by :meth:`bind`."""
        paired = [it for it in items if it.clean_path]
        if not paired:
            raise ValueError(f"task {self.name}: no item has a clean_path (make a noisy "
                             "corpus with `audiotokens data noisy`)")
        if all(it.split for it in paired):
            mode = "corpus"
        else:
            mode = "speaker" if len({it.speaker for it in paired if it.speaker}) >= 4 \
                else "utterance"
        s = split_items(paired, mode, stratify_by="speaker")
        return TaskData(s.train, s.valid, sorted(s.test, key=lambda it: it.id), ())

    def input_items(self, data: TaskData) -> list[ManifestItem]:
        """The noisy items and their clean recordings (ids from :func:`clean_id`)."""
        twins = {clean_id(it): ManifestItem(id=clean_id(it), path=str(it.clean_path),
                                            duration=it.duration, speaker=it.speaker)
                 for it in data.items}
        return [*data.items, *twins.values()]

    def bind(self, data: TaskData, arrays: Mapping[str, np.ndarray],
             spec: InputSpec | None = None) -> Bound:
        """Inputs: the noisy tokens; targets: each item's clean tokens [T, C], cut or padded
        (with ``IGNORE_INDEX``) to its noisy tokens' length."""
        from ..arrays import MappedArrays

        clean_of = {it.id: clean_id(it) for it in data.items}
        for item_id, clean in clean_of.items():
            if clean not in arrays:
                raise ValueError(f"task {self.name}: clean tokens of {item_id} were not encoded")

        def target(item_id: str) -> np.ndarray:  # computed per batch, never all at once
            noisy, clean = arrays[item_id], arrays[clean_of[item_id]]
            t = np.full_like(noisy, IGNORE_INDEX)
            n = min(len(noisy), len(clean))
            t[:n] = clean[:n]
            return t

        targets = MappedArrays(clean_of, target)
        return Bound(TaskData(data.train, data.valid, data.test, data.classes,
                              targets),  # type: ignore[arg-type]
                     arrays)

    def score(self, model: Any, tokenizer: Any, items: list[ManifestItem], bound: Bound,
              arrays: Mapping[str, np.ndarray], out_dir: Path, *, run: str, label: str,
              tier: str, seed: int = 0, with_reference: bool = True, device: str = "cpu",
              cache: ScoreCache | None = None, tokenizer_key: str = "") -> ResynthOutcome:
        """Decode the enhanced tokens of ``items`` and score them and the references against
        the clean audio (see the module docstring); clips go to ``out_dir``. The references
        no head changes come from ``cache`` when it has them (default: this task's in-memory
        cache): the noisy input once per run, and given the tokenizer's checksum
        ``tokenizer_key``, its decoded noisy and clean tokens once per tokenizer."""
        from ...audio import load_audio
        from ...metrics import pesq_primary
        from ...tokenizers.base import NoDecoderError

        if not tokenizer.info.has_decoder:
            raise NoDecoderError(f"tokenizer '{label}' has no decoder")
        cache = self.cache if cache is None else cache
        tally = ScoreTally()
        artifacts: list[Artifact] = []
        notes: list[str] = []
        rates: list[int] = []
        for k, item in enumerate(items):
            clean = load_audio(str(item.clean_path))
            rates.append(clean.sample_rate)
            noisy = load_audio(item.path, clean.sample_rate)
            pred = self.predict(model, bound.inputs[item.id], device)
            rate = clean.sample_rate
            enhanced = self.decode(tokenizer, pred, rate)
            signals = {"": self._scores(clean.samples, enhanced, rate, dnsmos=True),
                       **self._reference_scores(cache, item, clean.samples, noisy.samples,
                                                rate, tokenizer, tokenizer_key, arrays)}
            for ref, scores in signals.items():
                for metric, (value, note) in scores.items():
                    tally.add(metric + (f"@{ref}" if ref else ""), item.id, value, note)
                    if note:
                        notes.append(f"{item.id} ({ref or 'enhanced'}): {note}")
            if k < self.n_samples:
                refs = [("noisy", noisy.samples), ("reference", clean.samples)]
                artifacts += self.save_clips(
                    out_dir, item.id, [("enhanced", enhanced), *(refs if with_reference
                                                                 else [])],
                    rate, run=run, label=label, seed=seed)
        means = tally.means()
        choice = pesq_primary(rates) if rates else None
        primary = choice.metric if choice else self.audio_metrics[0].name
        if primary not in means:
            raise ValueError(f"task {self.name}: {primary} undefined for "
                             f"all {len(items)} items ({notes[0] if notes else 'no items'})")
        results = [Result(run, label, tier, self.name, name, means[name], seed, hib)
                   for name, hib in self._recorded(primary) if name in means]
        return ResynthOutcome(results, artifacts, means, len(items), notes, tally.summaries(),
                              self.unavailable(), primary, choice.reason if choice else "")

    def _reference_scores(self, cache: ScoreCache, item: ManifestItem, clean: np.ndarray,
                          noisy: np.ndarray, rate: int, tokenizer: Any, tokenizer_key: str,
                          arrays: Mapping[str, np.ndarray]
                          ) -> dict[str, dict[str, tuple[float, str]]]:
        """Reference -> metric -> (value or NaN, note) for one item: the noisy input (with
        DNSMOS; once per run), its noisy and clean tokens decoded (once per tokenizer when
        ``tokenizer_key`` is given)."""
        from ..keys import path_stamp

        files = (str(item.path), path_stamp(item.path), str(item.clean_path),
                 path_stamp(str(item.clean_path)), rate, self.with_dnsmos,
                 [m.name for m in RESYNTH_METRICS])  # the metric set (e.g. the PESQ split)

        def tokens(ref: str) -> Any:
            ids = arrays[item.id if ref == "noisy_tokens" else clean_id(item)]
            return lambda: self._scores(clean, self.decode(tokenizer, ids, rate), rate,
                                        dnsmos=False)

        out = {"noisy": cache.get("enhance-noisy", files,
                                  lambda: self._scores(clean, noisy, rate, dnsmos=True))}
        for ref in ("noisy_tokens", "clean_tokens"):
            out[ref] = (cache.get(f"enhance-{ref.replace('_', '-')}", (tokenizer_key, files),
                                  tokens(ref)) if tokenizer_key else tokens(ref)())
        return out

    def _recorded(self, primary: str) -> list[tuple[str, bool]]:
        """(metric name, higher is better) in recording order: enhanced first (``primary``
        leading), then refs."""
        names = [(m.name, m.higher_is_better)
                 for m in primary_first(self.audio_metrics, primary)]
        return names + [(f"{n}@{ref}", hib) for ref in REFERENCES for n, hib in names]

    def _scores(self, reference: np.ndarray, estimate: np.ndarray, sample_rate: int,
                dnsmos: bool) -> dict[str, tuple[float, str]]:
        """metric -> (value or NaN, note) for one estimate."""
        from ...metrics import resynth_metrics

        m = resynth_metrics(reference, estimate, sample_rate)
        out = {x.name: (float(getattr(m, x.name)), m.reason(x.name)) for x in RESYNTH_METRICS}
        if dnsmos and self.with_dnsmos:
            out[DNSMOS_METRIC.name] = self.dnsmos(estimate, sample_rate)
        return out
