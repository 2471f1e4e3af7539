"""`edgedg doctor`: what this machine can run and what to install. Never crashes."""

from __future__ import annotations

import importlib
import platform
import sys
from dataclasses import asdict, dataclass
from typing import Any

from edgedg_runtime import platform as board


@dataclass
class Finding:
    """One line of the doctor's report."""

    name: str
    ok: bool
    version: str = ""
    detail: str = ""
    fix: str = ""


def _import(name: str) -> tuple[Any | None, str]:
    try:
        return importlib.import_module(name), ""
    except Exception as exc:  # a broken install raises more than ImportError; report, never crash
        return None, f"{type(exc).__name__}: {exc}".splitlines()[0]


def check_python() -> Finding:
    ok = sys.version_info >= (3, 8)
    return Finding(
        "python",
        ok,
        platform.python_version(),
        sys.executable,
        "" if ok else "use Python 3.8 or newer (3.10+ for training)",
    )


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


def check_onnxruntime() -> Finding:
    ort, err = _import("onnxruntime")
    if ort is None:
        return Finding("onnxruntime", False, detail=err, fix="pip install 'edgedg[ort]'")
    providers = ", ".join(ort.get_available_providers())
    return Finding("onnxruntime", True, ort.__version__, f"providers: {providers}")


def check_tensorrt() -> Finding:
    trt, err = _import("tensorrt")
    if trt is not None:
        return Finding("tensorrt", True, trt.__version__)
    if board.jetson_model():
        fix = (
            "on Jetson TensorRT comes with JetPack: sudo apt install python3-libnvinfer, and make "
            "the venv with --system-site-packages (pip install tensorrt is not the way)"
        )
    else:
        fix = "on a desktop NVIDIA GPU: pip install tensorrt (or pip install 'edgedg[trt]')"
    return Finding("tensorrt", False, detail=err or "not installed", fix=fix)


def check_cuda_python() -> Finding:
    mod, err = _import("cuda.bindings.runtime")
    if mod is None:
        mod, err2 = _import("cuda.cudart")
        if mod is None:
            return Finding(
                "cuda-python",
                False,
                detail=err,
                fix="for the TensorRT backend: pip install cuda-python",
            )
    version = getattr(importlib.import_module("cuda"), "__version__", "")
    return Finding("cuda-python", True, version)


def check_opencv() -> Finding:
    cv2, err = _import("cv2")
    if cv2 is None:
        return Finding("opencv", False, detail=err, fix="pip install 'edgedg[camera]'")
    info = cv2.getBuildInformation()
    gst = cv2.videoio_registry.hasBackend(cv2.CAP_GSTREAMER)
    ffmpeg = (
        cv2.videoio_registry.hasBackend(cv2.CAP_FFMPEG)
        or "FFMPEG:                      YES" in info
    )
    detail = f"GStreamer: {'yes' if gst else 'no'}, FFMPEG: {'yes' if ffmpeg else 'no'}"
    fix = (
        ""
        if gst
        else (
            "CSI cameras and gst:// need OpenCV built with GStreamer (JetPack's "
            "python3-opencv on Jetson; pip's opencv has none)"
        )
    )
    return Finding("opencv", True, cv2.__version__, detail, fix)


def check_board() -> Finding:
    model = board.jetson_model()
    if model is None:
        return Finding("jetson", True, detail=f"not a Jetson ({platform.machine()})")
    l4t = board.l4t_release()
    if l4t is None:
        return Finding("jetson", True, detail=model, fix="cannot read /etc/nv_tegra_release")
    jetpack = board.jetpack_for(l4t) or "unknown JetPack"
    return Finding("jetson", True, f"L4T R{l4t[0]}.{l4t[1]}", f"{model}, JetPack {jetpack}")


CHECKS = (
    check_python,
    check_torch,
    check_onnx,
    check_onnxruntime,
    check_tensorrt,
    check_cuda_python,
    check_opencv,
    check_board,
)


def run_checks() -> list[Finding]:
    """Every check; a check that fails unexpectedly becomes a finding, never an exception."""
    findings = []
    for check in CHECKS:
        try:
            findings.append(check())
        except Exception as exc:
            name = check.__name__[len("check_") :]
            findings.append(Finding(name, False, detail=f"check failed: {exc}"))
    return findings


def as_json(findings: list[Finding]) -> list[dict[str, Any]]:
    return [asdict(f) for f in findings]


def format_table(findings: list[Finding]) -> str:
    lines = []
    for f in findings:
        mark = "ok " if f.ok else "-- "
        lines.append(f"{mark}{f.name:<12} {f.version:<14} {f.detail}")
        if f.fix:
            lines.append(f"{'':<16}-> {f.fix}")
    return "\n".join(lines)
