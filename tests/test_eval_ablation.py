"""`edgedg ablation --quick`: trains AGG and MLDG briefly and prints every row of Tables 3 and 5."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _eval_helpers import write_domain

from edgedg.evaluate.ablation import ROWS, AblationConfig, run_ablation

pytest.importorskip("edgedg.train")


def _blocky(root: Path, name: str, n_train: int, n_val: int, side: int, seed: int) -> str:
    """Stand-in domains (brightness per domain) in Cityscapes format."""
    return write_domain(root / name, n_val, 30.0 + 40.0 * seed, seed, n_train=n_train)


@pytest.mark.slow
def test_quick_ablation_reports_every_row(tmp_path):
    cfg = AblationConfig.quick(str(tmp_path / "abl"))
    report = run_ablation(cfg, synthesize=_blocky, log=lambda _: None)
    assert list(report["rows"]) == [row for row, *_ in ROWS]
    for entry in report["rows"].values():
        assert set(entry) == {"night", "rain", "mixed"}
        assert 0.0 <= entry["mixed"]["miou_mean"] <= 1.0
    assert len(report["rows"]["MLDG+SIB"]["mixed"]["miou_runs"]) == cfg.runs
    assert set(report["gap_sib_vs_exact"]) == {"night", "rain", "mixed"}
    saved = json.loads((tmp_path / "abl" / "ablation.json").read_text())
    assert saved["rows"].keys() == report["rows"].keys()
    table = (tmp_path / "abl" / "ablation.md").read_text()
    assert "MLDG+SIB-exact" in table and "Table 5" in table
