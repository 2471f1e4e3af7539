"""What keeps a stream's recording and adaptation through signals and failing disks.

:class:`StopSignals` turns SIGINT, SIGTERM (systemd, docker stop) and SIGHUP into a request to
stop after the frame in progress, so the stream loop can close the video and save the bank.
:class:`BankSaver` saves the style bank at save points without ever stopping the stream.

The standard library only; Python 3.8 syntax.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Callable

from edgedg_runtime.errors import EdgeDGError

log = logging.getLogger(__name__)
STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")  # a stream ends with exit code 128 + the number


class StopSignals:
    """While active, SIGINT, SIGTERM and SIGHUP ask the stream loop to stop after the frame in
    progress (``signum`` is set, and ``on_signal()`` is called: a live source stops waiting for
    a frame) instead of killing the process; a second signal stops at once (KeyboardInterrupt),
    except once ``finishing`` is set: closing the outputs and saving the bank are never cut
    short (a supervisor's SIGKILL still is). Handlers are installed only in the main thread
    (Python allows no other), and the previous ones are restored on exit.

    ``on_signal`` runs inside the signal handler: it must only set flags (no locks, no I/O)."""

    def __init__(self, on_signal: Callable[[], None] | None = None) -> None:
        self.signum: int | None = None
        self.finishing = False
        self._on_signal = on_signal
        self._previous: dict = {}

    def _handle(self, signum: int, frame: object) -> None:
        if self.signum is None:
            self.signum = signum
            if self._on_signal is not None:
                self._on_signal()
        elif not self.finishing:
            raise KeyboardInterrupt

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for name in STOP_SIGNALS:
                if hasattr(signal, name):
                    number = getattr(signal, name)
                    self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}


class BankSaver:
    """Saves the bank at each save point. A failed save (full disk, read-only or vanished folder)
    never stops the stream: it is logged once, retried at the next save point, and only the
    final save's failure is reported (``error``)."""

    def __init__(self, bank, path: str) -> None:
        self.bank, self.path = bank, path
        self.error: str | None = None

    def save(self) -> bool:
        try:
            self.bank.save(self.path)
        except (OSError, EdgeDGError) as exc:
            if self.error is None:
                log.warning(
                    "cannot save the style bank %s (%s); segmentation goes on, the save is "
                    "retried at the next save point",
                    self.path,
                    exc,
                )
            self.error = f"{self.path}: {exc}"
            return False
        if self.error is not None:
            log.warning("style bank saved again to %s", self.path)
            self.error = None
        return True
