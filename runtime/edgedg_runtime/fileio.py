"""Atomic file writes: every checkpoint, bank, report, contract and engine goes through here.

A reader (or a power cut) never sees a half-written file: data goes to a temp file in the same
folder, is flushed to disk, and replaces the target with one rename. Also the one JSON writer
(:func:`write_json`) and the one file digest (:func:`sha256_file`).

The standard library only; Python 3.8 syntax.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import json
import os
import tempfile
from typing import IO, Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]


@functools.lru_cache(maxsize=None)
def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it: restore at once (cached after)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """Yield a temp path beside ``path``; on a clean exit it replaces ``path``, else it is removed.

    For writers that need a file name (OpenCV's VideoWriter and imwrite): pass a ``suffix`` with the
    right extension so the writer picks the format.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=suffix)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would have given
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temp file beside ``path`` for writing (``"wb"`` or ``"w"``); on a clean exit it is
    synced to disk and replaces ``path``."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open writes only ('wb' or 'w'), got {mode!r}")
    encoding = None if "b" in mode else "utf-8"
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


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
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def remove_orphan_temps(path: PathLike, suffix: str = ".tmp") -> list:
    """Remove the temp files that :func:`atomic_path` leaves beside ``path`` when the process is
    killed mid-write (``.NAME.XXXXXXXX.tmp``). Call it only while no other process writes
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
