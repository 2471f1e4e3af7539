"""`edgedg stream MODEL_DIR --camera NAME=INPUT ... --out DIR`: a rig on the command line.

What must hold: each camera's masks equal those of a single stream of its input (>= 99.9% of
pixels) in target and in sib with a bank per camera; a camera whose input ends early or does not
open stops no other; SIGTERM mid-run leaves every video playable and every bank loadable, exit
143; the exit code says "no frame" only when no camera read one.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _runtime_helpers import ASSETS, count_frames, invoke, write_video

from edgedg_runtime.bank import SourceStats, load_bank
from edgedg_runtime.benchmark import synthetic_frames
from edgedg_runtime.contract import load_contract, load_source_stats
from edgedg_runtime.rig_stream import rig_exit_code
from edgedg_runtime.stream import StreamSummary

ORT = ("--backend", "ort", "--ort-layout", "nchwc", "--threads", "1")


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict:
    """Two cameras of different sizes and styles (b darker), and a short one."""
    folder = tmp_path_factory.mktemp("rig_videos")
    dark = [(f * 0.5).astype(np.uint8) for f in synthetic_frames(40, 80, 14, seed=2, block=5)]
    return {
        "a": write_video(folder / "a.mp4", synthetic_frames(48, 96, 12, seed=1, block=4)),
        "b": write_video(folder / "b.mp4", dark),
        "short": write_video(folder / "s.mp4", synthetic_frames(32, 64, 3, seed=3)),
    }


def _masks(folder: Path) -> dict:
    import cv2

    return {p.name: cv2.imread(str(p)) for p in sorted(folder.glob("*_mask.png"))}


@pytest.mark.parametrize("norm", ["target", "sib"])
def test_rig_masks_equal_single_streams(videos, tmp_path, norm):
    model = str(ASSETS / "tiny_model")
    banks = ("--bank-dir", tmp_path / "banks") if norm == "sib" else ()
    args = ["stream", model, "--camera", f"a={videos['a']}", "--camera", f"b={videos['b']}"]
    rig = invoke(
        [*args, "--out", tmp_path / "rig", "--visualize", "mask", "--norm", norm, *ORT, *banks]
    )
    assert rig.exit_code == 0, rig.output
    assert rig.output.count(" frames, ") == 2 and "a: 12 frames" in rig.output
    for name in ("a", "b"):
        alone = tmp_path / f"alone_{name}"
        bank = ("--bank", tmp_path / f"{name}.npz") if norm == "sib" else ()
        single = invoke(
            [
                "stream",
                model,
                videos[name],
                alone,
                "--visualize",
                "mask",
                "--norm",
                norm,
                *ORT,
                *bank,
            ]
        )
        assert single.exit_code == 0, single.output
        ours, theirs = _masks(tmp_path / "rig" / name), _masks(alone)
        assert sorted(ours) == sorted(theirs) and len(ours) >= 12
        agree = np.mean([np.mean(ours[k] == theirs[k]) for k in ours])
        assert agree >= 0.999, f"{name} {norm}: {agree:.5f}"
        if norm == "sib":
            source = _source(model)
            rig_bank = load_bank(str(tmp_path / "banks" / f"{name}.npz"), source=source)
            assert len(rig_bank) == len(load_bank(str(tmp_path / f"{name}.npz"), source=source))


def test_a_camera_that_ends_or_does_not_open_stops_no_other(videos, tmp_path):
    model = str(ASSETS / "tiny_model")
    cams = [f"a={videos['a']}", f"s={videos['short']}", f"gone={tmp_path / 'missing.mp4'}"]
    args = ["stream", model, *[x for c in cams for x in ("--camera", c)], "--out", tmp_path]
    result = invoke([*args, *ORT])
    assert result.exit_code == 0, result.output
    assert "a: 12 frames" in result.output and "s: 3 frames" in result.output
    assert "gone: 0 frames" in result.output and "cannot open" in result.output
    assert count_frames(tmp_path / "a.mp4") == 12 and count_frames(tmp_path / "s.mp4") == 3


def test_rig_option_errors(videos, tmp_path):
    model = str(ASSETS / "tiny_model")
    bad_name = invoke(["stream", model, "--camera", f"a/b={videos['a']}", "--out", tmp_path])
    assert bad_name.exit_code == 1 and "letters, digits" in bad_name.output
    twice = invoke(
        [
            "stream",
            model,
            "--camera",
            f"a={videos['a']}",
            "--camera",
            f"a={videos['b']}",
            "--out",
            tmp_path,
        ]
    )
    assert twice.exit_code == 1 and "given twice" in twice.output
    both = invoke(["stream", model, videos["a"], "--camera", f"a={videos['a']}"])
    assert both.exit_code == 2
    nothing = invoke(["stream", model])
    assert nothing.exit_code == 2 and "--camera" in nothing.output


def test_rig_exit_code_precedence():
    ok, none = StreamSummary(frames=3), StreamSummary(frames=0)
    assert rig_exit_code({"a": ok, "b": none}) == 0  # "no frame" only when NO camera read one
    assert rig_exit_code({"a": none, "b": StreamSummary()}) == 3
    assert rig_exit_code({"a": StreamSummary(frames=2, signal=15), "b": ok}) == 143
    lost = StreamSummary(frames=2, signal=15, bank_error="disk full")
    assert rig_exit_code({"a": lost, "b": ok}) == 4  # a lost bank wins
    failed = StreamSummary(frames=2, signal=15, output_error="disk full")
    assert rig_exit_code({"a": failed, "b": ok}) == 5  # one stream's order: 4, 5, 128+N, 3
    assert rig_exit_code({"a": failed, "b": lost}) == 4


def test_a_rig_output_that_is_a_camera_input_is_refused(videos, tmp_path):
    """A typo never destroys a recording: `--camera a=OUT/b.mp4 --out OUT` would overwrite
    camera a's input with camera b's video."""
    out = tmp_path / "out"
    out.mkdir()
    recording = out / "b.mp4"
    recording.write_bytes(Path(videos["a"]).read_bytes())
    before = recording.read_bytes()
    model = str(ASSETS / "tiny_model")
    result = invoke(
        ["stream", model, "--camera", f"a={recording}", "--camera", f"b={videos['b']}",
         "--out", out, *ORT]
    )  # fmt: skip
    assert result.exit_code == 2 and "camera a" in result.output
    assert recording.read_bytes() == before


def test_a_failing_camera_output_stops_no_other_and_exits_5(videos, tmp_path, monkeypatch):
    """An output that fails (a full disk, a folder removed) ends that camera with exit 5; the
    other cameras' videos are still written."""
    from edgedg_runtime import sinks
    from edgedg_runtime.errors import OutputError

    real_write = sinks.VideoSink.write

    def write(self, name, frame, labels):
        if self.path.endswith("a.mp4"):
            raise OutputError(f"cannot write the video {self.path} (No space left on device)")
        return real_write(self, name, frame, labels)

    monkeypatch.setattr(sinks.VideoSink, "write", write)
    model = str(ASSETS / "tiny_model")
    result = invoke(
        ["stream", model, "--camera", f"a={videos['a']}", "--camera", f"b={videos['b']}",
         "--out", tmp_path, *ORT]
    )  # fmt: skip
    assert result.exit_code == 5, result.output
    assert "output failed" in result.output and "No space left" in result.output
    assert count_frames(tmp_path / "b.mp4") == 14 and not (tmp_path / "a.mp4").exists()


