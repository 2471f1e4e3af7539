"""The style-bank file (DESIGN section 3): reading and checking a saved bank before it is trusted.

A bank file is an .npz of plain arrays (loaded with allow_pickle=False). ``read_bank_file``
refuses, with one line that says what to do, anything that is not exactly what
``StyleBank.save`` writes for this model: not a regular file (a FIFO would block the open),
members it does not write, another schema, another model (stat layout or model identity), arrays
of the wrong type or shape, and entries holding non-finite values or negative variances (they
would make every frame one class, and spread into new entries). What the file declares (member
names and sizes, each array's .npy header) is checked against the model and the ceilings below
before any array is read, so a small file cannot make the reader allocate gigabytes.

numpy and the standard library only; Python 3.8 syntax.
"""

from __future__ import annotations

import zipfile
from typing import NamedTuple

import numpy as np

from edgedg_runtime.errors import BankError
from edgedg_runtime.fileio import NotRegularFileError, open_regular

BANK_SCHEMA_VERSION = 2  # 2: the model identity (``model_id``) joined the layout hash
KEYS = ("schema_version", "layout_hash", "model_id", "capacity", "style", "frame_stats")
SCALARS = KEYS[:4]
MAX_CAPACITY = 65_536  # entries a bank may hold (the paper's Q is 128)
MAX_M = 1_024  # the largest batch size M (`--m`)
MAX_BANK_BYTES = 8 << 30  # what the arrays of one bank file may hold, images included
_SCALAR_BYTES = 1024  # a schema version, a hash or a capacity: a few bytes each
_DELETE = "Delete the file to start a new bank."


def read_bank_file(
    path: str,
    layout_hash: str | None,
    model_id: str | None,
    channels: int | None,
    total: int | None,
) -> dict:
    """The arrays of the bank at ``path``, checked: schema, model (when ``layout_hash`` and
    ``model_id`` are given), dtypes, shapes (``channels`` C and ``total`` S when given) and
    values. Raises a BankError naming what is wrong otherwise."""
    try:
        handle = open_regular(path)
    except FileNotFoundError as exc:
        raise BankError(f"no style bank at {path}: check the path") from exc
    except NotRegularFileError as exc:
        raise BankError(
            f"style bank {path} is not a regular file: pass the path of a .npz"
        ) from exc
    except OSError as exc:
        raise BankError(f"cannot read the style bank {path} ({exc.strerror or exc})") from exc
    with handle:
        if handle.read(6) == b"\x93NUMPY":  # one array: a .npy renamed .npz
            raise BankError(f"style bank {path} is one array (.npy), not a bank (.npz). {_DELETE}")
        handle.seek(0)
        try:
            with zipfile.ZipFile(handle) as archive:
                data = _read_checked(path, archive, layout_hash, model_id, channels, total)
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            raise BankError(
                f"style bank {path} is corrupt or not a bank ({exc}). {_DELETE}"
            ) from exc
    _check_values(path, data["style"], data["frame_stats"])
    return data


class _Spec(NamedTuple):
    """What a member's .npy header declares, read before its data."""

    dtype: np.dtype
    shape: tuple

    @property
    def ndim(self) -> int:
        return len(self.shape)


