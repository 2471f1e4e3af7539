"""`import edgedg_runtime` (and its light modules) loads no torch, cv2, tensorrt or onnxruntime."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "cv2", "tensorrt", "onnxruntime", "edgedg", "edgedg_export")


def test_runtime_import_is_light():
    code = (
        "import sys, edgedg_runtime, edgedg_runtime.backends, edgedg_runtime.stream, "
        "edgedg_runtime.benchmark, edgedg_runtime.sources, edgedg_runtime.visualize\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_segmenter_module_is_torch_free():
    code = (
        "import sys, edgedg_runtime.segmenter, edgedg_runtime.backends.trt\n"
        "print(','.join(m for m in ('torch', 'edgedg', 'edgedg_export', 'tensorrt') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_runtime_sources_parse_as_python38():
    import ast
    from pathlib import Path

    import edgedg_runtime

    root = Path(edgedg_runtime.__file__).parent
    mine = ["segmenter.py", "sources.py", "visualize.py", "stream.py", "benchmark.py"]
    files = [root / f for f in mine] + sorted((root / "backends").glob("*.py"))
    for path in files:
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 8))


RUNTIME_ONLY = "EDGEDG_RUNTIME_ONLY"


@pytest.mark.skipif(not os.environ.get(RUNTIME_ONLY), reason=f"{RUNTIME_ONLY} is not set")
def test_runtime_only_environment_has_no_training_or_export_packages():
    """`make test-runtime` sets EDGEDG_RUNTIME_ONLY=1: this run must not see torch (or onnx,
    which only the export extra brings), so every test that passed here passes without them."""
    present = [m for m in ("torch", "torchvision", "onnx") if importlib.util.find_spec(m)]
    assert present == [], f"the runtime-only environment has {present}: recreate .venv-runtime"
    assert importlib.util.find_spec("onnxruntime") is not None  # the ort extra is there


def test_collecting_the_runtime_tests_imports_no_torch_or_edgedg():
    """The runtime's test files import torch / edgedg only inside the tests that need them, so
    they collect (and skip those parts) where only the runtime's extras are installed."""
    from pathlib import Path

    here = Path(__file__).resolve().parent
    files = sorted(str(p) for p in here.glob("test_runtime_*.py"))
    code = (
        "import sys, pytest\n"
        f"rc = pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider', *{files!r}])\n"
        "print('LOADED=' + ','.join(m for m in ('torch', 'edgedg', 'edgedg_export', 'onnx') "
        "if m in sys.modules))\n"
        "sys.exit(int(rc))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=here.parent
    )
    assert out.returncode == 0, out.stdout[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "LOADED="
