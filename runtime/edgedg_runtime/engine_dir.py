"""Where engines and caches of a model directory are written: ``MODEL_DIR/engines``, or a folder
the user names.

The model directory is a path the user named; ``engines/`` is one we create inside it. We never
write through a symlink we did not create: an ``engines`` that is a symlink (or not a folder) is
refused, so that ``ln -s /elsewhere MODEL/engines`` cannot make a stream write ``/elsewhere``.
A deliberate engine folder elsewhere (a writable partition beside a read-only model directory)
is named explicitly: ``Segmenter(engine_dir=...)``, ``--engine-dir``, or the environment setting
``EDGEDG_ENGINE_DIR``, in that order (DESIGN 2, "Trust"). Python 3.8 syntax.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from edgedg_runtime.errors import EdgeDGError

ENGINE_DIR_ENV = "EDGEDG_ENGINE_DIR"
DEFAULT_NAME = "engines"


class UnsafePathError(EdgeDGError):
    """A path we would create inside a user's folder is a symlink or of the wrong kind."""


def engine_dir_for(model_dir: str | os.PathLike, explicit: str | os.PathLike | None = None) -> Path:
    """The engine folder of ``model_dir``: ``explicit``, else ``$EDGEDG_ENGINE_DIR``, else
    ``MODEL_DIR/engines`` when that is a real folder inside the model directory or absent.
    Raises UnsafePathError for an ``engines`` that is a symlink or not a folder."""
    named = explicit if explicit is not None else os.environ.get(ENGINE_DIR_ENV) or None
    if named is not None:
        return Path(named)
    default = Path(model_dir) / DEFAULT_NAME
    try:
        mode = os.lstat(default).st_mode
    except FileNotFoundError:
        return default
    if stat.S_ISLNK(mode):
        real = os.path.realpath(default)
        raise UnsafePathError(
            f"{default} is a symlink (to {real}); edgedg does not write engines or caches through "
            f"a link it did not make. If that folder is deliberate, name it: --engine-dir {real} "
            f"(Segmenter(engine_dir=...), or {ENGINE_DIR_ENV}); else remove the link"
        )
    if not stat.S_ISDIR(mode):
        raise UnsafePathError(f"{default} is not a folder: remove it, or name one: --engine-dir")
    return default


__all__ = ["ENGINE_DIR_ENV", "UnsafePathError", "engine_dir_for"]
