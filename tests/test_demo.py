"""`edgedg demo`: its parts on small inputs, and the whole `--quick` pipeline end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgedg.demo import STEPS, DemoConfig
from edgedg.demo.figure import TILE_WIDTH, FigureRow, render_figure
from edgedg.demo.pipeline import MARKER, Progress, prepare_out
from edgedg.demo.scoring import ScoreSink, score_stream
from edgedg.demo.summary import format_summary
from edgedg_runtime.errors import DataError, EdgeDGError

ROOT = Path(__file__).resolve().parents[1]


# --- output folder and configuration -----------------------------------------------------------
def test_prepare_out_refuses_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(EdgeDGError, match="did not write"):
        prepare_out(tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    with pytest.raises(EdgeDGError, match="is a file"):
        prepare_out(tmp_path / "mine.txt")


def test_prepare_out_reuses_a_previous_demo_folder(tmp_path):
    out = tmp_path / "demo"
    prepare_out(out)
    assert (out / MARKER).exists()
    (out / "data" / "old").mkdir(parents=True)
    (out / "summary.md").write_text("old")
    prepare_out(out)
    assert not (out / "data").exists() and (out / "summary.md").exists()


def test_config_checks():
    with pytest.raises(EdgeDGError, match="must not be a source"):
        DemoConfig("x", target="sunny").check()
    with pytest.raises(EdgeDGError, match="two source"):
        DemoConfig("x", sources=("sunny",)).check()
    with pytest.raises(EdgeDGError, match=">= 1"):
        DemoConfig("x", iters=0).check()
    quick, full = DemoConfig.quick("x"), DemoConfig("x")
    assert quick.label == "quick" and quick.iters < full.iters and quick.size < full.size


def test_progress_numbers_steps_and_keeps_seconds():
    lines = []
    progress = Progress(lines.append, total=2)
    with progress.stage("a", "first"):
        pass
    with progress.stage("b", "second"):
        pass
    assert lines[0].startswith("[1/2] 00:00  first") and lines[2].startswith("[2/2] ")
    assert "done in" in lines[1] and set(progress.seconds) == {"a", "b"}
    assert len(STEPS) == 7


def test_cli_error_is_one_line(tmp_path):
    from edgedg.cli import cli

    (tmp_path / "notes.txt").write_text("x")
    result = CliRunner().invoke(cli, ["demo", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {tmp_path} holds files the demo did not write: choose a new or empty --out"
    ]


# --- scoring through the runtime ---------------------------------------------------------------
def _write_sequence(root: Path, n: int = 6) -> tuple[Path, Path]:
    import cv2

    frames, labels = root / "frames", root / "labels"
    frames.mkdir(parents=True)
    labels.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        frame = rng.integers(0, 255, (48, 96, 3), dtype=np.uint8)
        label = rng.integers(0, 19, (48, 96), dtype=np.uint8)
        label[:4] = 255  # not scored
        cv2.imwrite(str(frames / f"{i:05d}.png"), frame)
        cv2.imwrite(str(labels / f"{i:05d}.png"), label)
    return frames, labels


def test_score_sink_counts_against_the_label_files(tmp_path):
    _, labels = _write_sequence(tmp_path, 2)
    import cv2

    truth = cv2.imread(str(labels / "00001.png"), cv2.IMREAD_UNCHANGED)
    sink = ScoreSink(str(labels), 19, keep=["00001"])
    sink.write("00001", None, truth)  # a perfect prediction
    valid = truth < 19
    assert sink.conf.sum() == valid.sum() and np.trace(sink.conf) == valid.sum()
    assert np.array_equal(sink.kept["00001"], truth)
    with pytest.raises(DataError, match="no label image"):
        sink.write("00009", None, truth)


def test_score_stream_on_the_tiny_model(tiny_model, tmp_path):
    import cv2

    frames, labels = _write_sequence(tmp_path)
    video = tmp_path / "overlay.mp4"
    result = score_stream(str(tiny_model), str(frames), str(labels), "sib", str(video), ["00003"])
    assert result.frames == 6 and result.fps > 0
    assert 0.0 <= result.scores["miou"] <= 1.0
    assert result.scores["pixels"] == 6 * 44 * 96
    assert result.kept["00003"].shape == (48, 96) and np.isfinite(result.mean_shift)
    cap = cv2.VideoCapture(str(video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    cap.release()
    source = score_stream(str(tiny_model), str(frames), str(labels), "source")
    assert np.isnan(source.mean_shift) and not source.kept


# --- figure and summary ------------------------------------------------------------------------
def test_figure_has_a_tile_per_panel_and_a_legend():
    frame = np.zeros((32, 64, 3), np.uint8)
    labels = np.zeros((32, 64), np.uint8)
    labels[16:] = 13
    row = FigureRow(frame, "frame 1", [("ground truth", labels), ("sib", labels)])
    names = [f"class{i}" for i in range(19)]
    image = render_figure([row, row], names, [[i * 10, 0, 0] for i in range(19)])
    assert image.shape[1] == 3 * TILE_WIDTH
    assert image.shape[0] > 2 * (TILE_WIDTH // 2)  # two rows plus titles and the legend


def _report(run: str) -> dict:
    miou = {"agg": {"source": 0.1, "target": 0.12, "sib": 0.13},
            "mldg": {"source": 0.11, "target": 0.2, "sib": 0.21}}  # fmt: skip
    return {
        "run": run,
        "config": {
            "size": [64, 128],
            "per_domain": 8,
            "backbone": "tiny",
            "iters": 12,
            "batch_per_domain": 2,
            "crop": 64,
            "out": "demo-out",
        },  # fmt: skip
        "sources": ["sunny", "overcast", "cartoon"],
        "target": "night",
        "video": {"frames": 12, "mp4": "data/video/night.mp4"},
        "miou": miou,
        "sib_gain": {m: miou[m]["sib"] - miou[m]["source"] for m in miou},
        "latency": {
            "backend": "ONNX Runtime",
            "input": [64, 128],
            "frames": 5,
            "plain_ms": 1.0,
            "target_ms": 1.02,
            "target_to_plain": 1.02,
            "sib_ms": 1.05,
            "sib_to_plain": 1.05,
        },  # fmt: skip
        "seconds": {"synth": 1.0, "total": 9.0},
    }


def test_summary_reports_the_numbers():
    text = format_summary(_report("full"))
    assert "| MLDG | 11.0 | 20.0 | 21.0 |" in text and "| AGG | 10.0 | 12.0 | 13.0 |" in text
    assert "MLDG +10.0 mIoU points" in text
    assert "target / plain = **1.02x**, sib / plain = **1.05x**" in text
    assert "goal" not in text  # no verdict against a real backbone's goal for a tiny model
    assert "smoke run" not in text
    assert "edgedg stream demo-out/models/mldg demo-out/data/video/night.mp4" in text
    assert "smoke run" in format_summary(_report("quick"))


# --- the whole pipeline ------------------------------------------------------------------------
@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path):
    """`edgedg demo --quick` (10 to 60 s on 2 cores, depending on the load)."""
    import cv2

    from edgedg.cli import cli

    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for i in range(1, len(STEPS) + 1):
        assert f"[{i}/{len(STEPS)}]" in result.output
    report = json.loads((out / "report.json").read_text())
    for method in ("agg", "mldg"):
        for mode in ("source", "target", "sib"):
            assert 0.0 <= report["miou"][method][mode] <= 1.0
    assert report["latency"]["sib_to_plain"] > 0 and report["run"] == "quick"
    assert report["latency"]["target_to_plain"] > 0
    assert report["video"]["frames"] == DemoConfig.quick("x").video_frames
    figure = cv2.imread(str(out / "side_by_side.png"))
    assert figure is not None and figure.shape[1] == 5 * TILE_WIDTH  # frame, truth, 3 modes
    cap = cv2.VideoCapture(str(out / "overlay_target.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == report["video"]["frames"]
    cap.release()
    summary = (out / "summary.md").read_text()
    assert "smoke run" in summary and "| MLDG |" in summary
    assert (out / "models" / "mldg" / "contract.json").exists()
    # A second run into the same folder replaces it.
    again = CliRunner().invoke(cli, ["demo", "--quick", "--out", str(out), "--iters", "2"])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "report.json").read_text())["config"]["iters"] == 2
