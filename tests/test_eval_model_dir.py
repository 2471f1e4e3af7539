"""`edgedg eval MODEL_DIR`: the exported graphs scored through the runtime's Segmenter, against the
checkpoint's own score on the same stream orders."""

from __future__ import annotations

import json

import pytest
from _eval_helpers import tiny_checkpoint, write_domain
from click.testing import CliRunner

from edgedg.cli import cli as main
from edgedg.evaluate.model_dir_eval import cut
from edgedg.evaluate.runner import EvalConfig, evaluate_checkpoint
from edgedg.evaluate.stream import prepare

# The FP32 graphs agree with PyTorch on >= 99.9% of the pixels (`edgedg check`); on 7 images of
# 32x32 a handful of flipped pixels moves a class IoU, so the scores must agree within this.
MIOU_TOL = 0.005  # 0.5 mIoU points


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from edgedg_export.calibrate import Int8Options
    from edgedg_export.model_dir import ExportOptions, export_model_dir

    root = tmp_path_factory.mktemp("evaldir")
    ckpt = tiny_checkpoint(root / "tiny.pt")
    dark = write_domain(root / "dark", 4, brightness=20.0, seed=1, n_train=4)
    bright = write_domain(root / "bright", 3, brightness=150.0, seed=2)
    # square input: the paper protocol's crop at --size 32 is the model directory's input
    options = ExportOptions(imgsz=(32, 32), int8=Int8Options((dark,), images=4))
    export_model_dir(ckpt, root / "model", options)
    return root, ckpt, [dark, bright]


def test_model_dir_scores_like_its_checkpoint(setup):
    from edgedg.evaluate.model_dir_eval import evaluate_model_dir

    root, ckpt, targets = setup
    cfg = EvalConfig(("source", "target", "sib", "qib"), runs=2, size=32)
    want = evaluate_checkpoint(str(ckpt), targets, cfg, log=None)
    got = evaluate_model_dir(str(root / "model"), targets, cfg, log=None)
    assert got["input_size"] == want["input_size"] == [32, 32]
    for mode in cfg.modes:
        a, b = got["modes"][mode], want["modes"][mode]
        assert a["seeds"] == b["seeds"]
        for x, y in zip(a["mixed"]["miou_runs"], b["mixed"]["miou_runs"], strict=True):
            assert abs(x - y) <= MIOU_TOL, (mode, x, y)


def test_eval_cli_model_dir_int8_report(setup, tmp_path):
    root, _, targets = setup
    report = tmp_path / "r.json"
    args = ["eval", str(root / "model"), "--target", targets[1], "--precision", "int8"]
    args += ["--norm", "target", "--size", "32", "--report", str(report)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "int8 graphs" in result.output
    data = json.loads(report.read_text())
    assert data["precision"] == "int8" and data["modes"]["target"]["runs"] == 1


def test_eval_cli_refuses_what_a_model_dir_cannot_do(setup):
    root, ckpt, targets = setup
    args = ["eval", str(root / "model"), "--target", targets[0], "--norm", "tn-batch"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "checkpoint only" in result.output
    args = ["eval", str(ckpt), "--target", targets[0], "--precision", "int8"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "MODEL_DIR" in result.output


def test_square_cut_is_the_paper_crop():
    import numpy as np

    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (48, 80, 3), dtype=np.uint8)
    label = rng.integers(0, 19, (48, 80), dtype=np.uint8)
    for a, b in zip(
        cut(image, label, "paper", (32, 32)), prepare(image, label, "paper", (32, 32)), strict=True
    ):
        assert np.array_equal(a, b)
    frame, lab = cut(image, label, "paper", (32, 64))
    assert frame.shape == (32, 64, 3) and lab.shape == (32, 64)
