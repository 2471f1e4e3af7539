"""Signals against a stream that is waiting: a live HTTP MJPEG source that goes silent is ended by
SIGTERM well inside docker's 10 s with a playable video and a saved bank, and a second signal
during the final bank save does not cut the save short."""

from __future__ import annotations

import contextlib
import http.server
import os
import signal
import socketserver
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest
from _runtime_helpers import count_frames, model_dir, write_video

from edgedg_runtime.bank import StyleBank, load_bank
from edgedg_runtime.benchmark import synthetic_frames
from edgedg_runtime.stream import StreamOptions, stream


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    return model_dir(tmp_path_factory)


@contextlib.contextmanager
def stalling_mjpeg_server(frames: int = 15):
    """An HTTP MJPEG camera on 127.0.0.1: its first client gets ``frames`` JPEGs at 20 fps, then
    silence; later clients get the headers and silence. Yields the URL."""
    quiet = threading.Event()
    served = []

    class Camera(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            served.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            for i in range(frames if len(served) == 1 else 0):
                jpg = cv2.imencode(".jpg", np.full((48, 96, 3), 40 + 10 * i, np.uint8))[1]
                head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                with contextlib.suppress(OSError):
                    self.wfile.write(head % jpg.size + jpg.tobytes() + b"\r\n")
                    self.wfile.flush()
                time.sleep(0.05)
            quiet.wait(60)  # the camera goes silent, connection open

        def log_message(self, *args) -> None:
            pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Camera)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/stream.mjpg"
    finally:
        quiet.set()
        server.shutdown()
        server.server_close()


def _stream(model, url, out, *options) -> list:
    """`python -m edgedg_runtime stream` as a vehicle runs it: the installed runtime, with the
    repository root not on the import path."""
    return [sys.executable, "-m", "edgedg_runtime", "stream", model, url, str(out), *options]


def test_sigterm_ends_a_stalled_live_source_promptly(model, tmp_path):
    """The camera stops sending after 15 frames; SIGTERM 1.5 s into the silence (the default
    --timeout 5 would wait 30 s) ends the stream with 143 within a few seconds: video playable
    with every segmented frame, bank saved, no SIGABRT from a capture thread left in OpenCV."""
    out, bank = tmp_path / "out.mp4", tmp_path / "b.npz"
    with stalling_mjpeg_server() as url:
        cmd = _stream(model, url, out, "--backend", "ort")
        cmd += ["--norm", "sib", "--bank", str(bank), "--profile", "1"]
        proc = subprocess.Popen(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for line in proc.stdout:
            if line.startswith("[") and int(line[1:7]) >= 3:
                break
        time.sleep(2.5)  # the 15 frames end after 0.75 s: 1.5 s and more of silence
        proc.send_signal(signal.SIGTERM)
        start = time.monotonic()
        try:
            rest, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"SIGTERM did not end a stalled stream within 10 s: {proc.communicate()}")
        elapsed = time.monotonic() - start
    assert proc.returncode == 143, rest + err
    assert elapsed < 5, elapsed
    assert "stopped by SIGTERM" in rest and "Traceback" not in err and "terminate" not in err
    frames = int(rest.split(" frames, ")[0].rsplit("\n", 1)[-1])
    assert frames >= 3 and count_frames(out) == frames
    assert len(load_bank(str(bank))) == frames


def test_a_second_signal_during_the_final_bank_save_does_not_interrupt_it(
    model, tmp_path, monkeypatch
):
    """SIGTERM at frame 5, then another one in the middle of the final save: the save completes,
    the summary says SIGTERM and the exit code is 143."""
    video = write_video(tmp_path / "in.mp4", synthetic_frames(48, 96, 40))
    original, saves = StyleBank.save, []

    def save_while_signalled(self, path: str) -> None:
        saves.append(path)
        os.kill(os.getpid(), signal.SIGTERM)  # the second signal, inside the save
        time.sleep(0.1)  # the handler runs here
        original(self, path)

    monkeypatch.setattr(StyleBank, "save", save_while_signalled)

    def echo(line: str) -> None:
        if line.startswith("[") and int(line[1:7]) == 5:
            os.kill(os.getpid(), signal.SIGTERM)

    options = StreamOptions(backend="ort", norm="sib", bank=str(tmp_path / "b.npz"), profile=1)
    try:
        summary = stream(model, video, str(tmp_path / "out.mp4"), options, echo=echo)
    except KeyboardInterrupt:
        pytest.fail("the second signal interrupted the final bank save")
    assert summary.exit_code() == 128 + signal.SIGTERM and saves
    assert len(load_bank(str(tmp_path / "b.npz"))) == summary.frames == 5


@pytest.mark.slow
def test_a_stalled_source_that_times_out_exits_cleanly(model, tmp_path):
    """No signal: the silent camera ends the stream by --timeout (reconnect attempts for 6x it
    included, 12 s), and the process exits with the summary's code, not SIGABRT from a capture
    thread still inside OpenCV's 2 s open timeout when the interpreter exits (3 of 4 runs
    before)."""
    with stalling_mjpeg_server() as url:
        cmd = _stream(model, url, tmp_path / "out.mp4")
        cmd += ["--backend", "ort", "--timeout", "2"]
        done = subprocess.run(cmd, text=True, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no frame for 12 s" in done.stdout and "terminate" not in done.stderr
    frames = int(done.stdout.split(" frames, ")[0].rsplit("\n", 1)[-1])
    assert frames >= 1 and count_frames(tmp_path / "out.mp4") == frames
