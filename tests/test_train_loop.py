"""The training loop: AGG and MLDG learn, resume is exact, logs and checkpoints are written."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from edgedg.checkpoint import load_checkpoint, load_model
from edgedg.train import DataOptions, MethodOptions, ModelOptions, TrainConfig, memory_data, train
from edgedg_runtime.errors import EdgeDGError

sys.path.insert(0, str(Path(__file__).parent))
from _train_helpers import CLASSES, SIZE, make_domains  # noqa: E402


def _cfg(out: Path, method: str, iters: int, **method_kw) -> TrainConfig:
    return TrainConfig(
        out=str(out),
        iters=iters,
        save_every=iters,
        model=ModelOptions(backbone="tiny", num_classes=CLASSES),
        method=MethodOptions(method=method, **method_kw),
        data=DataOptions(batch_per_domain=2, crop=SIZE),
        device="cpu",
        seed=1,
    )


@pytest.mark.parametrize(
    "method, kw", [("agg", {}), ("mldg", {"order": 1}), ("mldg", {"order": 2, "meta_split": "2:1"})]
)
def test_loss_decreases_and_run_dir(tmp_path: Path, method: str, kw: dict) -> None:
    torch.manual_seed(0)
    domains = make_domains(3, 4)
    cfg = _cfg(tmp_path, method, 30, **kw)
    cfg.optim.lr = 0.02
    result = train(cfg, memory_data(domains, 2, val=domains[0]))
    first, last = sum(result.losses[:3]) / 3, sum(result.losses[-3:]) / 3
    assert last < 0.6 * first, (first, last)
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss" in r]
    assert [r["iter"] for r in steps] == list(range(1, 31))
    assert steps[-1]["lr"] < steps[0]["lr"] == pytest.approx(0.02)
    val = [r for r in records if "val_miou" in r]
    assert len(val) == 1 and 0.0 <= val[0]["val_miou"] <= 1.0
    model, meta = load_model(tmp_path / "best.pt")
    assert meta["method"] == method and meta["iteration"] == 30
    assert meta["val_miou"] == val[0]["val_miou"] and meta["oracle_selection"] is False
    assert meta["imgsz"] == [SIZE, SIZE] and meta["args"]["method"]["method"] == method
    assert meta["model"] == {"name": "tiny", "num_classes": 3, "output_stride": 8, "head": "fcn"}
    assert len(meta["mean"]) == 3 and len(meta["classes"]) == 3
    if method == "mldg":
        assert {"loss_ds", "loss_dg"} <= steps[0].keys()


def _stop_after(data, k: int):
    """The same data, ending after k steps: an interrupted run."""
    full = data.batches

    def batches(start: int):
        for i, batch in enumerate(full(start)):
            if start + i >= k:
                return
            yield batch

    data.batches = batches
    return data


@pytest.mark.parametrize("method", ["agg", "mldg"])
def test_resume_reproduces_uninterrupted_run(tmp_path: Path, method: str) -> None:
    domains = make_domains(3, 5)
    k = 4
    full = train(_cfg(tmp_path / "full", method, 2 * k), memory_data(domains, 2))

    cfg = _cfg(tmp_path / "split", method, 2 * k)
    cfg.save_every = k
    first = train(cfg, _stop_after(memory_data(domains, 2), k))
    assert len(first.losses) == k
    cfg.resume = str(tmp_path / "split" / "last.pt")
    second = train(cfg, memory_data(domains, 2))
    assert first.losses + second.losses == full.losses  # exact on CPU
    log = [json.loads(x)["loss"] for x in (tmp_path / "split" / "metrics.jsonl").open()]
    assert log == full.losses
    a = load_checkpoint(tmp_path / "full" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "split" / "last.pt")["model"]
    assert all(torch.equal(a[n], b[n]) for n in a)


def test_config_errors(tmp_path: Path) -> None:
    data = memory_data(make_domains(3, 2), 2)
    with pytest.raises(EdgeDGError, match="A \\+ B = 3"):
        train(_cfg(tmp_path, "mldg", 2, meta_split="2:2"), data)
    with pytest.raises(EdgeDGError, match="unknown method"):
        train(_cfg(tmp_path, "erm", 2), data)
    with pytest.raises(EdgeDGError, match="at least 2"):
        train(_cfg(tmp_path, "mldg", 2), memory_data(make_domains(1, 2), 2))


def test_amp_default_is_bf16_on_cuda_only() -> None:
    assert TrainConfig("x").use_amp("cuda") and not TrainConfig("x").use_amp("cpu")
    assert not TrainConfig("x", amp=False).use_amp("cuda")
    assert TrainConfig("x", amp=True).use_amp("cpu")


def test_tensorboard_missing_is_a_clear_error(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed")
    cfg = _cfg(tmp_path, "agg", 1)
    cfg.tensorboard = True
    with pytest.raises(EdgeDGError, match=r"edgedg\[dev\]"):
        train(cfg, memory_data(make_domains(2, 2), 2))
