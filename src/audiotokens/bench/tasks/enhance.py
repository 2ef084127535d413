"""Speech enhancement on tokens: noisy tokens in, clean tokens out, decoded to audio.

The corpus is a noisy one (``noisy.jsonl``: ``path`` the mixture, ``clean_path`` the clean
original; see :mod:`audiotokens.data.noise`). A :class:`~audiotokens.bench.heads.TokenEnhancer`
learns, per frame and codebook, the clean token from the noisy tokens (cross-entropy on random
crops). The training loop early-stops on **token accuracy** on the validation split. The test
items' predicted tokens are then decoded with the tokenizer's own decoder and scored against
the clean recording: PESQ (the primary metric, recorded first), STOI, SI-SDR, mel distance
and, when speechmos is installed, DNSMOS (overall MOS). Three references put the numbers in
context, recorded as ``<metric>@<reference>``:

- ``noisy``: the noisy input itself (what doing nothing scores);
- ``noisy_tokens``: the noisy tokens decoded unchanged (doing nothing in token space);
- ``clean_tokens``: the clean recording's own tokens decoded (the tokenizer's ceiling).

Token accuracy is recorded too, with ``token_accuracy@noisy`` (how many noisy tokens already
equal the clean ones). A tokenizer without a decoder is reported as "no-decoder" by the runner.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...data.manifest import ManifestItem
from ..db import Artifact, Result
from ..features import InputSpec
from ..heads import DownstreamModel, TokenEnhancer
from .base import IGNORE_INDEX, Batch, Metric, Task, TaskData
from .generative import RESYNTH_METRICS, ResynthOutcome, _safe
from .splits import split_items

__all__ = ["EnhanceTask", "CLEAN_SUFFIX", "REFERENCES", "TOKEN_ACCURACY"]

CLEAN_SUFFIX = "#clean"  # id suffix of an item's clean twin among the encoded items
TOKEN_ACCURACY = Metric("token_accuracy", True)
DNSMOS_METRIC = Metric("dnsmos", True)
REFERENCES = ("noisy", "noisy_tokens", "clean_tokens")


class EnhanceTask(Task):
    """Token-to-token enhancement (see the module docstring).

    ``crop_frames``: head frames per training crop (2 s at 50 Hz); a crop shrinks when the
    logits of a batch would pass ``logits_budget`` floats (sample-rate tokens). Test scoring
    uses an evenly spread slice of ``quick_items`` / ``full_items`` test items and keeps
    ``n_samples`` decoded clips per tokenizer for the report. A tokenizer whose head would
    emit more than ``max_outputs`` logits per head frame (``stride * C * V``: mu-law's 320
    samples x 256 ids per 20 ms) is not supported (:meth:`unsupported` says why).
    """

    name, corpus = "enhance", "noisy"
    metrics = (TOKEN_ACCURACY,)  # what the training loop early-stops on
    generative = True
    pools_input = False  # the head stacks frames itself, keeping their order

    def __init__(self, quick_items: int = 6, full_items: int = 100, crop_frames: int = 100,
                 logits_budget: int = 2 ** 25, n_samples: int = 2,
                 max_outputs: int = 2 ** 15) -> None:
        from ...metrics import dnsmos_available

        if min(quick_items, full_items, crop_frames, logits_budget, max_outputs) < 1 or \
                n_samples < 0:
            raise ValueError("quick_items, full_items, crop_frames, logits_budget and "
                             "max_outputs must be >= 1, n_samples >= 0")
        self.max_outputs = max_outputs
        self.quick_items, self.full_items = quick_items, full_items
        self.crop_frames, self.logits_budget, self.n_samples = crop_frames, logits_budget, \
            n_samples
        self.with_dnsmos = dnsmos_available()
        self.audio_metrics = RESYNTH_METRICS + ((DNSMOS_METRIC,) if self.with_dnsmos else ())
        self._dnsmos: Any = None

    # --- data -----------------------------------------------------------------------------
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
        """The noisy items and, as ``<id>#clean``, their clean twins."""
        twins = [ManifestItem(id=it.id + CLEAN_SUFFIX, path=str(it.clean_path),
                              duration=it.duration, speaker=it.speaker, split=it.split)
                 for it in data.items]
        return [*data.items, *twins]

    def bind(self, data: TaskData, arrays: dict[str, np.ndarray]) -> TaskData:
        """``data`` with targets = each item's clean tokens [T, C], cut or padded (with
        ``IGNORE_INDEX``) to its noisy tokens' length."""
        targets: dict[str, int | list[int] | np.ndarray] = {}
        for it in data.items:
            noisy, clean = arrays[it.id], arrays.get(it.id + CLEAN_SUFFIX)
            if clean is None:
                raise ValueError(f"task {self.name}: clean tokens of {it.id} were not encoded")
            t = np.full_like(noisy, IGNORE_INDEX)
            n = min(len(noisy), len(clean))
            t[:n] = clean[:n]
            targets[it.id] = t
        return TaskData(data.train, data.valid, data.test, data.classes, targets)

    def select(self, data: TaskData, full: bool) -> list[ManifestItem]:
        """An evenly spread slice of the test items to decode and score."""
        cap = self.full_items if full else self.quick_items
        step = max(1.0, len(data.test) / cap)
        return [data.test[int(i * step)] for i in range(min(cap, len(data.test)))]

    # --- model ----------------------------------------------------------------------------
    def unsupported(self, spec: InputSpec, stride: int) -> str | None:
        """Why this task cannot run on ``spec`` pooled by ``stride`` (None when it can)."""
        if spec.kind != "tokens":
            return "continuous features: enhancement maps tokens to tokens"
        outputs = stride * len(spec.vocab_sizes) * max(spec.vocab_sizes)
        if outputs > self.max_outputs:
            return (f"{outputs} output logits per head frame ({stride} frames x "
                    f"{len(spec.vocab_sizes)} codebooks x {max(spec.vocab_sizes)} ids) > "
                    f"max_outputs {self.max_outputs}")
        return None

    def build_head(self, in_dim: int, data: TaskData, hidden: int = 128, *,
                   spec: InputSpec | None = None, stride: int = 1) -> nn.Module:
        """A :class:`TokenEnhancer` over the input's codebooks, stacking ``stride`` frames
        per step; token inputs only."""
        if spec is None or spec.kind != "tokens":
            raise ValueError(f"task {self.name} maps tokens to tokens: it needs a tokenizer, "
                             "not continuous features")
        return TokenEnhancer(in_dim, spec.vocab_sizes, hidden=hidden, stride=stride)

    def _crop(self, head: TokenEnhancer, batch_size: int) -> int:
        per_frame = batch_size * head.stride * head.n_codebooks * head.vocab
        return max(1, min(self.crop_frames, self.logits_budget // per_frame))

    def loss(self, model: DownstreamModel, batch: Batch) -> torch.Tensor:
        """Cross-entropy of the clean tokens on one random crop per item."""
        head = model.head
        assert isinstance(head, TokenEnhancer)
        frames, lengths = model.inputs(batch.x, batch.lengths)  # full rate: pools_input False
        crop = min(self._crop(head, len(frames)) * head.stride, frames.shape[1])
        starts = [int(torch.randint(0, max(1, int(n) - crop + 1), ())) for n in lengths]
        frames = torch.stack([f[a:a + crop] for f, a in zip(frames, starts, strict=True)])
        targets, copy = (torch.stack([_window(t, a, crop) for t, a in zip(rows, starts,
                                                                          strict=True)])
                         for rows in (batch.targets, batch.x))
        lengths = torch.stack([(n - a).clamp(1, crop) for n, a in zip(lengths, starts,
                                                                       strict=True)])
        logits = head(frames, lengths, copy).logits[:, :crop]
        return nn.functional.cross_entropy(logits.reshape(-1, head.vocab), targets.reshape(-1),
                                           ignore_index=IGNORE_INDEX)

    def _predict_batches(self, model: DownstreamModel, batch: Batch) -> Iterator[torch.Tensor]:
        """Predicted ids [b, T, C] for row chunks of ``batch`` that keep the logits in budget."""
        head = model.head
        assert isinstance(head, TokenEnhancer)
        t = batch.x.shape[1]
        rows = max(1, self.logits_budget // max(1, t * head.n_codebooks * head.vocab))
        for i in range(0, len(batch.x), rows):
            x, lengths = batch.x[i:i + rows], batch.lengths[i:i + rows]
            frames, lengths = model.inputs(x, lengths)
            yield head(frames, lengths, x).logits[:, :t].argmax(-1)

    def evaluate(self, model: DownstreamModel, batches: Iterable[Batch],
                 data: TaskData) -> dict[str, float]:
        """Token accuracy over valid frames and codebooks, and the same for copying the noisy
        tokens unchanged (``token_accuracy@noisy``)."""
        hit = copy = total = 0
        for batch in batches:
            pred = torch.cat(list(self._predict_batches(model, batch)))
            tgt = batch.targets[:, : pred.shape[1]]
            valid = tgt != IGNORE_INDEX
            hit += int(((pred[:, : tgt.shape[1]] == tgt) & valid).sum())
            copy += int(((batch.x[:, : tgt.shape[1]] == tgt) & valid).sum())
            total += int(valid.sum())
        if total == 0:
            raise ValueError(f"task {self.name}: no target tokens in the split")
        return {"token_accuracy": hit / total, "token_accuracy@noisy": copy / total}

    @torch.no_grad()
    def predict(self, model: DownstreamModel, ids: np.ndarray, device: str = "cpu"
                ) -> np.ndarray:
        """Noisy ids [T, C] -> predicted clean ids [T, C] (int64)."""
        model.eval()
        x = torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64))[None].to(device)
        batch = Batch(x, torch.tensor([len(ids)], device=device), x, None, [""], [None])
        return next(self._predict_batches(model, batch))[0].cpu().numpy()

    # --- scoring --------------------------------------------------------------------------
    def score(self, model: DownstreamModel, tokenizer: Any, items: list[ManifestItem],
              arrays: dict[str, np.ndarray], out_dir: Path, *, run: str, label: str,
              tier: str, seed: int = 0, with_reference: bool = True,
              device: str = "cpu") -> ResynthOutcome:
        """Decode the enhanced tokens of ``items`` and score them and the references against
        the clean audio (see the module docstring); clips go to ``out_dir``."""
        from ...audio import load_audio, save_audio
        from ...tokenizers.base import NoDecoderError

        if not tokenizer.info.has_decoder:
            raise NoDecoderError(f"tokenizer '{label}' has no decoder")
        values: dict[str, list[float]] = {}
        artifacts: list[Artifact] = []
        notes: list[str] = []
        for k, item in enumerate(items):
            clean = load_audio(str(item.clean_path))
            noisy = load_audio(item.path, clean.sample_rate)
            pred = self.predict(model, arrays[item.id], device)
            signals = {"": self._decode(tokenizer, pred, clean.sample_rate),
                       "noisy": noisy.samples,
                       "noisy_tokens": self._decode(tokenizer, arrays[item.id],
                                                    clean.sample_rate),
                       "clean_tokens": self._decode(tokenizer, arrays[item.id + CLEAN_SUFFIX],
                                                    clean.sample_rate)}
            for ref, estimate in signals.items():
                scores = self._scores(clean.samples, estimate, clean.sample_rate,
                                      dnsmos=ref in ("", "noisy"))
                for metric, (value, note) in scores.items():
                    values.setdefault(metric + (f"@{ref}" if ref else ""), []).append(value)
                    if note:
                        notes.append(f"{item.id} ({ref or 'enhanced'}): {note}")
            if k < self.n_samples:
                name = _safe(item.id)
                clips = [("enhanced", signals[""])]
                if with_reference:
                    clips += [("noisy", noisy.samples), ("reference", clean.samples)]
                for kind, samples in clips:
                    who = label if kind == "enhanced" else "reference"
                    path = save_audio(out_dir / _safe(who) / f"{name}.{kind}.wav", samples,
                                      clean.sample_rate)
                    artifacts.append(Artifact(run, label, self.name, seed, "audio",
                                              f"{kind} {item.id}", str(path)))
        means = {k: float(np.mean(f)) for k, v in values.items()
                 if (f := [x for x in v if math.isfinite(x)])}
        if self.audio_metrics[0].name not in means:
            raise ValueError(f"task {self.name}: {self.audio_metrics[0].name} undefined for "
                             f"all {len(items)} items ({notes[0] if notes else 'no items'})")
        results = [Result(run, label, tier, self.name, name, means[name], seed, hib)
                   for name, hib in self._recorded() if name in means]
        return ResynthOutcome(results, artifacts, means, len(items), notes)

    def _recorded(self) -> list[tuple[str, bool]]:
        """(metric name, higher is better) in recording order: enhanced first, then refs."""
        names = [(m.name, m.higher_is_better) for m in self.audio_metrics]
        return names + [(f"{n}@{ref}", hib) for ref in REFERENCES for n, hib in names]

    @staticmethod
    def _decode(tokenizer: Any, ids: np.ndarray, sample_rate: int) -> np.ndarray:
        from ...audio import resample
        from ...tokenizers.base import Tokens

        wav = tokenizer.decode(Tokens(np.asarray(ids, dtype=np.int64), tokenizer.info))
        return resample(np.asarray(wav, dtype=np.float32), tokenizer.info.sample_rate,
                        sample_rate)

    def _scores(self, reference: np.ndarray, estimate: np.ndarray, sample_rate: int,
                dnsmos: bool) -> dict[str, tuple[float, str]]:
        """metric -> (value or NaN, note) for one estimate."""
        from ...metrics import DNSMOS, resynth_metrics

        m = resynth_metrics(reference, estimate, sample_rate)
        note = "; ".join(m.notes)
        out = {x.name: (float(getattr(m, x.name)), note) for x in RESYNTH_METRICS}
        if dnsmos and self.with_dnsmos:
            if self._dnsmos is None:
                self._dnsmos = DNSMOS()
            try:
                out[DNSMOS_METRIC.name] = (self._dnsmos.score(estimate, sample_rate).ovrl, "")
            except ValueError as err:
                out[DNSMOS_METRIC.name] = (math.nan, str(err))
        return out


def _window(targets: torch.Tensor, start: int, length: int) -> torch.Tensor:
    """``targets[start:start + length]`` of one item's [T, C] targets, padded with
    ``IGNORE_INDEX`` past its end."""
    piece = targets[start:start + length]
    if len(piece) < length:
        pad = torch.full((length - len(piece), *targets.shape[1:]), IGNORE_INDEX,
                         dtype=targets.dtype, device=targets.device)
        piece = torch.cat([piece, pad])
    return piece
