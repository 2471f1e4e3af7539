"""The style-bank file (DESIGN section 3): reading and checking a saved bank before it is trusted,
and the lock that keeps two processes from writing one bank (:class:`BankLock`).

A bank file is an .npz of plain arrays (loaded with allow_pickle=False). ``read_bank_file``
refuses, with one line that says what to do, anything that is not exactly what
``StyleBank.save`` writes for this model: another schema, another model (stat layout or model
identity), arrays of the wrong type or shape, and entries holding non-finite values or negative
variances (they would make every frame one class, and spread into new entries).

numpy and the standard library only; Python 3.8 syntax.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

try:
    import fcntl
except ImportError:  # Windows: no flock; banks are not locked there
    fcntl = None  # type: ignore[assignment]

from edgedg_runtime.errors import BankError

BANK_SCHEMA_VERSION = 2  # 2: the model identity (``model_id``) joined the layout hash
KEYS = ("schema_version", "layout_hash", "model_id", "capacity", "style", "frame_stats")
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
    data = _load(path)
    _check_schema(path, data["schema_version"])
    if layout_hash is not None and model_id is not None:
        _check_model(path, data, layout_hash, model_id)
    _check_arrays(path, data, channels, total)
    _check_values(path, data["style"], data["frame_stats"])
    return data


def _load(path: str) -> dict:
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError as exc:
        raise BankError(f"no style bank at {path}: check the path") from exc
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise BankError(f"style bank {path} is corrupt or not a bank ({exc}). {_DELETE}") from exc
    if not isinstance(loaded, np.lib.npyio.NpzFile):  # one array: a .npy renamed .npz
        raise BankError(f"style bank {path} is one array (.npy), not a bank (.npz). {_DELETE}")
    try:
        with loaded as npz:
            data = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise BankError(f"style bank {path} is corrupt or not a bank ({exc}). {_DELETE}") from exc
    missing = [key for key in KEYS if key not in data]
    if missing:
        version = data.get("schema_version")
        if version is not None and version.shape == () and version.dtype.kind in "iu":
            _check_schema(path, version)  # an older bank lacks the newer keys: say so
        raise BankError(f"style bank {path} lacks {missing}: not an edgedg bank. {_DELETE}")
    return data


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


def _check_arrays(path: str, data: dict, channels: int | None, total: int | None) -> None:
    capacity = data["capacity"]
    if capacity.shape != () or capacity.dtype.kind not in "iu":
        raise BankError(f"style bank {path} is malformed ('capacity' is not an integer). {_DELETE}")
    if int(capacity) < 1:
        raise BankError(f"style bank {path} has capacity {int(capacity)} (< 1). {_DELETE}")
    style, stats, images = data["style"], data["frame_stats"], data.get("images")
    for key, arr in (("style", style), ("frame_stats", stats)):
        if arr.dtype != np.float32 or arr.ndim != 3 or arr.shape[1] != 2:
            raise BankError(
                f"style bank {path}: '{key}' is {arr.dtype} {list(arr.shape)}, not float32 "
                f"[n, 2, ...]. {_DELETE}"
            )
    n = style.shape[0]
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


class BankLock:
    """An exclusive lock on a bank path for the life of a stream: ``flock`` on ``PATH.lock``.

    Two processes saving one bank would each overwrite the other's entries (the last writer
    wins), so the second one is refused rather than merged: merging two streams' recent frames
    would mix two cameras' styles into one bank. The kernel drops the lock when its holder exits,
    even on ``kill -9``; the lock file itself stays (removing it would race a new holder).
    Taking the lock also proves, before the first frame, that the bank's folder is writable.
    """

    def __init__(self, path: str) -> None:
        self.path = str(path)
        self.lock_path = self.path + ".lock"
        self._fd: int | None = None

    def acquire(self) -> BankLock:
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise BankError(
                f"cannot write the style bank {self.path} ({exc.strerror or exc}): choose a "
                "--bank path in a writable folder"
            ) from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise BankError(
                    f"another process is using the style bank {self.path} (it holds "
                    f"{self.lock_path}): give each stream its own --bank"
                ) from None
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> BankLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
