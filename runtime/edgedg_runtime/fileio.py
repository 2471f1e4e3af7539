"""Atomic file writes: every checkpoint, bank, report, contract and engine goes through here.

A reader (or a power cut) never sees a half-written file: data goes to a temp file in the same
folder, is flushed to disk, and replaces the target with one rename. Also the one JSON writer
(:func:`write_json`) and the one file digest (:func:`sha256_file`).

Temp files are created with O_CREAT | O_EXCL | O_NOFOLLOW under a name unique to the writer (pid
and a random token): a name that exists, a symlink included, is never opened, only skipped, and
two writers of one target never share a temp file. Reads of files that we did not create
(caches, contracts, banks) go through :func:`open_regular` / :func:`read_regular`: a FIFO or a
device is refused instead of blocking the start, and a size bound is checked before anything is
allocated (DESIGN 2, "Trust").

The standard library only; Python 3.8 syntax.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import secrets
import stat
from typing import IO, Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]

MAX_JSON_BYTES = 16 << 20  # contracts, caches, sidecars: a few KiB to a few MiB in practice
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class NotRegularFileError(OSError):
    """A path we read holds a FIFO, a device, a socket or a folder instead of a regular file."""


class FileTooLargeError(OSError):
    """A file is larger than what its reader accepts (checked before reading)."""


@contextlib.contextmanager
def atomic_path(path: PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """Yield a temp path beside ``path``; on a clean exit it replaces ``path``, else it is removed.

    For writers that need a file name (OpenCV's VideoWriter and imwrite): pass a ``suffix`` with the
    right extension so the writer picks the format.
    """
    with _atomic_temp(path, suffix) as (fd, tmp):
        os.close(fd)
        yield tmp


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temp file beside ``path`` for writing (``"wb"`` or ``"w"``); on a clean exit it is
    synced to disk and replaces ``path``. The data goes through the descriptor that created the
    temp file: its name is never opened again."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open writes only ('wb' or 'w'), got {mode!r}")
    encoding = None if "b" in mode else "utf-8"
    with _atomic_temp(path, ".tmp") as (fd, _), os.fdopen(fd, mode, encoding=encoding) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


@contextlib.contextmanager
def _atomic_temp(path: PathLike, suffix: str) -> Iterator[tuple[int, str]]:
    """(descriptor, name) of a new temp file beside ``path``; on a clean exit the name replaces
    ``path`` (a rename replaces a symlink there, it never writes through it), else it is removed."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = create_exclusive(folder, f".{os.path.basename(path)}.", suffix)
    try:
        yield fd, tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def _token() -> str:
    return secrets.token_hex(4)


def create_exclusive(folder: str, prefix: str, suffix: str, mode: int = 0o666) -> tuple[int, str]:
    """Create ``folder/PREFIX<pid>-<random>SUFFIX`` with O_EXCL | O_NOFOLLOW (the umask applies
    to ``mode``) and return (descriptor, path). An existing name, symlink or not, is skipped."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
    for _ in range(100):
        tmp = os.path.join(folder, f"{prefix}{os.getpid()}-{_token()}{suffix}")
        try:
            return os.open(tmp, flags, mode), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp name in {folder} after 100 tries")


def open_regular(path: PathLike, nofollow: bool = False) -> IO[bytes]:
    """Open ``path`` for binary reading if it is a regular file, without ever blocking: a FIFO
    (whose open waits for a writer), a device or a folder raises NotRegularFileError.
    ``nofollow``: a symlink as the last component is refused too (ELOOP, an OSError)."""
    flags = os.O_RDONLY | _NONBLOCK | _CLOEXEC | (_NOFOLLOW if nofollow else 0)
    fd = os.open(os.fspath(path), flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFileError(f"{os.fspath(path)} is not a regular file")
        if _NONBLOCK:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: PathLike, max_bytes: int, nofollow: bool = False) -> bytes:
    """The bytes of the regular file ``path`` (see :func:`open_regular`), refused with
    FileTooLargeError when it holds more than ``max_bytes`` (checked before reading)."""
    with open_regular(path, nofollow) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            raise FileTooLargeError(
                f"{os.fspath(path)} is larger than {max_bytes} bytes ({size} bytes)"
            )
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew since the fstat
        raise FileTooLargeError(f"{os.fspath(path)} is larger than {max_bytes} bytes")
    return data


def parse_json(data: bytes | str, what: str) -> object:
    """``json.loads`` whose every failure is a ValueError naming ``what``: invalid JSON,
    invalid UTF-8, or nesting deeper than Python's recursion limit (a RecursionError otherwise)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply to be a JSON file we wrote") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{what} is not readable JSON ({exc})") from None


def read_json(path: PathLike, max_bytes: int = MAX_JSON_BYTES, nofollow: bool = False) -> object:
    """Parse the regular file ``path`` as JSON, read with :func:`read_regular`. Raises OSError
    (missing, not regular, too large) or ValueError (see :func:`parse_json`)."""
    return parse_json(read_regular(path, max_bytes, nofollow), os.fspath(path))


def write_atomic(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path) as handle:
        handle.write(data)


def write_json(path: PathLike, data: object, indent: int | None = 2) -> None:
    """Write ``data`` as JSON (UTF-8, ``indent`` spaces, a final newline) to ``path`` atomically."""
    write_atomic(path, (json.dumps(data, indent=indent) + "\n").encode("utf-8"))


def sha256_file(path: PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open_regular(path) as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def remove_orphan_temps(path: PathLike, suffix: str = ".tmp") -> list:
    """Remove the temp files that :func:`atomic_path` leaves beside ``path`` when the process is
    killed mid-write (``.NAME.<pid>-<random>.tmp``). Call it only while no other process writes
    ``path`` (a run directory at its start, a bank under its lock). Returns the removed paths."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    pattern = os.path.join(glob.escape(folder), f".{glob.escape(os.path.basename(path))}.*{suffix}")
    removed = []
    for tmp in glob.glob(pattern):
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
            removed.append(tmp)
    return removed
