"""Atomic writes: the target is either the old file or the complete new one, never a part."""

from __future__ import annotations

import os

import pytest

from edgedg_runtime.fileio import atomic_open, atomic_path, write_atomic


def test_write_atomic_creates_folders_and_replaces(tmp_path) -> None:
    target = tmp_path / "a" / "b.bin"
    write_atomic(target, b"one")
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(target.parent) == ["b.bin"]


def test_failure_keeps_the_old_file_and_leaves_no_temp(tmp_path) -> None:
    target = tmp_path / "bank.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write(b"half")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["bank.npz"]


def test_atomic_path_keeps_the_suffix_for_format_sniffing_writers(tmp_path) -> None:
    target = tmp_path / "out.png"
    with atomic_path(target, suffix=".png") as tmp:
        assert tmp.endswith(".png") and os.path.dirname(tmp) == str(tmp_path)
        with open(tmp, "wb") as f:
            f.write(b"png")
    assert target.read_bytes() == b"png"


def test_text_mode(tmp_path) -> None:
    with atomic_open(tmp_path / "r.json", "w") as handle:
        handle.write("{}\n")
    assert (tmp_path / "r.json").read_text() == "{}\n"
    with pytest.raises(ValueError), atomic_open(tmp_path / "x", "a"):
        pass


def test_written_files_follow_the_umask_not_mkstemp_0600(tmp_path) -> None:
    write_atomic(tmp_path / "report.json", b"{}")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "report.json").stat().st_mode & 0o777 == 0o666 & ~mask
