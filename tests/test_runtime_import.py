"""`import edgedg_runtime` (and its light modules) loads no torch, cv2, tensorrt or onnxruntime."""

from __future__ import annotations

import subprocess
import sys

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
