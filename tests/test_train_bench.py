"""`edgedg bench-train` on the tiny backbone: every mode timed, ratios relative to AGG."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from edgedg.cli import cli


def test_bench_train_tiny(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    args = ["bench-train", "--backbones", "tiny", "--size", "32", "--iters", "2", "--warmup", "1",
            "--device", "cpu", "--json", str(out)]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())
    assert [r["mode"] for r in rows] == ["agg", "mldg-1", "mldg-2"]
    assert rows[0]["ratio_to_agg"] == 1.0 and all(r["median_s"] > 0 for r in rows)
    assert all(r["images_per_step"] == 6 for r in rows)
    assert "mldg-2" in result.output
