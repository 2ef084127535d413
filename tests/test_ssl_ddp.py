"""Data-parallel pretraining: two CPU processes (gloo) run the recipe as torchrun would; they
train on different batches, end with identical weights, and only rank 0 writes files."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

SYNTH_SIZE = (0.5, 4)


def _worker(rank: int, port: int, manifest: str, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    from audiotokens.ssl.data import BatchConfig
    from audiotokens.ssl.distributed import close_distributed
    from audiotokens.ssl.model import SSLModelConfig
    from audiotokens.ssl.recipe import RecipeConfig, fit_ssl
    from audiotokens.ssl.trainer import TrainConfig

    tiny = SSLModelConfig(hidden_size=32, layers=2, heads=2, intermediate_size=64,
                          conv_dim=(16, 32, 32, 32), pos_kernel=16, pos_groups=4, proj_dim=16)
    cfg = RecipeConfig(iterations=1, k=8, minutes=None, max_steps=3, model=tiny,
                       batch=BatchConfig(batch_seconds=3.0, max_crop_seconds=1.0),
                       train=TrainConfig(lr=1e-3, warmup_steps=0), progress=False,
                       log_every=1, kmeans_max_vectors=2000, score_layers=False)
    result = fit_ssl([manifest], out, cfg)  # the whole recipe, as under torchrun
    # and the DDP step itself: different batches per rank, gradients averaged
    from audiotokens.data.manifest import read_manifest
    from audiotokens.ssl.data import StepDataset
    from audiotokens.ssl.distributed import dist_from_env
    from audiotokens.ssl.masking import MaskConfig
    from audiotokens.ssl.model import HubertPretrainModel
    from audiotokens.ssl.targets import FrameTargets
    from audiotokens.ssl.trainer import PretrainTrainable

    targets = FrameTargets.load(Path(out) / "targets" / "iter1")
    data = StepDataset(read_manifest(manifest), targets, tiny.frames, cfg.batch, seed=0,
                       rank=rank, world_size=2)
    torch.manual_seed(rank)  # different inits: DDP must broadcast rank 0's
    trainer = PretrainTrainable(HubertPretrainModel(tiny, 8), data, cfg.train, MaskConfig(),
                                dist=dist_from_env())
    for step in range(3):
        trainer.train_step(step)
    total = sum(float(p.double().sum()) for p in trainer.model.parameters())
    first = data[0]
    Path(out, f"rank{rank}.json").write_text(json.dumps(
        {"steps": result.iterations[0].steps, "checksum": total,
         "batch": data.plan.batch_at(rank, 0), "wav0": float(first.wav[0, :50].sum())}))
    close_distributed()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
def test_two_process_gloo_run(tmp_path, synth_root) -> None:
    out = tmp_path / "run"
    mp.spawn(_worker, args=(_free_port(), str(synth_root / "all.jsonl"), str(out)), nprocs=2,
             join=True)
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["steps"] for r in ranks] == [3, 3]
    record = json.loads((out / "iter1" / "training.json").read_text())
    assert record["steps"] == 3
    # both processes counted: 2 x the cropped audio of 3 single-process batches at most
    assert 0 < record["audio_hours"] * 3600 <= 2 * 3 * 3.0 + 1e-6
    assert torch.load(out / "checkpoints" / "iter1.pt", weights_only=True)["step"] == 3
    assert (out / "iter1" / "model.safetensors").is_file()
    # the ranks trained on different batches, yet hold the same weights (averaged gradients)
    assert ranks[0]["batch"] != ranks[1]["batch"] and ranks[0]["wav0"] != ranks[1]["wav0"]
    assert ranks[0]["checksum"] == ranks[1]["checksum"]
