"""A full disk while training or exporting is one line, not a traceback, and leaves no temp file;
a torn last line in RUN/metrics.jsonl does not stop --resume."""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgedg.cli import cli
from edgedg.train import memory_data, train
from edgedg.train.metrics_log import MetricsLog

sys.path.insert(0, str(Path(__file__).parent))
from _export_helpers import tiny_checkpoint  # noqa: E402
from _train_helpers import make_domains, write_cityscapes_domains  # noqa: E402
from test_train_nonfinite import _cfg  # noqa: E402


def _full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _temps(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if "tmp" in p.name]


def _one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    last = result.output.strip().splitlines()[-1]  # after any progress bar
    assert last.startswith("Error: ") and "No space left on device" in last
    return last


def test_checkpoint_on_a_full_disk_is_one_line(tmp_path: Path, monkeypatch) -> None:
    import torch

    specs = write_cityscapes_domains(tmp_path / "d", num_domains=2, per_domain=3)
    monkeypatch.setattr(torch, "save", _full)
    run = tmp_path / "r"
    args = ["train", "--source", specs[0], "--source", specs[1], "--out", str(run),
            "--backbone", "tiny", "--iters", "1", "--batch-per-domain", "1", "--crop", "32",
            "--workers", "0", "--val-fraction", "0", "--device", "cpu"]  # fmt: skip
    line = _one_error_line(CliRunner().invoke(cli, args))
    assert "free space" in line
    assert not (run / "last.pt").exists() and _temps(run) == []


def test_export_on_a_full_disk_is_one_line(tmp_path: Path, monkeypatch) -> None:
    import onnx

    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    monkeypatch.setattr(onnx, "save", _full)
    out = tmp_path / "m"
    _one_error_line(CliRunner().invoke(cli, ["export", str(ckpt), "--out", str(out)]))
    assert not out.exists() and _temps(tmp_path) == []


def test_metrics_rewrite_on_a_full_disk_leaves_no_temp(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"iter": 1}\n{"iter": 2}\n{"iter": 3}\n')
    monkeypatch.setattr(os, "replace", _full)
    with pytest.raises(OSError):
        MetricsLog(tmp_path, resume_from=2)
    assert _temps(tmp_path) == []
    assert (tmp_path / "metrics.jsonl").read_text().count("\n") == 3  # intact


def test_resume_drops_a_torn_last_metrics_line(tmp_path: Path) -> None:
    domains = make_domains(3, 4)
    train(_cfg(tmp_path, "agg", 2), memory_data(domains, 2))
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write('{"iter": 3, "loss": 0.')  # a power cut mid-record
    cfg = _cfg(tmp_path, "agg", 3, resume=str(tmp_path / "last.pt"))
    with pytest.warns(UserWarning, match="torn"):
        train(cfg, memory_data(domains, 2))
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in records] == [1, 2, 3]