def _read_checked(path, archive, layout_hash, model_id, channels, total) -> dict:
    """Check the members' names, headers and sizes, read the small ones, check the schema, the
    model and the shapes, and only then read the entries."""
    infos = _members(path, archive)
    specs = {key: _header(path, key, archive, info) for key, info in infos.items()}
    big = sum(infos[key].file_size for key in specs if key not in SCALARS)
    if big > MAX_BANK_BYTES:
        raise BankError(
            f"style bank {path} declares {big / 2**30:.1f} GiB of entries, more than a bank "
            f"may hold ({MAX_BANK_BYTES >> 30} GiB). {_DELETE}"
        )
    for key in SCALARS:
        if key in specs and infos[key].file_size > _SCALAR_BYTES:
            raise BankError(f"style bank {path}: '{key}' is not a scalar. {_DELETE}")
    data = {key: _array(archive, infos[key]) for key in SCALARS if key in infos}
    missing = [key for key in KEYS if key not in infos]
    if missing:
        version = data.get("schema_version")
        if version is not None and version.shape == () and version.dtype.kind in "iu":
            _check_schema(path, version)  # an older bank lacks the newer keys: say so
        raise BankError(f"style bank {path} lacks {missing}: not an edgedg bank. {_DELETE}")
    _check_schema(path, data["schema_version"])
    if layout_hash is not None and model_id is not None:
        _check_model(path, data, layout_hash, model_id)
    _check_capacity(path, data["capacity"])
    _check_arrays(path, specs, channels, total)
    for key in infos:
        if key not in data:
            data[key] = _array(archive, infos[key])
    return data


def _members(path: str, archive: zipfile.ZipFile) -> dict:
    """{key: ZipInfo} of the members a bank has; any other member is refused unread."""
    infos: dict = {}
    for info in archive.infolist():
        key = info.filename[: -len(".npy")] if info.filename.endswith(".npy") else None
        if key not in KEYS + ("images",) or key in infos:
            raise BankError(
                f"style bank {path} holds an unknown member '{info.filename}': not a bank this "
                f"edgedg wrote. {_DELETE}"
            )
        infos[key] = info
    return infos


def _header(path: str, key: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Spec:
    """The member's declared dtype and shape, checked to add up to its declared size."""
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"'{key}' has .npy format {version}")
        read = (np.lib.format.read_array_header_1_0, np.lib.format.read_array_header_2_0)
        shape, _, dtype = read[version[0] - 1](member)
        offset = member.tell()
    size = int(np.prod(shape, dtype=object)) * dtype.itemsize  # a Python int: no overflow
    if dtype.hasobject or offset + size != info.file_size:
        raise BankError(
            f"style bank {path}: '{key}' declares {dtype} {list(shape)} in a member of "
            f"{info.file_size} bytes. {_DELETE}"
        )
    return _Spec(dtype, tuple(shape))


