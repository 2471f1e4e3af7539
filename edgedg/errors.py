"""Re-export of the runtime's exception family, so training code and apps share one base."""

from edgedg_runtime.errors import (  # noqa: F401
    BankError,
    CheckpointError,
    ContractError,
    DataError,
    EdgeDGError,
    FrameError,
    MissingDependencyError,
    require,
)
