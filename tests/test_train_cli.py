"""`edgedg train` end to end on small Cityscapes-format datasets written to disk."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgedg.checkpoint import load_model
from edgedg.cli import cli

sys.path.insert(0, str(Path(__file__).parent))
from _train_helpers import write_cityscapes_domains  # noqa: E402

pytest.importorskip("edgedg.data.sampler")
pytest.importorskip("edgedg.data.transforms")


def _run(args: list[str]):
    return CliRunner().invoke(cli, ["train", *args], catch_exceptions=False)


def test_train_cli_mldg_and_resume(tmp_path: Path) -> None:
    specs = write_cityscapes_domains(tmp_path / "data", num_domains=3, per_domain=5)
    run = tmp_path / "run"
    common = ["--backbone", "tiny", "--batch-per-domain", "2", "--crop", "64", "--workers", "0",
              "--val-fraction", "0.2", "--device", "cpu", "--out", str(run)]  # fmt: skip
    sources = [x for s in specs for x in ("--source", s)]
    result = _run([*sources, *common, "--iters", "20", "--save-every", "10", "--method", "mldg"])
    assert result.exit_code == 0, result.output
    assert "done: 20 iterations" in result.output
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert sum("loss" in r for r in records) == 20
    assert [r["iter"] for r in records if "val_miou" in r] == [10, 20]
    assert {"val/dom0", "val/dom1", "val/dom2"} <= next(
        r for r in records if "val_miou" in r
    ).keys()
    assert (run / "best.pt").is_file() and (run / "last.pt").is_file()

    more = _run([*sources, *common, "--iters", "24", "--resume", str(run / "last.pt")])
    assert more.exit_code == 0, more.output
    steps = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in steps if "loss" in r] == list(range(1, 25))


def test_train_cli_user_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--source",
            f"cityscapes:{tmp_path}/nope",
            "--out",
            str(tmp_path / "r"),
            "--backbone",
            "tiny",
            "--device",
            "cpu",
        ],  # fmt: skip
    )
    assert result.exit_code == 1 and "Error:" in result.output
    assert "Traceback" not in result.output
    specs = write_cityscapes_domains(tmp_path / "d", num_domains=2, per_domain=3)
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--source",
            specs[0],
            "--source",
            specs[1],
            "--out",
            str(tmp_path / "r"),
            "--backbone",
            "resnet7",
            "--device",
            "cpu",
            "--iters",
            "1",
        ],  # fmt: skip
    )
    assert result.exit_code == 2 and "resnet50" in result.output  # a usage error, names listed


def test_train_cli_target_validation_is_oracle(tmp_path: Path) -> None:
    specs = write_cityscapes_domains(tmp_path / "src", num_domains=2, per_domain=3)
    target = write_cityscapes_domains(tmp_path / "tgt", num_domains=1, per_domain=2, split="val")
    run = tmp_path / "run"
    args = ["--source", specs[0], "--source", specs[1], "--val", target[0], "--backbone", "tiny",
            "--method", "agg", "--iters", "2", "--batch-per-domain", "1", "--crop", "48",
            "--workers", "0", "--device", "cpu", "--out", str(run)]  # fmt: skip
    result = _run(args)
    assert result.exit_code == 0, result.output
    meta = load_model(run / "best.pt")[1]
    assert meta["oracle_selection"] is True and "val_miou" in meta
