"""HuBERT pretraining throughput: the recipe's training step vs the bare model step.

Prints steps/s and audio hours per hour of training (audio seconds per wall second) on the
current device for (a) ``PretrainTrainable.train_step``: audio streamed from disk, cropped,
normalised, span-masked, forward/backward/AdamW under the recipe's precision; and (b) the
baseline measured in the same run: the same model's forward/backward/AdamW on one batch of
the same shape already on the device (no I/O, no masking, no cropping). The ratio a / b is
the data pipeline's overhead; the target is >= 0.9 with ``--workers`` > 0.

    python benchmarks/ssl_train.py                           # CPU, synthetic corpus
    python benchmarks/ssl_train.py --device cuda --workers 4 --batch-seconds 256 \\
        --manifest data/libri.jsonl
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from audiotokens.data.manifest import read_manifest
from audiotokens.ssl.data import BatchConfig, StepDataset
from audiotokens.ssl.masking import MaskConfig
from audiotokens.ssl.model import HubertPretrainModel, SSLModelConfig
from audiotokens.ssl.targets import compute_targets
from audiotokens.ssl.trainer import PretrainTrainable, TrainConfig, amp_dtype
from audiotokens.tokenizers.registry import load_tokenizer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def recipe_steps(trainer: PretrainTrainable, warmup: int, steps: int) -> tuple[float, float]:
    """(steps/s, audio seconds per wall second) of the recipe's train_step."""
    for step in range(warmup):
        trainer.train_step(step)
    _sync(trainer.device)
    seen0, t0 = trainer.audio_seconds, time.perf_counter()
    for step in range(warmup, warmup + steps):
        trainer.train_step(step)
    _sync(trainer.device)
    wall = time.perf_counter() - t0
    return steps / wall, (trainer.audio_seconds - seen0) / wall


def bare_steps(model: HubertPretrainModel, batch_wav: torch.Tensor, targets: torch.Tensor,
               cfg: TrainConfig, device: torch.device, warmup: int,
               steps: int) -> tuple[float, float]:
    """(steps/s, audio seconds per wall second) of forward/backward/AdamW on one fixed batch."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    wav, tgt = batch_wav.to(device), targets.to(device)
    mask = torch.zeros_like(tgt, dtype=torch.bool)
    mask[:, ::2] = True
    dtype = amp_dtype(cfg.amp, device)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None

    def one() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = model(wav, tgt, mask).loss
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()

    for _ in range(warmup):
        one()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    _sync(device)
    wall = time.perf_counter() - t0
    return steps / wall, steps * wav.numel() / 16000 / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, help="default: a synthetic corpus made here")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-seconds", type=float, default=BatchConfig.batch_seconds)
    parser.add_argument("--max-crop-seconds", type=float, default=BatchConfig.max_crop_seconds)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = args.manifest
        if manifest is None:
            from audiotokens.data import SynthConfig, synthesize_corpus

            synthesize_corpus(Path(tmp) / "synth", SynthConfig(minutes=2.0, n_speakers=6))
            manifest = Path(tmp) / "synth" / "train.jsonl"
        items = read_manifest(manifest)
        model_cfg = SSLModelConfig()
        tok = load_tokenizer("mfcc-kmeans", k=args.k, max_vectors=50_000)
        tok.fit(manifest)
        targets = compute_targets(tok, items, model_cfg.frames, "mfcc")
        batch_cfg = BatchConfig(batch_seconds=args.batch_seconds,
                                max_crop_seconds=args.max_crop_seconds, workers=args.workers)
        data = StepDataset(items, targets, model_cfg.frames, batch_cfg)
        train_cfg = TrainConfig()
        torch.manual_seed(0)
        trainer = PretrainTrainable(HubertPretrainModel(model_cfg, args.k), data, train_cfg,
                                    MaskConfig(), device)
        fixed = data[0]
        a_steps, a_rate = recipe_steps(trainer, args.warmup, args.steps)
        torch.manual_seed(0)
        model = HubertPretrainModel(model_cfg, args.k).to(device).train()
        b_steps, b_rate = bare_steps(model, fixed.wav, fixed.targets, train_cfg, device,
                                     args.warmup, args.steps)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"device {device}, model {params:.2f} M parameters, precision "
          f"{amp_dtype(train_cfg.amp, device) or torch.float32}, first batch "
          f"{fixed.wav.shape[0]} x {fixed.wav.shape[1] / 16000:.2f} s, workers {args.workers}")
    print(f"recipe step : {a_steps:7.3f} steps/s  {a_rate:8.1f} audio h per hour")
    print(f"bare step   : {b_steps:7.3f} steps/s  {b_rate:8.1f} audio h per hour (same model, "
          "one batch on the device)")
    print(f"ratio recipe / bare: {a_rate / b_rate:.2f}x audio throughput")


if __name__ == "__main__":
    main()
