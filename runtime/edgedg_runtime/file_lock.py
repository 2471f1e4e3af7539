"""Exclusive locks on a file with ``flock``: one design for style banks and engine builds.

``flock`` rather than a file holding a PID: the kernel drops the lock when its holder exits, even
on ``kill -9``, so a lock is never left behind by a dead process and nothing has to guess whether
a PID still names the holder (PIDs are reused). Locks conflict between open files, so two
takers in one process exclude each other as two processes do. The lock file is opened without
following a symlink (``O_NOFOLLOW``): one planted at its path fails with ``ELOOP``, never written
through.

The standard library only; Python 3.8 syntax. ``fcntl`` is POSIX: without it (Windows) the
lock file is created but nothing is locked.
"""

from __future__ import annotations

import contextlib
import os

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None  # type: ignore[assignment]

_FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class FileLock:
    """An exclusive ``flock`` on ``path`` (created if missing). ``try_acquire`` never waits;
    callers decide whether a busy lock is refused (a bank) or waited for (an engine build)."""

    def __init__(self, path: str) -> None:
        self.path = str(path)
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock: True when taken, False while another open file holds it. Raises
        OSError when the file cannot be opened (``ELOOP``: a symlink at ``path``)."""
        while True:
            fd = os.open(self.path, _FLAGS, 0o666)
            if not _flock(fd):
                os.close(fd)
                return False
            if _names(self.path, fd):
                self.fd = fd
                return True
            os.close(fd)  # locked a file its holder removed on release: lock the one there now

    def release(self, remove: bool = False) -> None:
        """Drop the lock; ``remove`` deletes the lock file first, while still holding it (a
        taker that opened the old file sees it gone and opens the new one)."""
        if self.fd is None:
            return
        if remove:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        os.close(self.fd)  # closing the descriptor releases the flock
        self.fd = None


def _flock(fd: int) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _names(path: str, fd: int) -> bool:
    """True when ``path`` still names the file open as ``fd``."""
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)
