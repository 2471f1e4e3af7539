"""`edgedg ablation --quick` on the real synthetic domains: trains AGG and MLDG briefly and reports
every row of Tables 3 and 5; the targets are held-out scenes, not the source layouts repainted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("edgedg.train")

from edgedg.cli import cli  # noqa: E402
from edgedg.evaluate.ablation import (  # noqa: E402
    ROWS,
    SOURCES,
    TARGETS,
    AblationConfig,
    make_domains,
    run_ablation,
)
from edgedg_runtime.errors import EdgeDGError  # noqa: E402


def _labels(spec: str, split: str) -> list[np.ndarray]:
    from edgedg.data import open_dataset

    ds = open_dataset(spec, split)
    return [ds[i]["label"] for i in range(len(ds))]


def test_targets_are_held_out_scenes(tmp_path):
    cfg = AblationConfig(str(tmp_path), size=32, train_images=6, target_images=3)
    specs = make_domains(cfg)
    assert set(specs["sources"]) == set(SOURCES) and set(specs["targets"]) == set(TARGETS)
    source = _labels(specs["sources"][SOURCES[0]], "train")
    assert len(source) == 6
    # Every source paints the same scenes; every target shows other ones.
    other = _labels(specs["sources"][SOURCES[1]], "train")
    assert all(np.array_equal(a, b) for a, b in zip(source, other, strict=True))
    target = _labels(specs["targets"][TARGETS[0]], "val")
    assert len(target) == 3
    assert not any(np.array_equal(s, t) for s in source for t in target)


def test_bad_config_is_a_clear_error(tmp_path):
    with pytest.raises(EdgeDGError, match="--checkpoint"):
        run_ablation(AblationConfig(str(tmp_path), checkpoint="oracle"), log=lambda _: None)


@pytest.mark.slow
def test_quick_ablation_reports_every_row(tmp_path):
    out = tmp_path / "abl"
    result = CliRunner().invoke(cli, ["ablation", "--out", str(out), "--quick"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "ablation.json").read_text())
    assert list(report["rows"]) == [row for row, *_ in ROWS]
    for entry in report["rows"].values():
        assert set(entry) == {*TARGETS, "mixed"}
        assert 0.0 <= entry["mixed"]["miou_mean"] <= 1.0
    cfg = AblationConfig.quick(str(out))
    assert len(report["rows"]["MLDG+SIB"]["mixed"]["miou_runs"]) == cfg.evaluation.runs
    assert len(report["rows"]["MLDG"]["mixed"]["miou_runs"]) == 1  # batch 1: deterministic
    assert report["targets"] == {t: cfg.target_images for t in TARGETS}
    assert set(report["gap_sib_vs_exact"]) == {*TARGETS, "mixed"}
    for info in report["models"].values():
        assert 0.0 <= info["source_val_miou"] <= 1.0 and 1 <= info["iteration"] <= cfg.iters
    table = (out / "ablation.md").read_text()
    assert "MLDG+SIB-exact" in table and "Table 5" in table and "source-val" in table
    assert Path(out / "runs" / "mldg" / "best.pt").is_file()
