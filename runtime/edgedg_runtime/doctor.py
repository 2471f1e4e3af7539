"""`edgedg-runtime doctor` (and the runtime half of `edgedg doctor`): what this machine can run
and what to install. Never crashes. Every check here is about running a model (ONNX Runtime,
TensorRT, CUDA, OpenCV, the board); `edgedg.doctor` adds the training box's (torch, onnx)."""

from __future__ import annotations

import importlib
import platform
import sys
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

from edgedg_runtime import board

RUNTIME = "edgedg-runtime"  # the distribution a vehicle installs, named in the fixes below


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


def check_onnxruntime() -> Finding:
    ort, err = _import("onnxruntime")
    if ort is None:
        return Finding("onnxruntime", False, detail=err, fix=f"pip install '{RUNTIME}[ort]'")
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
        fix = f"on a desktop NVIDIA GPU: pip install '{RUNTIME}[trt]'"
    return Finding("tensorrt", False, detail=err or "not installed", fix=fix)


# L4T major -> the CUDA major of that JetPack (reference table: R35 = JetPack 5 = CUDA 11.4,
# R36 = JetPack 6 = CUDA 12.x, R38 / R39 = JetPack 7 = CUDA 13.x)
_L4T_CUDA = {35: 11, 36: 12, 38: 13, 39: 13}


def _bindings_version() -> str:
    for module in ("cuda.bindings", "cuda"):
        mod, _ = _import(module)
        if mod is not None and getattr(mod, "__version__", ""):
            return str(mod.__version__)
    try:
        from importlib.metadata import version

        return version("cuda-python")
    except Exception:  # not installed through pip, or no metadata: report, never crash
        return ""


def _cuda_version(value: int) -> str:
    return f"{value // 1000}.{value % 1000 // 10}"


def _ask(call) -> tuple[Any, str]:
    """(value, "") of a cuda-python call returning (err, value), or (None, error name)."""
    err, value = call()
    code = int(getattr(err, "value", err))
    return (value, "") if code == 0 else (None, str(getattr(err, "name", code)))


def check_cuda_runtime(cudart: Any = None, bindings: str | None = None, l4t=None) -> Finding:
    """Ask the CUDA runtime for devices, driver and runtime versions, and say which cuda-python
    to install when the bindings' CUDA major is newer than the driver's (or not the JetPack's).
    ``cudart``, ``bindings`` and ``l4t`` default to this machine's."""
    from edgedg_runtime.cuda_buffers import CUDA_PYTHON_PINS, cuda_runtime
    from edgedg_runtime.errors import EdgeDGError

    if cudart is None:
        try:
            cudart = cuda_runtime()
        except EdgeDGError as exc:
            return Finding("cuda-python", False, detail="not importable", fix=str(exc))
        bindings = _bindings_version() if bindings is None else bindings
        l4t = board.l4t_release()
    driver, _ = _ask(cudart.cudaDriverGetVersion)
    runtime, _ = _ask(cudart.cudaRuntimeGetVersion)
    devices, count_error = _ask(cudart.cudaGetDeviceCount)
    want = _L4T_CUDA.get(l4t[0]) if l4t else None
    if want is None and driver:
        want = min(driver // 1000, max(CUDA_PYTHON_PINS))
    have = int(bindings.split(".")[0]) if bindings and bindings[0].isdigit() else None
    parts = [f"driver CUDA {_cuda_version(driver)}" if driver else "no CUDA driver"]
    if runtime:
        parts.append(f"runtime {_cuda_version(runtime)}")
    parts.append(count_error or (f"{devices} device(s)" if devices else "no CUDA device"))
    detail = ", ".join(parts)
    fix = ""
    if want is not None and have is not None and (have > want or (l4t and have != want)):
        fix = f"these bindings are for CUDA {have}: pip install '{CUDA_PYTHON_PINS[want]}'"
    elif not driver:
        fix = "install the NVIDIA driver (on Jetson it comes with JetPack)"
    elif count_error or not devices:
        fix = "no usable GPU: check the driver (nvidia-smi; on Jetson, JetPack)"
    ok = not fix and not count_error and bool(devices)
    if count_error and want is not None and not fix.startswith("these"):
        fix = f"{fix}; cuda-python matching the driver: pip install '{CUDA_PYTHON_PINS[want]}'"
    return Finding("cuda-python", ok, bindings or "", detail, fix)


def check_opencv() -> Finding:
    cv2, err = _import("cv2")
    if cv2 is None:
        return Finding("opencv", False, detail=err, fix=f"pip install '{RUNTIME}[camera]'")
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
    check_onnxruntime,
    check_tensorrt,
    check_cuda_runtime,
    check_opencv,
    check_board,
)


def run_checks(checks: Sequence[Callable[[], Finding]] = CHECKS) -> list[Finding]:
    """Every check; a check that fails unexpectedly becomes a finding, never an exception."""
    findings = []
    for check in checks:
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
