"""The extras a device installs: the Jetson one pulls no OpenCV and no tensorrt (JetPack's own
builds must not be shadowed) and every cuda-python is pinned to one CUDA major."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _extras() -> dict:
    return tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]


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
