"""Outputs of `edgedg stream` that fail, and typos that would destroy data: a failing output is
reported with its own exit code, never loses the bank and never reports success; an output that
is an input or another output is refused before anything is opened; one bad image never ends a
folder stream."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib

import cv2
import numpy as np
import pytest
from _runtime_helpers import count_frames, invoke, model_dir, write_video

from edgedg_runtime.bank import load_bank
from edgedg_runtime.benchmark import synthetic_frames
from edgedg_runtime.sinks import Renderer, VideoSink
from edgedg_runtime.stream import EXIT_OUTPUT_FAILED, StreamOptions, stream

ON_SIB = ("--backend", "ort", "--norm", "sib")


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    return model_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> str:
    return write_video(tmp_path_factory.mktemp("v") / "in.mp4", synthetic_frames(48, 96, 30))


def _options(bank: str, **kw) -> StreamOptions:
    options = StreamOptions(backend="ort", norm="sib", bank=bank, profile=1)
    for key, value in kw.items():
        setattr(options, key, value)
    return options


def _remove_at(frame: int, folder):
    def echo(line: str) -> None:
        if line.startswith("[") and int(line[1:7]) == frame:
            shutil.rmtree(folder)

    return echo


@pytest.mark.parametrize("kind", ["folder", "video"])
def test_an_output_removed_mid_run_is_reported_and_the_bank_is_saved(model, video, tmp_path, kind):
    """A USB stick pulled: the output folder vanishes after frame 5."""
    folder = tmp_path / "usb"
    out = folder / "pngs" if kind == "folder" else folder / "out.mp4"
    bank = tmp_path / "b.npz"
    summary = stream(model, video, str(out), _options(str(bank)), echo=_remove_at(5, folder))
    assert summary.exit_code() == EXIT_OUTPUT_FAILED and summary.output_error
    assert "output" in summary.format()
    assert len(load_bank(str(bank))) >= summary.frames >= 5


def test_a_first_frame_too_large_for_the_video_writer_is_an_output_failure(model, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "a.png"), np.full((64, 9000, 3), 80, np.uint8))  # beyond MPEG-4
    cv2.imwrite(str(frames / "b.png"), np.full((48, 96, 3), 80, np.uint8))
    bank = tmp_path / "b.npz"
    result = invoke(["stream", model, frames, tmp_path / "out.mp4", *ON_SIB, "--bank", bank])
    assert result.exit_code == EXIT_OUTPUT_FAILED, result.output
    assert "Traceback" not in result.output and "frames, " in result.output  # the summary
    assert "Error: output failed" in result.output and bank.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temp left


def test_a_video_on_a_full_disk_is_an_output_failure(model, video, tmp_path):
    """ENOSPC for real on a 64 KiB tmpfs: OpenCV's writer reports nothing, the check at close
    finds the video unplayable."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    cmd = ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)]
    if subprocess.run(cmd, capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        options = _options(str(tmp_path / "b.npz"), input_width=640, input_height=480)
        summary = stream(model, video, str(disk / "out.mp4"), options, echo=lambda _: None)
        assert summary.exit_code() == EXIT_OUTPUT_FAILED, summary.format()
        assert "frames" in summary.output_error and not os.listdir(disk)
        assert len(load_bank(str(tmp_path / "b.npz"))) == summary.frames
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


@pytest.mark.parametrize("case", ["output-is-input", "bank-is-output", "alias", "bank-is-input"])
def test_an_output_that_is_an_input_or_another_output_is_refused(model, video, tmp_path, case):
    rec = tmp_path / "rec.mp4"
    shutil.copyfile(video, rec)
    before = rec.read_bytes()
    link = tmp_path / "link.mp4"
    link.symlink_to(rec)
    new = tmp_path / "new.mp4"
    args = {
        "output-is-input": [rec, rec],
        "bank-is-output": [video, new, "--bank", new],
        "alias": [rec, link],
        "bank-is-input": [rec, "--bank", rec],
    }[case]
    result = invoke(["stream", model, *args, *ON_SIB])
    assert result.exit_code == 2 and "Invalid value" in result.output, result.output
    assert "frames, " not in result.output and rec.read_bytes() == before and not new.exists()


def _png_claiming(width: int, height: int) -> bytes:
    """An 8x8 PNG whose header claims ``width`` x ``height`` (CRC fixed)."""
    data = bytearray(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_an_image_claiming_a_huge_size_is_a_bad_frame_and_the_folder_goes_on(model, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for name in ("a", "c"):
        cv2.imwrite(str(frames / f"{name}.png"), np.full((48, 96, 3), 90, np.uint8))
    (frames / "b.png").write_bytes(_png_claiming(60000, 60000))
    result = invoke(["stream", model, frames, tmp_path / "out", "--backend", "ort"])
    assert result.exit_code == 0, result.output
    assert "2 frames, 1 bad" in result.output
    assert sorted(os.listdir(tmp_path / "out")) == ["a_overlay.png", "c_overlay.png"]


def test_two_video_sinks_on_one_output_use_their_own_temp_files(tmp_path):
    out = tmp_path / "out.mp4"
    renderer = Renderer(["dark", "bright"], [(0, 0, 0), (255, 255, 0)])
    first, second = VideoSink(str(out), 10, renderer), VideoSink(str(out), 10, renderer)
    frame = np.full((48, 96, 3), 200, np.uint8)
    labels = np.zeros((48, 96), np.uint8)
    for _ in range(3):
        first.write("f", frame, labels)
    second.write("f", frame, labels)
    first.close()
    second.close()  # the last one closed wins, whole
    assert count_frames(out) == 1
