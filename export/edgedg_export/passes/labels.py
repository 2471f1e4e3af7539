"""Pass: `logits` [N, K, H, W] -> `labels` [N, H, W] (ArgMax over classes, uint8 or int32).

uint8 labels go ArgMax -> Cast FLOAT -> Cast UINT8: TensorRT 8.5 and 8.6 convert to UINT8 only
from FLOAT/HALF (onnx-tensorrt 8.5's Cast importer; TensorRT 8.6's DataType.UINT8 docs), and
ArgMax yields INT32 inside TensorRT. A class index below 256 is exact in float32, so the detour
changes no label. The model already upsamples to the input size; `logits` stays an output only
when asked.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from edgedg_export.passes._graph import op

LOGITS, LABELS = "logits", "labels"
LABEL_DTYPES = {
    "uint8": (np.uint8, onnx.TensorProto.UINT8),
    "int32": (np.int32, onnx.TensorProto.INT32),
}


def add_labels(
    model: onnx.ModelProto, labels_dtype: str = "uint8", keep_logits: bool = False
) -> onnx.ModelProto:
    """Add the `labels` output after `logits`; drop `logits` unless ``keep_logits``.

    uint8 labels need at most 256 classes (module docstring); int32 holds any number."""
    if labels_dtype not in LABEL_DTYPES:
        raise ValueError(
            f"labels_dtype must be one of {sorted(LABEL_DTYPES)}, got {labels_dtype!r}"
        )
    graph = gs.import_onnx(model)
    (logits,) = [t for t in graph.outputs if t.name == LOGITS]
    np_dtype, onnx_dtype = LABEL_DTYPES[labels_dtype]
    index = op(graph, "ArgMax", "post/argmax", [logits], {"axis": 1, "keepdims": 0})
    shape = None if logits.shape is None else (logits.shape[0], *logits.shape[2:])
    if labels_dtype == "uint8":  # INT32 -> UINT8 is refused by TensorRT 8.5/8.6: go via FLOAT
        index = op(graph, "Cast", "post/cast_float", [index], {"to": onnx.TensorProto.FLOAT})
    labels = gs.Variable(LABELS, dtype=np_dtype, shape=shape)
    graph.nodes.append(gs.Node("Cast", "post/cast", {"to": onnx_dtype}, [index], [labels]))
    kept = [t for t in graph.outputs if keep_logits or t is not logits]
    graph.outputs = [labels] + kept
    graph.cleanup().toposort()
    return gs.export_onnx(graph)
