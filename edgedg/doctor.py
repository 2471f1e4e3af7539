"""`edgedg doctor`: the runtime's checks (edgedg_runtime.doctor) plus the training box's own:
torch (and whether it sees CUDA) and onnx + onnx-graphsurgeon for export."""

from __future__ import annotations

from edgedg_runtime.doctor import CHECKS as RUNTIME_CHECKS
from edgedg_runtime.doctor import (
    Finding,
    _import,
    as_json,
    check_cuda_runtime,
    format_table,
)
from edgedg_runtime.doctor import run_checks as _run_checks

__all__ = ["CHECKS", "Finding", "as_json", "check_cuda_runtime", "format_table", "run_checks"]


def check_torch() -> Finding:
    torch, err = _import("torch")
    if torch is None:
        return Finding(
            "torch",
            False,
            detail=err or "not installed",
            fix="training/export need it: pip install torch, then pip install 'edgedg[train]'",
        )
    cuda = torch.cuda.is_available()
    detail = (
        f"CUDA usable: {torch.cuda.get_device_name(0)}" if cuda else "CUDA not usable (CPU only)"
    )
    return Finding("torch", True, torch.__version__, detail)


def check_onnx() -> Finding:
    onnx, err = _import("onnx")
    if onnx is None:
        return Finding("onnx", False, detail=err, fix="for export: pip install 'edgedg[export]'")
    gs, _ = _import("onnx_graphsurgeon")
    return Finding(
        "onnx",
        True,
        onnx.__version__,
        "onnx-graphsurgeon " + (gs.__version__ if gs else "missing"),
        "" if gs else "pip install onnx-graphsurgeon",
    )


# python first, then the training box's packages, then the runtime's
CHECKS = (RUNTIME_CHECKS[0], check_torch, check_onnx, *RUNTIME_CHECKS[1:])


def run_checks() -> list[Finding]:
    """Every check of the training box and the runtime; never raises."""
    return _run_checks(CHECKS)
