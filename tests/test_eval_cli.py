"""`edgedg eval` end to end on a tiny checkpoint and two generated target domains."""

from __future__ import annotations

import json

import pytest
from _eval_helpers import official_miou, tiny_checkpoint, write_domain
from click.testing import CliRunner

from edgedg.cli import cli as main
from edgedg.evaluate.runner import EvalConfig, evaluate_checkpoint


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    ckpt = tiny_checkpoint(root / "tiny.pt")
    dark = write_domain(root / "dark", 4, brightness=20.0, seed=1)
    bright = write_domain(root / "bright", 3, brightness=150.0, seed=2)
    return root, ckpt, [dark, bright]


def test_eval_every_mode_writes_report_chart_and_predictions(setup, tmp_path):
    root, ckpt, targets = setup
    args = [str(ckpt), "--target", targets[0], "--target", targets[1], "--runs", "2"]
    for mode in ("source", "target", "sib", "sib-exact", "qib", "tn-batch"):
        args += ["--norm", mode]
    out = tmp_path / "out"
    args += ["--protocol", "full", "--size", "64", "--report", str(out / "r.json")]
    args += ["--chart", str(out / "c.png"), "--save-pred", str(out / "pred")]
    result = CliRunner().invoke(main, ["eval"] + args)
    assert result.exit_code == 0, result.output
    assert "sib-exact" in result.output and "mixed" in result.output
    report = json.loads((out / "r.json").read_text())
    assert list(report["targets"]) == ["dark", "bright"]
    assert report["targets"]["dark"]["images"] == 4 and report["input_size"] == [32, 64]
    for mode, entry in report["modes"].items():
        assert entry["runs"] == (1 if mode in ("source", "target") else 2)
        assert len(entry["mixed"]["miou_runs"]) == entry["runs"]
        assert 0.0 <= entry["mixed"]["miou_mean"] <= 1.0 and len(entry["mixed"]["iou_mean"]) == 19
    assert (out / "c.png").read_bytes()[:4] == b"\x89PNG"
    # The saved source predictions scored by the official script give our source mIoU.
    gts = sorted((root / "dark" / "gtFine").rglob("*_labelIds.png"))
    gts += sorted((root / "bright" / "gtFine").rglob("*_labelIds.png"))
    pred_root = out / "pred" / "source"
    assert len(list(pred_root.rglob("overlay/*.jpg"))) == 7
    # Both domains reuse the same file names: score each domain on its own.
    for name in ("dark", "bright"):
        official = official_miou(pred_root / name, [g for g in gts if f"/{name}/" in str(g)])
        ours = report["modes"]["source"]["targets"][name]["miou_mean"]
        assert ours == pytest.approx(official, abs=1e-6)


def test_single_run_modes_agree_with_library_call(setup):
    _, ckpt, targets = setup
    cfg = EvalConfig(modes=("source", "sib"), runs=1, protocol="paper", size=32, limit=2)
    report = evaluate_checkpoint(str(ckpt), targets, cfg, log=None)
    assert report["input_size"] == [32, 32]
    assert sum(t["images"] for t in report["targets"].values()) == 4
    assert report["modes"]["sib"]["mixed"]["miou_std"] == 0.0


def test_batch_tn_normalises_over_batches_of_m_shuffled_images(setup):
    """tn-batch with M = 1 is per-frame TN in every shuffle; with M = 4 each shuffle makes other
    batches, so the runs differ from per-frame TN and from each other."""
    _, ckpt, targets = setup
    opts = dict(runs=3, protocol="paper", size=32)
    cfg = EvalConfig(modes=("target", "tn-batch"), m=1, **opts)
    single = evaluate_checkpoint(str(ckpt), targets, cfg, log=None)["modes"]
    per_frame = single["target"]["mixed"]["miou_mean"]
    assert single["tn-batch"]["mixed"]["miou_runs"] == pytest.approx([per_frame] * 3, abs=1e-12)
    cfg = EvalConfig(modes=("tn-batch",), m=4, **opts)
    runs = evaluate_checkpoint(str(ckpt), targets, cfg, log=None)["modes"]["tn-batch"]["mixed"]
    assert len(set(runs["miou_runs"])) > 1 and per_frame not in runs["miou_runs"]


def test_bad_options_are_one_line_errors(setup):
    _, ckpt, targets = setup
    result = CliRunner().invoke(main, ["eval", str(ckpt), "--target", targets[0], "--runs", "9"])
    assert result.exit_code == 2 and "'--runs'" in result.output and "1<=x<=5" in result.output
    result = CliRunner().invoke(main, ["eval", "missing.pt", "--target", targets[0]])
    assert result.exit_code == 1 and "no checkpoint" in result.output