def _source(model: str) -> SourceStats:
    contract = load_contract(model)
    stats, style = load_source_stats(model, contract)
    return SourceStats.from_layout(contract.stat_layout, stats, style)


@pytest.mark.slow
def test_sigterm_mid_run_keeps_every_video_and_bank(tmp_path):
    """SIGTERM after a few ticks: every video playable with one frame per segmented frame,
    every bank loadable, exit 143."""
    model = str(ASSETS / "tiny_model")
    long = {
        n: write_video(tmp_path / f"{n}.mp4", synthetic_frames(32, 64, 150, seed=i))
        for i, n in enumerate("ab")
    }
    cmd = [
        sys.executable,
        "-m",
        "edgedg_runtime",
        "stream",
        model,
        "--camera",
        f"a={long['a']}",
        "--camera",
        f"b={long['b']}",
    ]
    cmd += [
        "--out",
        str(tmp_path / "out"),
        "--bank-dir",
        str(tmp_path / "banks"),
        "--norm",
        "sib",
        "--profile",
        "1",
        *ORT,
    ]
    proc = subprocess.Popen(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for line in proc.stdout:
        if line.startswith("[") and int(line[1:7]) == 5:
            proc.send_signal(signal.SIGTERM)
            break
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, rest + err
    assert "Traceback" not in err and "stopped by SIGTERM" in rest
    source = _source(model)
    for name in "ab":
        frames = int(rest.split(f"{name}: ")[1].split(" frames")[0])
        assert 1 <= frames < 150  # 5 ticks: a camera whose frame was not decoded yet sat one out
        assert count_frames(tmp_path / "out" / f"{name}.mp4") == frames
        assert len(load_bank(str(tmp_path / "banks" / f"{name}.npz"), source=source)) == frames


def test_bench_cameras_prints_a_scaling_table(tiny_model):
    result = invoke(["bench", tiny_model, "--cameras", "1,2", "--backend", "ort", "--frames", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:2] == ["cameras", "run"])
    table = lines[head + 1 :]
    assert [line.split()[:2] for line in table] == [
        ["1", "rig"],
        ["1", "separate"],
        ["2", "rig"],
        ["2", "separate"],
    ]
    bad = invoke(["bench", tiny_model, "--cameras", "0,x"])
    assert bad.exit_code == 1 and "--cameras" in bad.output
