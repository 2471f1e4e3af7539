"""One writer per style bank (DESIGN section 3): :class:`BankLock`.

The standard library only; Python 3.8 syntax.
"""

from __future__ import annotations

import errno
import os

from edgedg_runtime.errors import BankError
from edgedg_runtime.file_lock import FileLock


class BankLock:
    """An exclusive lock on a bank for the life of a stream: ``flock`` on ``REAL_PATH.lock``.

    Two processes saving one bank would each overwrite the other's entries (the last writer
    wins), so the second one is refused rather than merged: merging two streams' recent frames
    would mix two cameras' styles into one bank. The lock is taken on the bank's real path
    (symlinks resolved), so a symlink alias of a locked bank is the same bank and refused, and
    ``real_path`` is where the bank is saved. The lock is a :class:`FileLock`: a symlink
    planted at ``PATH.lock`` is refused, never written through, and the kernel drops the lock
    when its holder exits, even on ``kill -9``; the lock file itself stays. Taking the lock
    also proves, before the first frame, that the bank's folder is writable.
    """

    def __init__(self, path: str) -> None:
        self.path = str(path)
        self.real_path = os.path.realpath(self.path)
        self.lock_path = self.real_path + ".lock"
        self._lock = FileLock(self.lock_path)

    def acquire(self) -> BankLock:
        try:
            os.makedirs(os.path.dirname(self.real_path), exist_ok=True)
            taken = self._lock.try_acquire()
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise BankError(
                    f"the lock file {self.lock_path} of the style bank {self.path} is a symbolic "
                    "link, which a lock never follows: remove it"
                ) from None
            raise BankError(
                f"cannot write the style bank {self.path} ({exc.strerror or exc}): choose a "
                "--bank path in a writable folder"
            ) from None
        if not taken:
            raise BankError(
                f"another process is using the style bank {self.path} (it holds "
                f"{self.lock_path}): give each stream its own --bank"
            )
        return self

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> BankLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
