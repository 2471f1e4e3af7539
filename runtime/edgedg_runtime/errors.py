"""The one exception family of edgedg.

User errors (a bad path, bad data, a missing optional dependency, a model directory that does not
match its contract) raise a subclass of :class:`EdgeDGError` with a message that says what to do.
The CLI prints such an error as one line and exits with code 1. Bugs are not EdgeDGErrors and keep
their traceback.
"""

from __future__ import annotations


class EdgeDGError(Exception):
    """Base of every user-facing error in edgedg."""


class DataError(EdgeDGError):
    """A dataset file is missing, unreadable, or holds values outside its label table."""


class MissingDependencyError(EdgeDGError):
    """An optional package is needed for this feature and is not installed."""


class ContractError(EdgeDGError):
    """A model directory does not match its contract (hashes, schema, shapes)."""


class BankError(EdgeDGError):
    """A style-bank file is corrupt, of an unknown schema, or belongs to another model."""


class FrameError(EdgeDGError):
    """A frame given to the runtime is not a non-empty uint8 BGR image."""


class OutputError(EdgeDGError):
    """An output (a video, an image folder) could not be written: the recording is incomplete."""


class CheckpointError(EdgeDGError):
    """A checkpoint file is missing, corrupt, of another model, or holds non-finite weights."""


class TrainingError(EdgeDGError):
    """Training stopped: a non-finite loss, gradient or weight (the checkpoints keep the last
    good model)."""


def require(module: str, extra: str, feature: str):
    """Import an optional dependency or raise a MissingDependencyError naming the extra to install.

    Returns the imported module. ``extra`` is the pip extra of edgedg-runtime that provides it.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{feature} needs the Python package '{module.split('.')[0]}', which is not importable "
            f"({exc}). Install it with: pip install 'edgedg-runtime[{extra}]'"
        ) from exc
