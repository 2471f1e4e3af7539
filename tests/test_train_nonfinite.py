"""A diverging run stops at the first non-finite loss, gradient or weight, says which and where,
and never overwrites RUN/last.pt or RUN/best.pt; export refuses a checkpoint with non-finite
weights."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from edgedg.checkpoint import load_checkpoint
from edgedg.cli import cli
from edgedg.train import (
    DataOptions,
    MethodOptions,
    ModelOptions,
    TrainConfig,
    loop,
    memory_data,
    train,
)
from edgedg_runtime.errors import EdgeDGError

sys.path.insert(0, str(Path(__file__).parent))
from _export_helpers import tiny_checkpoint  # noqa: E402
from _train_helpers import CLASSES, SIZE, make_domains, write_cityscapes_domains  # noqa: E402


def _cfg(out: Path, method: str, iters: int, resume: str | None = None) -> TrainConfig:
    return TrainConfig(
        out=str(out),
        iters=iters,
        save_every=1,
        model=ModelOptions(backbone="tiny", num_classes=CLASSES),
        method=MethodOptions(method=method),
        data=DataOptions(batch_per_domain=2, crop=SIZE),
        device="cpu",
        seed=1,
        resume=resume,
    )


def _digests(run: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run.iterdir())}


def _nan_loss(env, scale: float = 1.0):
    return lambda logits, labels: logits.float().sum() * float("nan")


def _nan_gradient(env, scale: float = 1.0):
    # sqrt at 0: a finite loss (0) whose gradient is inf * 0 = nan
    return lambda logits, labels: torch.sqrt((logits.float() * 0).sum())


@pytest.fixture
def good_run(tmp_path: Path):
    """Two good iterations of a run, validated, with last.pt and best.pt."""

    def make(method: str) -> tuple[Path, list]:
        domains = make_domains(3, 4)
        train(_cfg(tmp_path, method, 2), memory_data(domains, 2, val=domains[0]))
        assert {"last.pt", "best.pt"} <= {p.name for p in tmp_path.iterdir()}
        return tmp_path, domains

    return make


@pytest.mark.parametrize(
    ("method", "fault", "message"),
    [
        ("agg", _nan_loss, "iteration 3: the loss is nan"),
        ("mldg", _nan_loss, "iteration 3: the loss is nan"),
        # (MLDG's meta-test loss is already nan after an inner step on nan gradients)
        ("agg", _nan_gradient, "iteration 3: the gradient of .* is not finite"),
    ],
)
def test_non_finite_step_stops_and_keeps_checkpoints(
    good_run, monkeypatch, method: str, fault, message: str
) -> None:
    run, domains = good_run(method)
    before = _digests(run)
    monkeypatch.setattr(loop, "seg_loss", fault)
    cfg = _cfg(run, method, 5, resume=str(run / "last.pt"))
    with pytest.raises(EdgeDGError, match=message) as info:
        train(cfg, memory_data(domains, 2, val=domains[0]))
    assert "last.pt" in str(info.value) and "\n" not in str(info.value)
    after = _digests(run)
    assert {k: after[k] for k in ("last.pt", "best.pt")} == {
        k: before[k] for k in ("last.pt", "best.pt")
    }
    assert not [n for n in after if n.endswith(".tmp")]


def test_non_finite_weights_never_reach_a_checkpoint(good_run) -> None:
    """lr nan passed to the library: the loss and gradient of step 3 are finite, its weights are
    not; the checkpoint of iteration 3 is refused."""
    run, domains = good_run("agg")
    before = _digests(run)
    cfg = _cfg(run, "agg", 5, resume=str(run / "last.pt"))
    cfg.optim.lr = float("nan")
    with pytest.raises(EdgeDGError, match="weights after iteration 3 are not finite"):
        train(cfg, memory_data(domains, 2, val=domains[0]))
    assert _digests(run)["best.pt"] == before["best.pt"]
    assert _digests(run)["last.pt"] == before["last.pt"]


def test_cli_divergence_is_one_line_exit_1(tmp_path: Path, monkeypatch) -> None:
    specs = write_cityscapes_domains(tmp_path / "d", num_domains=2, per_domain=3)
    monkeypatch.setattr(loop, "seg_loss", _nan_loss)
    args = ["train", "--source", specs[0], "--source", specs[1], "--out", str(tmp_path / "r"),
            "--backbone", "tiny", "--iters", "3", "--batch-per-domain", "1", "--crop", "32",
            "--workers", "0", "--val-fraction", "0", "--device", "cpu"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    last = result.output.strip().splitlines()[-1]  # after the progress bar
    assert last.startswith("Error: iteration 1: the loss is nan") and "no checkpoint" in last
    assert "Traceback" not in result.output
    assert not (tmp_path / "r" / "last.pt").exists()


def test_export_refuses_non_finite_weights(tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    payload = load_checkpoint(ckpt)
    name = next(k for k, v in payload["model"].items() if v.is_floating_point())
    payload["model"][name] = torch.full_like(payload["model"][name], float("inf"))
    torch.save(payload, ckpt)
    result = CliRunner().invoke(cli, ["export", str(ckpt), "--out", str(tmp_path / "m")])
    assert result.exit_code == 1, result.output
    assert "not finite" in result.output and name in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()
