"""Markers gpu / trt / camera skip cleanly when the hardware or package is absent."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

_CUDA_PROBES = {  # module -> code that prints True when it sees a CUDA GPU
    "torch": "import torch; print(torch.cuda.is_available())",
    "cuda": (  # cuda-python: the runtime-only venv of a vehicle has no torch
        "from edgedg_runtime.cuda_buffers import cuda_call, cuda_runtime\n"
        "print(cuda_call(cuda_runtime().cudaGetDeviceCount()) > 0)"
    ),
}


def _has_cuda() -> bool:
    """torch or cuda-python sees a CUDA GPU. Asked in a subprocess: collecting the runtime's
    tests (some are marked gpu) must not import torch or initialise CUDA in this process."""
    for module, code in _CUDA_PROBES.items():
        if importlib.util.find_spec(module) is None:
            continue
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.stdout.strip() == "True":
            return True
    return False


def _has_trt() -> bool:
    return importlib.util.find_spec("tensorrt") is not None and _has_cuda_runtime()


def _has_cuda_runtime() -> bool:
    return importlib.util.find_spec("cuda") is not None or _has_cuda()


def _has_camera() -> bool:
    return os.path.exists("/dev/video0")


_REQUIREMENTS = {
    "gpu": (_has_cuda, "needs a CUDA GPU"),
    "trt": (_has_trt, "needs TensorRT and a CUDA GPU"),
    "camera": (_has_camera, "needs a camera at /dev/video0"),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    cache: dict[str, bool] = {}
    for item in items:
        for marker, (probe, why) in _REQUIREMENTS.items():
            if marker in item.keywords:
                if marker not in cache:
                    cache[marker] = probe()
                if not cache[marker]:
                    item.add_marker(pytest.mark.skip(reason=why))


# Shared by the runtime's stream and trust tests (torch-free: they run in .venv-runtime too).
@pytest.fixture
def tiny_model(tmp_path):
    """A private copy of the committed tiny model directory, safe to alter."""
    from _runtime_helpers import copy_tiny_model

    return copy_tiny_model(tmp_path)


@pytest.fixture(scope="module")
def frames_dir(tmp_path_factory) -> str:
    """A folder of 12 synthetic 48x96 PNG frames (an image-folder source)."""
    from _runtime_helpers import write_frames

    return write_frames(tmp_path_factory.mktemp("frames"))
