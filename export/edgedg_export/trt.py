"""`edgedg export --trt`: the model directory's TensorRT engines, built by the runtime's builder.

The builder is ``edgedg_runtime.engine_build`` (TensorRT alone, files of the model directory
only), so an engine built here is found by the runtime under the same key, and a vehicle without
this package builds the same engine on first use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edgedg_runtime.engine_build import GRAPHS, BuildOptions, engines_for, import_tensorrt

__all__ = ["GRAPHS", "EngineOptions", "build_engines", "import_tensorrt"]


@dataclass(frozen=True)
class EngineOptions:
    """`edgedg export --trt` options: precision, workspace limit in MiB, timing cache file."""

    precision: str = "fp32"
    workspace_mib: int | None = None
    timing_cache: str | None = None


def build_engines(model_dir: str | os.PathLike, options: EngineOptions) -> dict[str, Path]:
    """Engines for style, segment and plain of a model directory, into MODEL_DIR/engines."""
    build = BuildOptions(options.workspace_mib, options.timing_cache)
    return engines_for(model_dir, options.precision, build)
