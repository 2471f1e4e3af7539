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


def test_every_runtime_file_parses_as_python38():
    """Every .py under runtime/ (this checkout's, not an installed copy) is Python 3.8 syntax,
    JetPack 5's Python, and defers its annotations (``int | None`` is not evaluated on 3.8)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "runtime"
    files = sorted(root.rglob("*.py"))
    assert len(files) > 10
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path), feature_version=(3, 8))
        deferred = any(
            isinstance(node, ast.ImportFrom)
            and node.module == "__future__"
            and any(a.name == "annotations" for a in node.names)
            for node in tree.body
        )
        assert deferred, f"{path.relative_to(root)} lacks `from __future__ import annotations`"


RUNTIME_ONLY = "EDGEDG_RUNTIME_ONLY"


@pytest.mark.skipif(not os.environ.get(RUNTIME_ONLY), reason=f"{RUNTIME_ONLY} is not set")
def test_runtime_only_environment_has_no_training_or_export_packages():
    """`make test-runtime` sets EDGEDG_RUNTIME_ONLY=1: this run must not see torch (or onnx,
    which only the export extra brings), nor edgedg / edgedg_export (the runtime distribution is
    installed alone, and the repository root is not on the import path), so every test that
    passed here passes without them."""
    present = [
        m
        for m in ("torch", "torchvision", "onnx", "edgedg", "edgedg_export")
        if importlib.util.find_spec(m)
    ]
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


FORBIDDEN = ("edgedg", "edgedg_export", "torch", "onnx", "onnx_graphsurgeon")


def _imported_modules(tree) -> list:
    import ast

    names = []
    for node in ast.walk(tree):  # every import, at module level or inside a function
        if isinstance(node, ast.Import):
            names += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append((node.module, node.lineno))
    return names


def test_no_runtime_file_imports_training_or_export_packages():
    """Nothing under runtime/ imports edgedg, edgedg_export, torch, onnx or graphsurgeon, not
    even inside a function (which the subprocess import test above cannot see)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "runtime"
    files = sorted(root.rglob("*.py"))
    assert len(files) > 10
    bad = []
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        for name, line in _imported_modules(tree):
            if name.split(".")[0] in FORBIDDEN:
                bad.append(f"{path.relative_to(root)}:{line} imports {name}")
    assert bad == []


def test_engine_builder_imports_without_tensorrt_and_says_what_to_install(monkeypatch, tmp_path):
    """Where only the runtime's extras are installed the builder module imports (no onnx, no
    export package); asking it for an engine without TensorRT is a MissingDependencyError."""
    import shutil
    import sys
    from pathlib import Path

    from edgedg_runtime import engine_build
    from edgedg_runtime.errors import MissingDependencyError

    code = "import sys, edgedg_runtime.engine_build\nprint('onnx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assets = Path(__file__).resolve().parent / "assets" / "tiny_model"
    model = tmp_path / "model"
    shutil.copytree(assets, model)
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(MissingDependencyError, match="python3-libnvinfer"):
        engine_build.engine_for(model, "fp16", "segment")
