"""The files of a model directory against its contract: every listed path stays inside the
directory (no '..', absolute path or symlink out) and holds the sha256 the contract lists."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from edgedg_runtime.errors import ContractError
from edgedg_runtime.fileio import sha256_file

REEXPORT = "re-export the model directory with `edgedg export CHECKPOINT --out DIR`"


def escapes(name: str) -> bool:
    """True for a contract path that could leave the model directory: absolute, or with '..'."""
    parts = name.replace("\\", "/").split("/")
    return not name or os.path.isabs(name) or name.startswith(("/", "\\")) or ".." in parts


def check_paths_inside(model_dir: str | os.PathLike, files: Mapping[str, str]) -> None:
    """Raise a ContractError when a listed file (``files``: the contract's name -> sha256)
    resolves outside ``model_dir`` (a symlink out)."""
    root = os.path.realpath(model_dir)
    for name in sorted(files):
        real = os.path.realpath(os.path.join(root, name))
        if os.path.commonpath([root, real]) != root:
            raise ContractError(
                f"{name} in {model_dir} resolves outside the model directory (to {real}); "
                f"{REEXPORT}"
            )


def verify_files(model_dir: str | os.PathLike, files: Mapping[str, str]) -> None:
    """Raise a ContractError when a listed file is missing or its sha256 differs."""
    root = Path(model_dir)
    for name, expected in sorted(files.items()):
        path = root / name
        if not path.is_file():
            raise ContractError(f"{path} is missing (listed in contract.json); {REEXPORT}")
        actual = sha256_file(path)
        if actual != expected:
            raise ContractError(
                f"{path} was modified after export (sha256 {actual[:12]}..., contract says "
                f"{expected[:12]}...); {REEXPORT}"
            )
