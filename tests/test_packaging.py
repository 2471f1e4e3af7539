"""The two distributions: edgedg-runtime (runtime/, what a vehicle installs) and edgedg (the
training box, which depends on it). The extras a device installs: the Jetson one pulls no OpenCV
and no tensorrt (JetPack's own builds must not be shadowed) and every cuda-python is pinned to one
CUDA major. One version for both, and a constraints file that pins what the tests ran against."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
RUNTIME_PYPROJECT = ROOT / "runtime" / "pyproject.toml"


def _project(path: Path) -> dict:
    return tomllib.loads(path.read_text())["project"]


def _extras() -> dict:
    return _project(RUNTIME_PYPROJECT)["optional-dependencies"]


def test_jetson_extra_leaves_opencv_and_tensorrt_to_jetpack() -> None:
    jetson = _extras()["jetson"]
    names = [re.split(r"[<>=;\[ ]", r, maxsplit=1)[0] for r in jetson]
    assert not [n for n in names if "opencv" in n or n.startswith("tensorrt")]
    markers = [r.split(";", 1)[1].strip() for r in jetson if r.startswith("cuda-python")]
    assert len(markers) == 3  # one pin per JetPack Python (3.8, 3.10, 3.12)


def test_every_cuda_python_is_pinned_to_one_cuda_major() -> None:
    pins = [r for reqs in _extras().values() for r in reqs if r.startswith("cuda-python")]
    assert pins
    for pin in pins:
        spec = pin.split(";")[0]
        low = re.search(r">=(\d+)", spec)
        high = re.search(r"<(\d+)", spec)
        assert low and high and int(high.group(1)) == int(low.group(1)) + 1, pin


def test_runtime_distribution_needs_numpy_only():
    runtime = _project(RUNTIME_PYPROJECT)
    assert runtime["name"] == "edgedg-runtime"
    assert runtime["dependencies"] == ["numpy>=1.21"]
    assert runtime["requires-python"] == ">=3.8"  # JetPack 5


def test_one_version_for_both_distributions():
    init = (ROOT / "runtime" / "edgedg_runtime" / "__init__.py").read_text()
    runtime_version = re.search(r'__version__ = "([^"]+)"', init).group(1)
    edgedg = _project(PYPROJECT)
    assert edgedg["version"] == runtime_version
    assert f"edgedg-runtime=={runtime_version}" in edgedg["dependencies"]


def test_constraints_pin_every_package_once():
    lines = [
        line.split("#")[0].strip()
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    names = [re.split("==", line)[0].lower().replace("_", "-") for line in lines]
    assert all("==" in line for line in lines)
    assert len(names) == len(set(names))
    for needed in ("torch", "onnxruntime", "opencv-python-headless", "numpy", "pytest", "pip"):
        assert needed in names, needed
    assert "edgedg" not in names and "edgedg-runtime" not in names