def _array(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    with archive.open(info) as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def _check_schema(path: str, version: np.ndarray) -> None:
    ok = version.shape == () and version.dtype.kind in "iu"
    if not ok or int(version) != BANK_SCHEMA_VERSION:
        shown = version.tolist() if version.size < 4 else f"{version.dtype} {version.shape}"
        raise BankError(
            f"style bank {path} has schema version {shown!r}; this edgedg reads version "
            f"{BANK_SCHEMA_VERSION}. {_DELETE}"
        )


def _text(data: dict, key: str) -> str:
    value = data[key]
    return str(value) if value.shape == () and value.dtype.kind == "U" else "?"


def _check_model(path: str, data: dict, layout_hash: str, model_id: str) -> None:
    saved = _text(data, "layout_hash")
    if saved != layout_hash:
        raise BankError(
            f"style bank {path} was filled by another model (stat-layout hash {saved[:12]} "
            f"!= {layout_hash[:12]}). Pass the model that filled it, or delete the file."
        )
    saved = _text(data, "model_id")
    if saved != model_id:
        raise BankError(
            f"style bank {path} was filled by another model of the same architecture (model id "
            f"{saved[:12]} != {model_id[:12]}: other weights). Pass the model that filled it, or "
            "delete the file."
        )


def _check_capacity(path: str, capacity: np.ndarray) -> None:
    if capacity.shape != () or capacity.dtype.kind not in "iu":
        raise BankError(f"style bank {path} is malformed ('capacity' is not an integer). {_DELETE}")
    if not 1 <= int(capacity) <= MAX_CAPACITY:
        raise BankError(
            f"style bank {path} has capacity {int(capacity)} (not 1 to {MAX_CAPACITY}). {_DELETE}"
        )


def _check_arrays(path: str, specs: dict, channels: int | None, total: int | None) -> None:
    """Dtypes and shapes, from the members' headers (``_Spec``) before their data is read."""
    style, stats, images = specs["style"], specs["frame_stats"], specs.get("images")
    for key, arr in (("style", style), ("frame_stats", stats)):
        if arr.dtype != np.float32 or arr.ndim != 3 or arr.shape[1] != 2:
            raise BankError(
                f"style bank {path}: '{key}' is {arr.dtype} {list(arr.shape)}, not float32 "
                f"[n, 2, ...]. {_DELETE}"
            )
    n = style.shape[0]
    if n > MAX_CAPACITY:
        raise BankError(f"style bank {path} holds {n} entries (> {MAX_CAPACITY}). {_DELETE}")
    if stats.shape[0] != n:
        raise BankError(f"style bank {path} holds {n} styles but {stats.shape[0]} statistics.")
    if n and channels is not None and style.shape[2] != channels:
        raise BankError(
            f"style bank {path} has {style.shape[2]} style channels, the model has {channels}. "
            f"{_DELETE}"
        )
    if n and total is not None and stats.shape[2] != total:
        raise BankError(
            f"style bank {path} has {stats.shape[2]} statistic columns, the model has {total}. "
            f"{_DELETE}"
        )
    if images is not None and (
        images.dtype != np.uint8 or images.ndim != 4 or images.shape[0] != n or images.shape[3] != 3
    ):
        raise BankError(
            f"style bank {path}: 'images' is {images.dtype} {list(images.shape)}, not uint8 "
            f"[{n}, H, W, 3]. {_DELETE}"
        )


def check_bank_size(capacity: int, m: int, entry_bytes: int = 0) -> None:
    """Refuse a capacity or m beyond the ceilings, or ``capacity`` entries of ``entry_bytes``
    each that would take more than :data:`MAX_BANK_BYTES` (before allocating them)."""
    if not (1 <= capacity <= MAX_CAPACITY and 1 <= m <= MAX_M):
        raise BankError(
            f"bank capacity must be 1 to {MAX_CAPACITY} and m must be 1 to {MAX_M}, got "
            f"{capacity} and {m}"
        )
    if capacity * entry_bytes > MAX_BANK_BYTES:
        raise BankError(
            f"a bank of {capacity} entries of this model takes {capacity * entry_bytes / 2**30:.1f}"
            f" GiB, more than {MAX_BANK_BYTES >> 30} GiB: choose a smaller bank size"
        )


def bad_entries(style: np.ndarray, stats: np.ndarray) -> np.ndarray:
    """Bool [n]: entries holding a non-finite value or a negative variance."""
    bad = ~np.isfinite(style).all(axis=(1, 2)) | ~np.isfinite(stats).all(axis=(1, 2))
    with np.errstate(invalid="ignore"):
        bad |= (style[:, 1] < 0).any(axis=1) | (stats[:, 1] < 0).any(axis=1)
    return bad


def _check_values(path: str, style: np.ndarray, stats: np.ndarray) -> None:
    bad = int(bad_entries(style, stats).sum())
    if bad:
        raise BankError(
            f"style bank {path}: {bad} of {style.shape[0]} entries hold non-finite values or "
            f"negative variances. {_DELETE}"
        )


def entry_is_valid(style: np.ndarray, stats: np.ndarray) -> bool:
    """True when one entry (style [2, C], stats [2, S]) is finite with variances >= 0.

    Runs once per frame, so it uses reductions that propagate NaN (min / max) instead of
    element-wise masks (27 us instead of 45 us at S = 27,072)."""
    for arr in (style, stats):
        low, high = arr[0].min(), arr[0].max()
        var_low, var_high = arr[1].min(), arr[1].max()
        if not (np.isfinite(low) and np.isfinite(high) and var_low >= 0 and np.isfinite(var_high)):
            return False
    return True
