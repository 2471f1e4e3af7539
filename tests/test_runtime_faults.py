"""Faults injected for real into `edgedg stream`: signals at a random frame, a bank path that
becomes unwritable, two writers of one bank, a dead RTSP server, inputs with no readable frame,
out-of-range options. The stream keeps its recording and its adaptation, and the exit code says
what happened."""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from _runtime_helpers import count_frames, invoke, model_dir, write_video

from edgedg_runtime.bank import SourceStats, load_bank
from edgedg_runtime.benchmark import synthetic_frames
from edgedg_runtime.contract import load_contract, load_source_stats
from edgedg_runtime.errors import EdgeDGError
from edgedg_runtime.sources import open_source
from edgedg_runtime.stream import StreamOptions, stream

# A bank needs a bank mode (the default, target, keeps none).
ON_SIB = ("--backend", "ort", "--norm", "sib")


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> str:
    """A 120-frame synthetic street video from `edgedg data synth --video` where the training
    extras are installed, else the runtime's synthetic frames (the runtime-only venv)."""
    folder = tmp_path_factory.mktemp("faults")
    args = ["data", "synth", folder / "synth", "--domains", "night", "--per-domain", "1"]
    args += ["--size", "48x96", "--video", "--video-frames", "120", "--quiet"]
    if importlib.util.find_spec("torch") is not None and invoke(args).exit_code == 0:
        found = sorted((folder / "synth").rglob("*.mp4"))
        if found:
            return str(found[0])
    return write_video(folder / "v.mp4", synthetic_frames(48, 96, 120))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    """A copy of the committed tiny model: a stream writes engines/ort-layout.json beside it."""
    return model_dir(tmp_path_factory)


def _source(model: str) -> SourceStats:
    contract = load_contract(model)
    return SourceStats.from_layout(contract.stat_layout, *load_source_stats(model, contract))


