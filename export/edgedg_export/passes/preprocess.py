"""Pass: the graph's float NCHW input -> `image`, uint8 (or float32) BGR NHWC as OpenCV gives it.

    image [N, H, W, 3] -> Cast float32 -> Transpose NCHW -> Gather channels BGR->RGB
          -> x * 1/(255 std) + (-mean/std)  -> the model's normalised input

mean and std are RGB on the 0..1 scale; the two per-channel constants fold /255 and mean/std.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from edgedg_export.passes._graph import const, op

IMAGE = "image"
IO_DTYPES = {"uint8": np.uint8, "float": np.float32, "float32": np.float32}


def add_preprocessing(
    model: onnx.ModelProto, mean: Sequence[float], std: Sequence[float], io: str = "uint8"
) -> onnx.ModelProto:
    """Replace the single float [N, 3, H, W] input by `image` [N, H, W, 3] BGR of dtype ``io``
    ("uint8", or "float" holding 0..255 values for targets without uint8 I/O)."""
    if io not in IO_DTYPES:
        raise ValueError(f"io must be one of {sorted(IO_DTYPES)}, got {io!r}")
    graph = gs.import_onnx(model)
    (old,) = [t for t in graph.inputs if t.name not in ("norm_prior", "batch_mix")]
    n, _, h, w = old.shape
    image = gs.Variable(IMAGE, dtype=IO_DTYPES[io], shape=(n, h, w, 3))
    x = (
        op(graph, "Cast", "pre/cast", [image], {"to": onnx.TensorProto.FLOAT})
        if io == "uint8"
        else image
    )
    nchw = op(graph, "Transpose", "pre/nchw", [x], {"perm": [0, 3, 1, 2]})
    index = const("pre/rgb_index", np.int64([2, 1, 0]))
    rgb = op(graph, "Gather", "pre/bgr_to_rgb", [nchw, index], {"axis": 1})
    scale, shift = _affine(mean, std)
    scaled = op(graph, "Mul", "pre/scale", [rgb, const("pre/scale_c", scale)])
    shift_c = const("pre/shift_c", shift)
    graph.nodes.append(gs.Node("Add", "pre/shift", inputs=[scaled, shift_c], outputs=[old]))
    graph.inputs = [image] + [t for t in graph.inputs if t is not old]
    graph.cleanup().toposort()
    return gs.export_onnx(graph)


def _affine(mean: Sequence[float], std: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(1 / (255 std), -mean / std) as float32 [1, 3, 1, 1] in RGB order."""
    m = np.asarray(mean, np.float64).reshape(1, 3, 1, 1)
    s = np.asarray(std, np.float64).reshape(1, 3, 1, 1)
    return (1.0 / (255.0 * s)).astype(np.float32), (-m / s).astype(np.float32)
