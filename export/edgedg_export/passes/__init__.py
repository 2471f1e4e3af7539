"""ONNX graph-surgery passes, one per module, each ModelProto -> ModelProto.

Every pass has the same shape: import the graph with onnx-graphsurgeon, edit it with named
helpers, clean up and sort it, export it.
"""

from edgedg_export.passes.labels import add_labels
from edgedg_export.passes.preprocess import add_preprocessing
from edgedg_export.passes.unfold_batchnorm import unfold_batchnorm

__all__ = ["add_labels", "add_preprocessing", "unfold_batchnorm"]