def _edgedg(*args, **kw) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "edgedg_runtime", *[str(a) for a in args]]
    return subprocess.Popen(cmd, text=True, **kw)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_at_a_random_frame_keeps_video_and_bank(model, video, tmp_path, signum):
    """systemd / docker stop send SIGTERM, a closed terminal SIGHUP, Ctrl-C SIGINT. Signalled at
    a random frame, the stream finishes that frame, closes a playable video, saves a loadable
    bank, prints the summary and exits with 128 + the signal number."""
    stop_at = random.Random().randint(2, 40)
    out, bank = tmp_path / "out.mp4", tmp_path / "bank.npz"
    proc = _edgedg(
        "stream", model, video, out, *ON_SIB, "--bank", bank, "--profile", "1",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("[") and int(line[1:7]) == stop_at:
            proc.send_signal(signum)
            break
    rest, err = proc.communicate(timeout=60)
    output = "".join(lines) + rest
    assert proc.returncode == 128 + signum, output + err
    assert "Traceback" not in err and f"stopped by {signal.Signals(signum).name}" in output
    frames = int(output.split(" frames, ")[0].rsplit("\n", 1)[-1])
    assert stop_at <= frames < 120
    assert count_frames(out) == frames  # playable, one output frame per segmented frame
    assert len(load_bank(str(bank), source=_source(model))) == frames
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_bank_path_that_becomes_unwritable_keeps_segmenting(model, video, tmp_path, caplog):
    """The bank's folder is replaced by a file after frame 10 (a real ENOTDIR on every later
    save; chmod would not stop root): segmentation goes on, the failure is logged once, and the
    exit code says that the final save failed."""
    folder = tmp_path / "banks"
    out, options = (
        tmp_path / "out.mp4",
        StreamOptions(backend="ort", norm="sib", bank=str(folder / "b.npz")),
    )
    options.bank_save_every, options.profile = 5, 1

    def echo(line: str) -> None:
        if line.startswith("[") and int(line[1:7]) == 10:
            shutil.rmtree(folder)
            folder.write_text("not a folder any more")

    summary = stream(model, video, str(out), options, echo=echo)
    from edgedg_runtime.stream import EXIT_BANK_NOT_SAVED

    assert summary.frames == count_frames(out) == count_frames(video)
    assert summary.bank_error and summary.exit_code() == EXIT_BANK_NOT_SAVED
    assert caplog.text.count("cannot save the style bank") == 1


@pytest.fixture
def small_disk(tmp_path):
    """A real 48 KiB tmpfs (a full disk after about ten bank entries of the tiny model); skips
    where mounting is not allowed."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    cmd = ["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(disk)]
    if subprocess.run(cmd, capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_full_disk_keeps_segmenting_and_keeps_the_last_good_bank(model, video, small_disk, caplog):
    """ENOSPC for real: saves succeed while the bank fits, then fail; the stream goes on to the
    end, exits 4, and the last bank that fitted is intact (the failed saves left no temp)."""
    options = StreamOptions(
        backend="ort", norm="sib", bank=str(small_disk / "b.npz"), bank_save_every=2
    )
    options.max_frames = 40
    summary = stream(model, video, None, options, echo=lambda _: None)
    from edgedg_runtime.stream import EXIT_BANK_NOT_SAVED

    assert summary.frames == 40 and summary.exit_code() == EXIT_BANK_NOT_SAVED
    assert "No space left" in summary.bank_error
    assert caplog.text.count("cannot save the style bank") == 1
    kept = load_bank(str(small_disk / "b.npz"), source=_source(model))
    assert 2 <= len(kept) < 40 and len(kept) % 2 == 0
    assert sorted(p.name for p in small_disk.iterdir()) == ["b.npz", "b.npz.lock"]


def test_bank_save_failure_recovers_at_the_next_save_point(model, video, tmp_path, caplog):
    folder = tmp_path / "banks"
    options = StreamOptions(
        backend="ort", norm="sib", bank=str(folder / "b.npz"), bank_save_every=5
    )
    options.profile = 1

    def echo(line: str) -> None:
        n = int(line[1:7]) if line.startswith("[") else 0
        if n == 7:
            shutil.rmtree(folder)
            folder.write_text("x")
        elif n == 23:  # the disk is back
            folder.unlink()
            folder.mkdir()

    summary = stream(model, video, None, options, echo=echo)
    assert summary.bank_error is None and summary.exit_code() == 0
    assert len(load_bank(str(folder / "b.npz"), source=_source(model))) == summary.frames
    assert "style bank saved again" in caplog.text


def test_unwritable_bank_path_is_refused_at_start(model, video, tmp_path):
    (tmp_path / "file").write_text("a file, not a folder")
    result = invoke(["stream", model, video, *ON_SIB, "--bank", tmp_path / "file/b.npz"])
    assert result.exit_code == 1 and "cannot write the style bank" in result.output
    assert "frames" not in result.output  # refused before the first frame


def test_second_writer_of_a_bank_is_refused(model, video, tmp_path):
    """Two processes on one bank: the second is refused (a lock, not a merge: the last writer
    would silently drop the other's entries)."""
    bank = tmp_path / "b.npz"
    holder = _edgedg(
        "stream", model, video, *ON_SIB, "--bank", bank, "--profile", "1",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    holder.stdout.readline()  # the "streaming ..." line: the lock is taken before it
    second = invoke(["stream", model, video, *ON_SIB, "--bank", bank])
    holder.kill()
    holder.communicate()
    assert second.exit_code == 1 and "another process" in second.output
    from edgedg_runtime.bank_lock import BankLock

    # the dead holder's lock is gone; a live one refuses a second taker, even in one process
    with BankLock(str(bank)), pytest.raises(EdgeDGError, match="another process"):
        BankLock(str(bank)).acquire()


def test_orphan_bank_temp_files_are_removed_at_start(model, video, tmp_path):
    orphan = tmp_path / ".b.npz.k2j3h4.tmp"
    orphan.write_bytes(b"x" * 1000)  # what a kill -9 during a save leaves
    result = invoke(["stream", model, video, *ON_SIB, "--bank", tmp_path / "b.npz"])
    assert result.exit_code == 0 and not orphan.exists()


def test_no_readable_frame_is_an_error_exit(model, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.png").write_bytes(b"not a png")
    result = invoke(["stream", model, folder, "--backend", "ort"])
    from edgedg_runtime.stream import EXIT_NO_FRAMES

    assert result.exit_code == EXIT_NO_FRAMES, result.output
    assert "no frame could be read" in result.output and "3 bad" in result.output


@pytest.mark.parametrize(
    "option", [["--alpha", "2"], ["--input-width", "-5"], ["--bank-size", "0"], ["--m", "0"]]
)
def test_out_of_range_options_are_usage_errors(model, video, option):
    result = invoke(["stream", model, video, "--backend", "ort", *option])
    assert result.exit_code == 2 and "Invalid value" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_rtsp_server_that_never_answers_times_out(tmp_path):
    """A real TCP server on 127.0.0.1 that accepts and never says a word (stops by itself after
    20 s at most): opening the stream gives up after --timeout, with one line."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(20)
    port = server.getsockname()[1]
    held = []

    def accept_and_hold() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    thread = threading.Thread(target=accept_and_hold, daemon=True)
    thread.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(EdgeDGError, match="no answer within 1 s"):
            open_source(f"rtsp://127.0.0.1:{port}/cam", timeout=1.0)
    finally:
        server.close()
        for conn in held:
            conn.close()
    assert held and time.monotonic() - t0 < 8
