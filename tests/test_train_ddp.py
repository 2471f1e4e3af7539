"""torchrun: 2 gloo processes equal a one-process run of the same global batch.

Plain BatchNorm under data parallelism normalises with each rank's own rows (no SyncBN, as the
method prescribes), so the one-process reference runs the same global batch through the same
optimiser step code with each rank's rows forwarded separately (`RankChunked`): what is compared
is exactly the cross-rank reduction of the losses and gradients (AGG through DDP; MLDG through
the explicit inner/outer all-reduces, including order 2's differentiable one).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edgedg.checkpoint import load_model
from edgedg.models import create_model
from edgedg.train import memory_data
from edgedg.train.distributed import DistEnv
from edgedg.train.loop import Stepper

sys.path.insert(0, str(Path(__file__).parent))
from _train_helpers import RankChunked, _config, make_domains  # noqa: E402

ITERS = 4
TOL = 1e-5  # float32, different summation order across ranks


def _torchrun(out: Path, method: str, order: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(Path(__file__).parent / "_train_helpers.py"),
           str(out), method, str(order), str(ITERS)]  # fmt: skip
    # A new session, so a hung run is killed with its worker processes.
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        log, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert proc.returncode == 0, log.decode()[-3000:]


def _reference(method: str, order: int) -> torch.nn.Module:
    cfg = _config("unused", method, order, ITERS)
    torch.manual_seed(cfg.seed)
    model = create_model("tiny", num_classes=cfg.model.num_classes).train()
    chunked = RankChunked(model, world=2, rows_per_rank=1, seed=cfg.seed)
    stepper = Stepper(cfg, chunked, DistEnv(), num_domains=3)
    batches = memory_data(make_domains(), 2).batches(0)
    for step, batch in zip(range(ITERS), batches, strict=False):
        stepper.train_batch(step, batch)
    return model


@pytest.mark.parametrize("method, order", [("agg", 1), ("mldg", 1), ("mldg", 2)])
def test_two_processes_equal_one(tmp_path: Path, method: str, order: int) -> None:
    torch.set_num_threads(1)
    _torchrun(tmp_path / "run", method, order)
    trained, meta = load_model(tmp_path / "run" / "last.pt")
    ref = _reference(method, order)
    assert meta["iteration"] == ITERS
    worst = max(
        float((a - b).detach().abs().max())
        for a, b in zip(trained.parameters(), ref.parameters(), strict=True)
    )
    moved = max(
        float((a - b).detach().abs().max())
        for a, b in zip(trained.parameters(), _init_params(), strict=True)
    )
    print(f"{method} order {order}: max |param diff| {worst:.2e}, moved {moved:.2e}")
    assert worst < TOL, worst
    assert moved > 100 * TOL  # training changed the weights far beyond the tolerance


def _init_params() -> list[torch.Tensor]:
    torch.manual_seed(_config("x", "agg", 1, 1).seed)
    return list(create_model("tiny", num_classes=3).parameters())
