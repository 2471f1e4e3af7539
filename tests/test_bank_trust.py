"""A bank path is a place the user named, and nothing around it is trusted more than it must be:
the lock is on the real path (a symlink alias is the same bank), the lock file never follows a
symlink, a save through a symlinked bank replaces its target, a FIFO is refused instead of hanging,
and what a bank file declares is bounded before anything is allocated."""

from __future__ import annotations

import io
import os
import threading
import zipfile

import numpy as np
import pytest
from _runtime_helpers import invoke, model_dir

from edgedg_runtime.bank import BankOptions, SourceStats, StyleBank, load_bank
from edgedg_runtime.bank_file import read_bank_file
from edgedg_runtime.bank_lock import BankLock
from edgedg_runtime.errors import BankError
from edgedg_runtime.layout import StatLayout

LAYOUT = StatLayout.from_channels([("bn1", 4, False), ("bn2", 2, False)])


def _source() -> SourceStats:
    rng = np.random.default_rng(0)
    stats = np.stack([rng.normal(0, 1, LAYOUT.total), rng.uniform(0.5, 2, LAYOUT.total)])
    return SourceStats.from_layout(LAYOUT, stats)


def _saved(path, n: int = 3) -> str:
    rng = np.random.default_rng(1)
    bank = StyleBank(BankOptions(capacity=8), _source())
    for _ in range(n):
        style = np.stack([rng.normal(0, 1, 4), rng.uniform(0.5, 2, 4)])
        bank.add(style, np.stack([rng.normal(0, 1, 6), rng.uniform(0.5, 2, 6)]))
    bank.save(str(path))
    return str(path)


def _rewrite(path: str, extra: dict | None = None, **changes) -> None:
    """Rewrite the bank's members (``changes``) and add raw members (``extra``: name -> bytes)."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = dict(npz)
    arrays.update(changes)
    np.savez(path, **arrays)
    with zipfile.ZipFile(path, "a") as archive:
        for name, data in (extra or {}).items():
            archive.writestr(name, data)


def test_a_symlink_alias_of_a_locked_bank_is_refused_as_a_second_writer(tmp_path):
    bank, alias = tmp_path / "b.npz", tmp_path / "alias.npz"
    alias.symlink_to(bank)
    with BankLock(str(bank)), pytest.raises(BankError, match="another process"):
        BankLock(str(alias)).acquire()


def test_a_dangling_lock_symlink_is_never_followed(tmp_path):
    victim = tmp_path / "elsewhere" / "victim"
    victim.parent.mkdir()
    (tmp_path / "b.npz.lock").symlink_to(victim)
    with pytest.raises(BankError, match="symbolic link"):
        BankLock(str(tmp_path / "b.npz")).acquire()
    assert not victim.exists()


def test_a_save_through_a_symlinked_bank_replaces_its_target(tmp_path):
    real = tmp_path / "real" / "b.npz"
    real.parent.mkdir()
    link = tmp_path / "b.npz"
    link.symlink_to(real)
    _saved(link)
    assert link.is_symlink() and real.is_file()
    assert len(load_bank(str(link), _source())) == 3
    assert sorted(os.listdir(tmp_path)) == ["b.npz", "real"]  # no temp left beside the link


def test_a_fifo_as_bank_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "b.npz"
    os.mkfifo(fifo)
    outcome: dict = {}

    def read() -> None:
        try:
            read_bank_file(str(fifo), None, None, None, None)
        except BankError as exc:
            outcome["error"] = str(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # open a writer end so that the blocked reader returns
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(5)
        pytest.fail("reading a FIFO as a bank blocks")
    assert "not a regular file" in outcome["error"]


def test_a_bank_with_an_unknown_member_is_refused_before_it_is_read(tmp_path):
    path = _saved(tmp_path / "b.npz")
    _rewrite(path, extra={"junk.npy": b"\0" * 4096})
    with pytest.raises(BankError, match="unknown member 'junk.npy'"):
        load_bank(path, _source())


def test_a_bank_capacity_beyond_the_ceiling_is_refused_before_allocating(tmp_path):
    path = _saved(tmp_path / "b.npz")
    _rewrite(path, capacity=np.array(10**8, dtype=np.int64))
    with pytest.raises(BankError, match="capacity 100000000"):
        load_bank(path, _source())


def test_a_member_declaring_a_huge_shape_is_refused_before_allocating(tmp_path):
    """A .npy header claiming 10^9 entries over a few bytes of data: refused from the header."""
    path = _saved(tmp_path / "b.npz")
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 2, 4), np.float32))
    header["shape"] = (10**9, 2, 4)
    member = zipfile.ZipFile(path).read("style.npy")
    with zipfile.ZipFile(path) as archive:
        others = {n: archive.read(n) for n in archive.namelist() if n != "style.npy"}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in others.items():
            archive.writestr(name, data)
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(buffer, header)
        archive.writestr("style.npy", buffer.getvalue() + member[-96:])
    with pytest.raises(BankError, match="'style' declares"):
        read_bank_file(path, None, None, 4, 6)


@pytest.mark.parametrize("option", [["--bank-size", "1000000000000"], ["--m", "10000000000"]])
def test_bank_size_and_m_have_upper_bounds(tmp_path_factory, tmp_path, option):
    model = model_dir(tmp_path_factory)
    args = ["stream", model, str(tmp_path / "none"), "--norm", "sib", *option]
    result = invoke(args)
    assert result.exit_code == 2 and "Invalid value" in result.output, result.output


def test_style_bank_refuses_a_capacity_or_m_beyond_the_ceilings():
    with pytest.raises(BankError, match="capacity"):
        StyleBank(BankOptions(capacity=10**12), _source())
    with pytest.raises(BankError, match="m must be"):
        StyleBank(BankOptions(m=10**10, capacity=4), _source())
    with pytest.raises(BankError, match="GiB"):  # within the ceiling, but S is large
        big = StatLayout.from_channels([("bn", 200_000, False)])
        StyleBank(BankOptions(capacity=60_000), SourceStats.from_layout(big, np.ones((2, 200_000))))
